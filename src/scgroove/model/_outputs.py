"""Every per-cell output of a trained model: latents, translations, reconstructions, matches, imputations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
import torch
from anndata import AnnData
from mudata import MuData

from scgroove._constants import BATCH_KEYS, LABELS_KEYS, RESULT_KEYS, X_KEYS
from scgroove._results import (
    check_imputation_size,
    feature_positions,
    groove_uns,
    stored_coupling,
    transport_features,
    write_coupling,
    write_imputation,
)
from scgroove.align import Coupling, split_params
from scgroove.align._api import align_within_strata
from scgroove.model._batching import rows_as_tensor
from scgroove.model._guide import PRIOR_SHARE, structure_prior
from scgroove.model._screen import alignment_labels


class ModelOutputsMixin:
    """Methods of :class:`scgroove.GROOVE` (and its baselines) that read a trained model's outputs.

    Data flows one way: registered data -> latents (in memory) -> coupling -> MuData. Labels are
    the registered codes the model trained on, never re-read from ``obs``.
    """

    # -- helpers --------------------------------------------------------------------------------
    def _modality_index(self, modality: str) -> int:
        if modality not in self.modalities:
            raise KeyError(f"Unknown modality {modality!r}; this model was set up with {self.modalities}.")
        return self.modalities.index(modality) + 1

    def _label_categories(self) -> np.ndarray:
        """The registered label categories (one list for both modalities), from the registry."""
        state = self.registry_["field_registries"][LABELS_KEYS[1]]["state_registry"]
        return np.asarray(state["categorical_mapping"]).astype(str)

    def _registered_labels(self, mdata: MuData, modality: str) -> np.ndarray:
        """Each cell's label as registered at set-up (codes mapped back to their names; ``None``: unlabeled)."""
        codes = self.get_anndata_manager(mdata, required=True).get_from_registry(
            LABELS_KEYS[self._modality_index(modality)]
        )
        return alignment_labels(self._label_categories(), codes)

    def _registered_batches(self, mdata: MuData, modality: str) -> np.ndarray | None:
        """Each cell's batch covariate code (``None`` when the model has no batch covariate)."""
        manager = self.get_anndata_manager(mdata, required=True)
        key = BATCH_KEYS[self._modality_index(modality)]
        if key not in manager.data_registry:
            return None
        return np.asarray(manager.get_from_registry(key)).reshape(-1)

    @staticmethod
    def _rows(codes: np.ndarray | None, start: int, stop: int) -> torch.Tensor | None:
        return None if codes is None else torch.as_tensor(codes[start:stop], dtype=torch.long)

    # -- latents and decoding -------------------------------------------------------------------
    @torch.inference_mode()
    def get_latent_representation(
        self, mdata: MuData | None = None, modality: str | None = None, batch_size: int = 1024
    ) -> np.ndarray | dict[str, np.ndarray]:
        """Shared-space coordinates of the cells of one modality (or of both).

        Parameters
        ----------
        mdata
            MuData to embed; default: the one the model was set up with. New (query) MuData is
            set up with the model's registry on the fly (same features, same modalities).
        modality
            Modality name; ``None`` returns ``{modality: latent}`` for both.
        batch_size
            Cells encoded at a time (sparse rows are densified one batch at a time).

        Returns
        -------
        ``(n_cells_of_modality, n_latent)`` array, rows in the modality's order.
        """
        mdata = self._validate_anndata(mdata)
        if modality is None:
            return {m: self.get_latent_representation(mdata, m, batch_size) for m in self.modalities}
        index = self._modality_index(modality)
        matrix = self.get_anndata_manager(mdata, required=True).get_from_registry(X_KEYS[index])
        batches = self._registered_batches(mdata, modality)
        self.module.eval()
        chunks = []
        for start in range(0, matrix.shape[0], batch_size):
            stop = min(start + batch_size, matrix.shape[0])
            x = rows_as_tensor(matrix, np.arange(start, stop))
            chunks.append(self.module.encode(x, index, self._rows(batches, start, stop)).cpu().numpy())
        return np.concatenate(chunks).astype(np.float32)

    def write_latent(
        self, mdata: MuData | None = None, key_added: str = RESULT_KEYS.LATENT, batch_size: int = 1024
    ) -> None:
        """Write each modality's latent to ``mdata[m].obsm[key_added]``.

        Usable with scanpy, e.g. ``sc.pp.neighbors(mdata["rna"], use_rep="X_groove")``.

        Writes
        ------
        ``mdata[m].obsm[key_added]`` for both modalities, and
        ``mdata.uns["groove"]["latent"] = {"key_added": key_added, "n_latent": ..., "modalities": [...]}``.
        """
        mdata = self._validate_anndata(mdata)
        for modality, latent in self.get_latent_representation(mdata, None, batch_size).items():
            mdata.mod[modality].obsm[key_added] = latent
        uns = groove_uns(mdata)
        uns["latent"] = {"key_added": key_added, "n_latent": self.module.n_latent, "modalities": list(self.modalities)}

    @torch.inference_mode()
    def get_translation(
        self,
        source: str,
        target: str,
        mdata: MuData | None = None,
        batch_size: int = 1024,
        library_size: float | Literal["typical"] = "typical",
    ) -> pd.DataFrame:
        """Decode the cells of ``source`` into ``target``'s features: ``D_target(E_source(x))``.

        Parameters
        ----------
        source, target
            Modality names.
        mdata
            Default: the model's MuData.
        batch_size
            Cells at a time.
        library_size
            For an ``"nb"`` target: counts are the decoded proportions times this library size;
            ``"typical"`` uses the median library of the target's registered cells.

        With batch covariates each source cell is decoded in its own batch.

        Returns
        -------
        DataFrame ``(n_source_cells, n_target_features)`` indexed by source obs names with target
        var names as columns.
        """
        mdata = self._validate_anndata(mdata)
        latent = self.get_latent_representation(mdata, source, batch_size)
        t = self._modality_index(target)
        library = None if library_size == "typical" else torch.tensor(float(library_size))
        batches = self._registered_batches(mdata, source)
        self.module.eval()
        decoded = [
            self.module.decoded_mean(
                torch.as_tensor(latent[s : s + batch_size]), t, library, self._rows(batches, s, s + batch_size)
            )
            .cpu()
            .numpy()
            for s in range(0, latent.shape[0], batch_size)
        ]
        return pd.DataFrame(
            np.concatenate(decoded),
            index=mdata.mod[source].obs_names.copy(),
            columns=mdata.mod[target].var_names.copy(),
        )

    @torch.inference_mode()
    def get_reconstruction(self, modality: str, mdata: MuData | None = None, batch_size: int = 1024) -> np.ndarray:
        """Denoised features: each cell decoded from its own latent, in the data's units.

        Counts (``"nb"``) keep each cell's observed library size.
        """
        mdata = self._validate_anndata(mdata)
        index = self._modality_index(modality)
        matrix = self.get_anndata_manager(mdata, required=True).get_from_registry(X_KEYS[index])
        batches = self._registered_batches(mdata, modality)
        self.module.eval()
        out = []
        for start in range(0, matrix.shape[0], batch_size):
            stop = min(start + batch_size, matrix.shape[0])
            x = rows_as_tensor(matrix, np.arange(start, stop))
            batch = self._rows(batches, start, stop)
            z = self.module.encode(x, index, batch)
            out.append(self.module.decoded_mean(z, index, x.sum(1), batch).cpu().numpy())
        return np.concatenate(out).astype(np.float32)

    def write_denoised(
        self,
        mdata: MuData | None = None,
        modalities: list[str] | None = None,
        layer: str = RESULT_KEYS.DENOISED_LAYER,
        max_bytes: int = 2**30,
    ) -> None:
        """Write :meth:`get_reconstruction` to ``mdata[m].layers[layer]`` (dense, cells x features).

        Parameters
        ----------
        mdata
            Default: the model's MuData.
        modalities
            Default: both.
        layer
            Layer name, default ``"groove_denoised"``.
        max_bytes
            Largest dense layer (float32) written; larger ones are refused before anything is
            computed (1 GiB by default): use :meth:`get_reconstruction` on a subset of cells.
        """
        mdata = self._validate_anndata(mdata)
        modalities = modalities or list(self.modalities)
        for modality in modalities:
            size = mdata.mod[modality].n_obs * mdata.mod[modality].n_vars * 4
            if size > max_bytes:
                raise ValueError(
                    f"A dense denoised layer of {modality!r} takes {size / 2**30:.1f} GiB (max_bytes "
                    f"{max_bytes / 2**30:.1f} GiB): use get_reconstruction on a subset of cells, or raise max_bytes."
                )
        for modality in modalities:
            mdata.mod[modality].layers[layer] = self.get_reconstruction(modality, mdata)

    # -- matching and imputation ----------------------------------------------------------------
    def align(
        self,
        method: str = "labeled_ot",
        mdata: MuData | None = None,
        key_added: str = "coupling",
        batch_size: int = 1024,
        top_k: int | Literal["auto"] | None = "auto",
        within_batch: bool = True,
        prior_share: float | None = None,
        max_block_cells: int | Literal["auto"] | None = "auto",
        **params,
    ) -> Coupling:
        """Match the cells of the two modalities with an aligner on the model's latents.

        The latents are computed in memory (write them with :meth:`write_latent`); the labels are
        the ones registered at set-up. A guided model (``contrast="guided"``, the default) keeps
        a structure prior from training (:func:`~scgroove.model.structure_prior`: each
        modality's PCA matched through one linear map fitted on all cells to the structure
        guide): the returned coupling is ``(1 - prior_share)`` times the aligner's coupling on
        the latent plus ``prior_share`` times the prior (:meth:`Coupling.mixed_with
        <scgroove.align.Coupling.mixed_with>`).

        Parameters
        ----------
        method
            Any method of :func:`scgroove.align.align`; labeled methods use the perturbation labels.
            ``"soft_labeled_ot"`` lets a cell's mass leave its label at a cost (``label_penalty``),
            for screens whose guide calls are sometimes wrong.
            For ``"labeled_fgw"``, pass ``structure1``/``structure2`` (e.g. each modality's PCA) to
            fuse the latent cost with each modality's own geometry.
        mdata
            Default: the model's MuData.
        key_added
            Key under ``mdata.uns["groove"]``.
        batch_size
            Cells encoded at a time.
        top_k
            Keep only each modality-1 cell's ``top_k`` largest entries (:meth:`Coupling.top_k
            <scgroove.align.Coupling.top_k>`): the stored coupling then has at most ``n1 * top_k``
            entries instead of the label blocks' sizes (10^8 for one 10k x 10k control block);
            the mass this moves is in ``info["top_k_mass_moved"]``. ``"auto"`` (default) does so
            at 50 per cell only for a coupling of more than 10^7 entries
            (:meth:`Coupling.cap_entries <scgroove.align.Coupling.cap_entries>`); ``None`` keeps
            every entry.
        within_batch
            With a batch covariate (``setup_mudata(batch_key=...)``, shared by both modalities,
            e.g. the donor): match each cell only to cells of its own batch, i.e. labeled methods
            couple within (label, batch) blocks, all named by the label. A cell's true partner
            has its donor, so this only removes wrong matches; ``False`` matches across batches.
            With ``"soft_labeled_ot"`` the (label, batch) block is what mass may leave, at the
            same penalty whether it crosses a label or a batch.
        prior_share
            Share of the coupling's mass taken from the structure prior (0 to 1). Default
            (``None``): :data:`~scgroove.model.PRIOR_SHARE` (0.75) for a guided model with
            ``method="labeled_ot"`` (where it was measured), 0 otherwise (other aligners, e.g.
            ``"soft_labeled_ot"``, whose off-label mass the within-label prior would dilute;
            ``off_label_share`` is always the aligner's own); 0 gives the latent's coupling alone.
            The prior is the one the last :meth:`train` kept (:attr:`prior_`, saved with the
            model); for other ``mdata``, or with ``within_batch=False``, it is recomputed there
            (across batches for the latter).
            Why a prior: on real data the latent alone misses within-label structure that one
            linear map pooled over all labels keeps; the mixture matched better than the latent
            alone on every coarse-group real set, the real screen and the simulations, and as
            well as or better than the prior alone (within 0.0004 on the CITE-seq sets, better on
            the screen and the simulations; ``benchmarks/results/coarse_real/``).
        max_block_cells
            For aligners that take it (labeled OT/GW/FGW, ``per_label_gw``, ``soft_labeled_ot``):
            labels with more cells than this in a modality (the control group of a large screen)
            are matched within random parts of at most this many cells, so their cost grows
            linearly with their size, not with its square (:func:`~scgroove.align.labeled_ot`).
            ``"auto"`` (default): :data:`~scgroove.align.AUTO_MAX_BLOCK_CELLS` (2000, the split
            the structure guide and prior already use; labels of at most 2000 cells are matched
            exactly); ``None``: every label exact.
        **params
            Passed to the aligner (``epsilon``, ``max_iter``, ``tol``, ...; ``backend="ray"`` for
            ``labeled_ot`` solves the label blocks as Ray tasks, see :func:`~scgroove.align.labeled_ot`).

        Returns
        -------
        The :class:`~scgroove.align.Coupling` (rows: modality 1, columns: modality 2).

        Writes
        ------
        ``mdata.uns["groove"][key_added]`` = :meth:`Coupling.to_uns <scgroove.align.Coupling.to_uns>`
        plus ``"modalities"``, and ``mdata.uns["groove"]["perturbation_key"]``. Cells whose label
        is absent from the other modality get no mass (no partner). With
        ``method="soft_labeled_ot"`` also ``mdata[m].obs["groove_off_label_share"]`` for both
        modalities: each cell's share of its mass matched to cells of another label
        (:meth:`Coupling.off_label_share <scgroove.align.Coupling.off_label_share>`); high values
        flag cells whose label is unlikely given their state.
        """
        Coupling.check_top_k(top_k)
        params.update(split_params(method, max_block_cells))
        share = self.prior_share(prior_share, method)
        own_data = mdata is None or mdata is self.adata
        mdata = self._validate_anndata(mdata)
        m1, m2 = self.modalities
        latents = self.get_latent_representation(mdata, None, batch_size)
        labels = [self._registered_labels(mdata, m) for m in (m1, m2)]
        strata = [self._registered_batches(mdata, m) if within_batch else None for m in (m1, m2)]
        coupling = align_within_strata(
            latents[m1], latents[m2], *labels, *strata, method=method, names=(m1, m2), **params
        )
        if coupling.method == "soft_labeled_ot":  # the matcher's own doubt about each cell's label
            for modality, off_label in zip((m1, m2), coupling.off_label_share(*labels), strict=True):
                mdata.mod[modality].obs[RESULT_KEYS.OFF_LABEL_SHARE] = off_label
        if share > 0:
            kept = own_data and within_batch and self.prior_ is not None
            prior = self.prior_ if kept else structure_prior(self, mdata=mdata, within_batch=within_batch)
            coupling = coupling.mixed_with(prior, weight=share)
        coupling = coupling.cap_entries(top_k)
        write_coupling(mdata, coupling, (m1, m2), self.registry_["setup_args"]["perturbation_key"], key_added)
        return coupling

    def prior_share(self, prior_share: float | None = None, method: str = "labeled_ot") -> float:
        """The structure prior's share of the coupling :meth:`align` returns for ``prior_share`` and ``method``.

        ``None``: :data:`~scgroove.model.PRIOR_SHARE` for a guided model (``contrast="guided"``)
        aligned with ``"labeled_ot"`` (where it was measured), 0 otherwise; a number in ``[0, 1]``
        is itself; anything else raises ``ValueError``.
        """
        Coupling.check_weight(prior_share, "prior_share", allow_none=True)
        if prior_share is None:
            guided = getattr(self.module, "needs_guide", False)
            return PRIOR_SHARE if guided and method == "labeled_ot" else 0.0
        return float(prior_share)

    def impute(
        self,
        source: str,
        target: str,
        method: Literal["coupling", "decoder"] = "coupling",
        mdata: MuData | None = None,
        coupling: Coupling | None = None,
        coupling_key: str = "coupling",
        target_layer: str | None = None,
        features: Sequence[str] | None = None,
        output: Literal["obsm", "anndata"] = "obsm",
        max_obsm_bytes: int = 2**28,
        batch_size: int = 1024,
    ) -> pd.DataFrame | AnnData:
        """Impute ``target``'s features for the cells of ``source``.

        Parameters
        ----------
        source, target
            Modality names.
        method
            ``"coupling"``: barycentric transport (:meth:`Coupling.pull <scgroove.align.Coupling.pull>`),
            each source cell gets the coupling-weighted mean of its matched target cells' measured
            features (cells without mass get NaN); ``"decoder"``: cross-modal decoding
            ``D_target(E_source(x))`` (counts at the target's typical library size).
        mdata
            Default: the model's MuData.
        coupling
            Coupling to use with ``method="coupling"``; default the one stored under
            ``mdata.uns["groove"][coupling_key]`` by :meth:`align` (an error if there is none).
        coupling_key
            Where a stored coupling is read.
        target_layer
            Target features to transport with ``method="coupling"``: a layer of ``mdata[target]``
            (default: the registered data).
        features
            Impute only these target features (default: all).
        output
            ``"obsm"``: a DataFrame written to ``mdata[source].obsm["groove_imputed_<target>"]``,
            for small feature sets (refused beyond ``max_obsm_bytes``); ``"anndata"``: an AnnData
            ``(source cells x target features)`` returned and not written, to add as a modality
            (``mdata.mod["protein_imputed"] = adata``) or write to disk. Transport reads the
            target in row chunks when it is backed; decoding goes ``batch_size`` cells at a time.
        max_obsm_bytes
            Largest imputation (float32) that ``output="obsm"`` writes; 256 MiB by default.
        batch_size
            Source cells decoded at a time (``method="decoder"``).

        Returns
        -------
        DataFrame ``(n_source_cells, n_features)`` (``output="obsm"``) or AnnData.

        Writes
        ------
        With ``output="obsm"``: ``mdata[source].obsm["groove_imputed_<target>"]``. Always:
        ``mdata.uns["groove"]["imputation"]["<source>_to_<target>"] = {"method", "output", ...}``.
        """
        mdata = self._validate_anndata(mdata)
        s, t = self._modality_index(source), self._modality_index(target)
        if s == t:
            raise ValueError("source and target must be different modalities.")
        if method not in ("coupling", "decoder"):
            raise ValueError(f"method must be 'coupling' or 'decoder', got {method!r}.")
        columns = feature_positions(mdata.mod[target].var_names, features, target)
        n_cells = mdata.mod[source].n_obs
        check_imputation_size(n_cells, len(columns), source, target, output, max_obsm_bytes)
        record = {"method": method}
        if method == "decoder":
            values = self.get_translation(source, target, mdata, batch_size).to_numpy()[:, columns]
        else:
            coupling = coupling if coupling is not None else stored_coupling(mdata, coupling_key)
            coupling = coupling if s == 1 else coupling.transpose()
            expected = (n_cells, mdata.mod[target].n_obs)
            if (coupling.n1, coupling.n2) != expected:
                raise ValueError(
                    f"Coupling of shape {(coupling.n1, coupling.n2)} does not fit {source!r} x {target!r} "
                    f"cells {expected}."
                )
            if target_layer is None:
                target_values = self.get_anndata_manager(mdata, required=True).get_from_registry(X_KEYS[t])
            else:
                target_values = mdata.mod[target].layers[target_layer]
            values = transport_features(coupling, target_values, columns)
            record["coupling_method"] = coupling.method
        return write_imputation(mdata, source, target, values, columns, output, record)

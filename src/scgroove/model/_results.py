"""Write-back of GROOVE results into the MuData: couplings, imputations, denoised data."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import torch
from mudata import MuData

from scgroove._constants import REGISTRY_KEYS, RESULT_KEYS
from scgroove._matrix import sparse_times
from scgroove.align import Coupling, align
from scgroove.model._batching import rows_as_tensor

_X = {1: REGISTRY_KEYS.X_1, 2: REGISTRY_KEYS.X_2}
_LABELS = {1: REGISTRY_KEYS.LABELS_1, 2: REGISTRY_KEYS.LABELS_2}


def _groove_uns(mdata: MuData) -> dict:
    return mdata.uns.setdefault(RESULT_KEYS.UNS, {})


class GROOVEResultsMixin:
    """Methods of :class:`scgroove.GROOVE` that turn latents into matches and imputations."""

    def _labels(self, mdata: MuData, modality: str) -> np.ndarray:
        return mdata.mod[modality].obs[self.registry_["setup_args"]["perturbation_key"]].astype(str).to_numpy()

    def align(
        self,
        method: str = "labeled_ot",
        mdata: MuData | None = None,
        key_added: str = "coupling",
        batch_size: int = 1024,
        **params,
    ) -> Coupling:
        """Match the cells of the two modalities with an aligner on the GROOVE latents.

        Parameters
        ----------
        method
            Any method of :func:`scgroove.align.align`; labeled methods use the perturbation labels.
            For ``"labeled_fgw"``, pass ``structure1``/``structure2`` (e.g. each modality's PCA) to
            fuse the latent cost with each modality's own geometry.
        mdata
            Default: the model's MuData.
        key_added
            Key under ``mdata.uns["groove"]``.
        batch_size
            Cells encoded at a time.
        **params
            Passed to the aligner (``epsilon``, ``max_iter``, ``tol``, ...).

        Returns
        -------
        The :class:`~scgroove.align.Coupling` (rows: modality 1, columns: modality 2).

        Writes
        ------
        ``mdata[m].obsm["X_groove"]`` for both modalities and ``mdata.uns["groove"][key_added]``
        = ``{"matrix": CSR (n1 x n2, total mass 1), "method", "params", "info", "modalities"}``,
        and ``mdata.uns["groove"]["perturbation_key"]``.
        Cells whose label is absent from the other modality get no mass (no partner).
        """
        mdata = self._validate_anndata(mdata)
        self.write_latent(mdata, batch_size=batch_size)
        m1, m2 = self.modalities
        coupling = align(
            mdata.mod[m1].obsm[RESULT_KEYS.LATENT],
            mdata.mod[m2].obsm[RESULT_KEYS.LATENT],
            self._labels(mdata, m1),
            self._labels(mdata, m2),
            method=method,
            **params,
        )
        stored = coupling.to_uns()
        stored["modalities"] = [m1, m2]
        uns = _groove_uns(mdata)
        uns[key_added] = stored
        uns["perturbation_key"] = self.registry_["setup_args"]["perturbation_key"]
        return coupling

    def _stored_coupling(self, mdata: MuData, key: str) -> Coupling | None:
        stored = mdata.uns.get(RESULT_KEYS.UNS, {}).get(key)
        return None if stored is None else Coupling.from_uns(stored)

    def impute(
        self,
        source: str,
        target: str,
        method: Literal["coupling", "decoder"] = "coupling",
        mdata: MuData | None = None,
        coupling: Coupling | None = None,
        coupling_key: str = "coupling",
        target_layer: str | None = None,
        batch_size: int = 1024,
    ) -> pd.DataFrame:
        """Impute ``target``'s features for the cells of ``source``.

        Parameters
        ----------
        source, target
            Modality names.
        method
            ``"coupling"``: barycentric transport, each source cell gets the coupling-weighted mean
            of its matched target cells' measured features (cells without mass get NaN);
            ``"decoder"``: cross-modal decoding ``D_target(E_source(x))`` (counts at the target's
            typical library size).
        mdata
            Default: the model's MuData.
        coupling
            Coupling to use with ``method="coupling"``; default the one stored under
            ``mdata.uns["groove"][coupling_key]``, else a new ``labeled_ot`` from :meth:`align`.
        coupling_key
            Where a stored coupling is read.
        target_layer
            Target features to transport with ``method="coupling"``: a layer of ``mdata[target]``
            (default: the registered data).
        batch_size
            Cells at a time.

        Returns
        -------
        DataFrame ``(n_source_cells, n_target_features)``, target var names as columns.

        Writes
        ------
        ``mdata[source].obsm["groove_imputed_<target>"]`` (the DataFrame) and
        ``mdata.uns["groove"]["imputation"]["<source>_to_<target>"] = {"method": ...}``.
        """
        mdata = self._validate_anndata(mdata)
        s, t = self._modality_index(source), self._modality_index(target)
        if s == t:
            raise ValueError("source and target must be different modalities.")
        if method == "decoder":
            imputed = self.get_translation(source, target, mdata, batch_size)
        elif method == "coupling":
            if coupling is None:
                coupling = self._stored_coupling(mdata, coupling_key) or self.align(mdata=mdata, key_added=coupling_key)
            T = coupling.to_sparse() if s == 1 else coupling.to_sparse().T.tocsr()
            expected = (mdata.mod[source].n_obs, mdata.mod[target].n_obs)
            if T.shape != expected:
                raise ValueError(f"Coupling of shape {T.shape} does not fit {source!r} x {target!r} cells {expected}.")
            if target_layer is None:
                values = self.get_anndata_manager(mdata, required=True).get_from_registry(_X[t])
            else:
                values = mdata.mod[target].layers[target_layer]
            transported = sparse_times(T, values)
            mass = np.asarray(T.sum(axis=1)).ravel()
            with np.errstate(invalid="ignore", divide="ignore"):
                data = np.where(mass[:, None] > 0, transported / mass[:, None], np.nan)
            imputed = pd.DataFrame(
                data.astype(np.float32),
                index=mdata.mod[source].obs_names.copy(),
                columns=mdata.mod[target].var_names.copy(),
            )
        else:
            raise ValueError(f"method must be 'coupling' or 'decoder', got {method!r}.")
        mdata.mod[source].obsm[f"{RESULT_KEYS.IMPUTED_PREFIX}{target}"] = imputed
        record = {"method": method, "source": source, "target": target}
        if method == "coupling":
            record["coupling_method"] = coupling.method
        _groove_uns(mdata).setdefault("imputation", {})[f"{source}_to_{target}"] = record
        return imputed

    @torch.inference_mode()
    def get_reconstruction(self, modality: str, mdata: MuData | None = None, batch_size: int = 1024) -> np.ndarray:
        """Denoised features: each cell decoded from its own latent, in the data's units.

        Counts (``"nb"``) keep each cell's observed library size.
        """
        mdata = self._validate_anndata(mdata)
        index = self._modality_index(modality)
        matrix = self.get_anndata_manager(mdata, required=True).get_from_registry(_X[index])
        self.module.eval()
        out = []
        for start in range(0, matrix.shape[0], batch_size):
            x = rows_as_tensor(matrix, np.arange(start, min(start + batch_size, matrix.shape[0])))
            z = self.module.encode(x, index)
            out.append(self.module.decoded_mean(z, index, x.sum(1)).cpu().numpy())
        return np.concatenate(out).astype(np.float32)

    def write_denoised(
        self, mdata: MuData | None = None, modalities: list[str] | None = None, layer: str = RESULT_KEYS.DENOISED_LAYER
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
        """
        mdata = self._validate_anndata(mdata)
        for modality in modalities or list(self.modalities):
            mdata.mod[modality].layers[layer] = self.get_reconstruction(modality, mdata)

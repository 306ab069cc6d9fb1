"""GROOVE: the scvi-tools model class that users call."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd
import torch
from mudata import MuData
from scvi.data import AnnDataManager
from scvi.data._manager import AnnDataManagerValidationCheck
from scvi.data.fields import MuDataCategoricalObsField, MuDataLayerField
from scvi.model.base import BaseModelClass
from scvi.train import TrainRunner

from scgroove._constants import REGISTRY_KEYS, RESULT_KEYS
from scgroove.losses import Contrast, Similarity, Variant
from scgroove.model._batching import WeaklyPairedDataset, WeaklyPairedDataSplitter, rows_as_tensor
from scgroove.model._guide import guide_matrix, structure_guide
from scgroove.model._results import GROOVEResultsMixin
from scgroove.model._validation import check_likelihoods, validate_weakly_paired
from scgroove.module import GROOVEModule, choose_likelihood
from scgroove.train import GROOVETrainingPlan

logger = logging.getLogger(__name__)

_X = {1: REGISTRY_KEYS.X_1, 2: REGISTRY_KEYS.X_2}
_LABELS = {1: REGISTRY_KEYS.LABELS_1, 2: REGISTRY_KEYS.LABELS_2}


def _shared_label_column(perturbation_key: str, modalities: Sequence[str]):
    """Pre-register hook: one Categorical over the union of both modalities' labels.

    Each scvi-tools categorical field builds its own code mapping from its column's categories,
    so both modalities get a helper column with identical categories and the codes agree. The
    hook also runs on transfer, so query data gets the column too.
    """

    def preregister(_field, mdata: MuData) -> None:
        present = [m for m in modalities if m in mdata.mod and perturbation_key in mdata.mod[m].obs]
        categories = sorted(set().union(*(set(mdata.mod[m].obs[perturbation_key].astype(str)) for m in present)))
        for m in present:
            obs = mdata.mod[m].obs
            obs[RESULT_KEYS.LABEL_COLUMN] = pd.Categorical(obs[perturbation_key].astype(str), categories=categories)

    return preregister


class GROOVE(GROOVEResultsMixin, BaseModelClass):
    """GroupCLIP + backtranslating autoencoder for two weakly paired modalities.

    The two modalities hold different cells, linked only by the perturbation label of each cell.
    One encoder and one decoder per modality map into one shared latent space, trained on
    group-balanced batches with two optimizer steps each: (1) reconstruction of both modalities
    plus ``alpha`` times GroupCLIP (:func:`scgroove.losses.group_clip_loss`), whose positives are
    cells of the other modality with the same label; (2) ``beta`` times the backtranslation loss:
    cells are translated to the other modality in inference mode and must be reconstructed when
    translated back.

    Parameters
    ----------
    mdata
        MuData registered with :meth:`setup_mudata`.
    n_latent
        Dimension of the shared latent space.
    n_hidden, n_layers, dropout_rate
        Encoder/decoder MLP shape (Linear, LayerNorm, ReLU, Dropout blocks).
    likelihoods
        Reconstruction likelihood per modality name: ``"nb"`` (counts, library-size aware),
        ``"normal"`` (continuous, standardised per feature) or ``"bernoulli"`` (binary). Modalities
        not given are chosen from the data: binary -> bernoulli, non-negative integers -> nb,
        anything else -> normal.
    alpha
        Weight of GroupCLIP (paper default 1).
    beta
        Weight of backtranslation.
    temperature, variant, similarity
        GroupCLIP temperature, ``"in"``/``"out"`` variant and ``"cosine"``/``"euclidean"`` similarity.
    contrast
        ``"guided"`` (the default): GroupCLIP whose positives follow a guide coupling between all
        cells, by default labeled Gromov-Wasserstein between each modality's own PCA, built by
        :meth:`train` (:func:`scgroove.losses.guided_clip_loss`; see the concepts page for the
        measurements behind this default). ``"group"``: plain GroupCLIP (same-label cells are
        uniform positives; the default up to 0.1). For ablations: ``"instance"`` (CLIP on random
        same-label pairs), ``"within"`` (SupCon inside each modality, no cross-modal term) or
        ``"ot_refined"`` (positives sharpened, after ``ot_warmup_epochs`` of plain GroupCLIP, by
        each batch's labeled OT plan).
    ot_warmup_epochs, ot_epsilon
        Warm-up length and entropic regularisation of ``contrast="ot_refined"``.
    geometry_weight
        Weight of a term that keeps each modality's within-group distance structure in the
        latent space (:func:`scgroove.losses.geometry_loss`); 0 (default) switches it off.
    projection_head
        Compute the contrast on ``g(z)`` (a one-layer MLP head, default) and keep ``z`` for
        reconstruction, matching and imputation: the contrast then cannot collapse each group of
        ``z`` to a point.
    distribution_weight, distribution_epsilon
        Weight and relative entropic regularisation of the within-label Sinkhorn divergence
        between the two modalities' latents (:func:`scgroove.losses.within_label_sinkhorn_divergence`),
        which aligns each group's whole distribution, not only its centre; 0 switches it off.
    cycle_weight
        Weight of the latent cycle term (:func:`scgroove.losses.latent_cycle_loss`); 0 switches it off.
    use_reconstruction, use_group_clip, use_backtranslation
        Switch each loss term off for ablations.
    registry
        A saved registry, used by :meth:`load` to build the model without data.

    Examples
    --------
    >>> import scgroove as sg
    >>> mdata = sg.datasets.simulate(seed=0)
    >>> sg.GROOVE.setup_mudata(mdata, perturbation_key="perturbation", modalities=("rna", "protein"))
    >>> model = sg.GROOVE(mdata, n_latent=16)
    >>> model.train(max_epochs=20)
    >>> model.write_latent()  # mdata["rna"].obsm["X_groove"], mdata["protein"].obsm["X_groove"]
    """

    _module_cls = GROOVEModule
    _training_plan_cls = GROOVETrainingPlan

    def __init__(
        self,
        mdata: MuData | None = None,
        n_latent: int = 32,
        n_hidden: int = 256,
        n_layers: int = 2,
        dropout_rate: float = 0.1,
        likelihoods: Mapping[str, str] | None = None,
        alpha: float = 1.0,
        beta: float = 1.0,
        temperature: float = 0.1,
        variant: Variant = "in",
        similarity: Similarity = "cosine",
        contrast: Contrast = "guided",
        ot_warmup_epochs: int = 10,
        ot_epsilon: float = 0.05,
        geometry_weight: float = 0.0,
        projection_head: bool = True,
        distribution_weight: float = 0.0,
        distribution_epsilon: float = 0.05,
        cycle_weight: float = 0.0,
        use_reconstruction: bool = True,
        use_group_clip: bool = True,
        use_backtranslation: bool = True,
        registry: dict | None = None,
    ):
        likelihoods = self._start(mdata, registry, likelihoods)
        self._save_init_params(locals(), likelihoods)
        self.module = self._build_module(
            likelihoods,
            n_latent=n_latent,
            n_hidden=n_hidden,
            n_layers=n_layers,
            dropout_rate=dropout_rate,
            alpha=alpha,
            beta=beta,
            temperature=temperature,
            variant=variant,
            similarity=similarity,
            contrast=contrast,
            ot_warmup_epochs=ot_warmup_epochs,
            ot_epsilon=ot_epsilon,
            geometry_weight=geometry_weight,
            projection_head=projection_head,
            distribution_weight=distribution_weight,
            distribution_epsilon=distribution_epsilon,
            cycle_weight=cycle_weight,
            use_reconstruction=use_reconstruction,
            use_group_clip=use_group_clip,
            use_backtranslation=use_backtranslation,
        )
        terms = [
            t
            for t, on in (
                ("reconstruction", use_reconstruction),
                (
                    {
                        "group": "GroupCLIP",
                        "instance": "instance CLIP",
                        "within": "SupCon within modality",
                        "ot_refined": "OT-refined GroupCLIP",
                        "guided": "structure-guided GroupCLIP",
                    }.get(contrast, contrast)
                    + (" on a projection head" if projection_head else ""),
                    use_group_clip,
                ),
                ("backtranslation", use_backtranslation),
                ("within-group geometry", geometry_weight > 0),
                ("within-label Sinkhorn divergence", distribution_weight > 0),
                ("latent cycle", cycle_weight > 0),
            )
            if on
        ]
        self._model_summary_string = (
            f"GROOVE model: {self.modalities[0]} ({likelihoods[self.modalities[0]]}) + "
            f"{self.modalities[1]} ({likelihoods[self.modalities[1]]}), n_latent={n_latent}, "
            f"losses: {', '.join(terms)}; alpha={alpha}, beta={beta}, temperature={temperature}, "
            f"variant={variant!r}."
        )

    def _start(self, mdata: MuData | None, registry: dict | None, likelihoods: Mapping[str, str] | None) -> dict:
        """Base-class set-up shared by GROOVE and its subclasses; returns the resolved likelihoods."""
        super().__init__(mdata, registry=registry)
        self.modalities: tuple[str, str] = tuple(self.registry_["setup_args"]["modalities"])
        return self._resolve_likelihoods(likelihoods)

    def _save_init_params(self, init_locals: dict, likelihoods: dict[str, str]) -> None:
        self.init_params_ = self._get_init_params(init_locals)
        # the resolved likelihoods are saved, so a model loads without data
        self.init_params_["non_kwargs"]["likelihoods"] = likelihoods
        self.init_params_["non_kwargs"].pop("mdata", None)

    def _build_module(self, likelihoods: dict[str, str], **options):
        """The module for the registered sizes and likelihoods; heads fitted to the data if any."""
        module = self._module_cls(
            n_input_1=self.summary_stats[f"n_{REGISTRY_KEYS.X_1}"],
            n_input_2=self.summary_stats[f"n_{REGISTRY_KEYS.X_2}"],
            likelihood_1=likelihoods[self.modalities[0]],
            likelihood_2=likelihoods[self.modalities[1]],
            **options,
        )
        if self.adata is not None:
            for index in (1, 2):
                module.heads[str(index)].fit_statistics(self.adata_manager.get_from_registry(_X[index]))
        return module

    def _resolve_likelihoods(self, likelihoods: Mapping[str, str] | None) -> dict[str, str]:
        likelihoods = dict(likelihoods or {})
        unknown = set(likelihoods) - set(self.modalities)
        if unknown:
            raise KeyError(f"likelihoods names modalities {sorted(unknown)} that are not registered {self.modalities}.")
        if self.adata is None:
            missing = set(self.modalities) - set(likelihoods)
            if missing:
                raise ValueError(f"Without data, likelihoods must be given for {sorted(missing)}.")
            return likelihoods
        for index, modality in enumerate(self.modalities, start=1):
            if modality not in likelihoods:
                likelihoods[modality] = choose_likelihood(self.adata_manager.get_from_registry(_X[index]))
        layers = self.registry_["setup_args"]["layers"] or {}
        check_likelihoods(likelihoods, self.adata, layers)
        return likelihoods

    @classmethod
    def setup_anndata(cls, adata, **kwargs) -> None:
        """Not supported: weakly paired data needs two modalities; use :meth:`setup_mudata`."""
        raise TypeError(
            "GROOVE works on a MuData with two modalities of different cells. Build one with "
            "`mudata.MuData({'rna': adata_rna, 'protein': adata_protein})` and call GROOVE.setup_mudata."
        )

    @classmethod
    def setup_mudata(
        cls,
        mdata: MuData,
        perturbation_key: str,
        modalities: Sequence[str] = ("rna", "protein"),
        layers: Mapping[str, str | None] | None = None,
        **kwargs,
    ) -> None:
        """Register two weakly paired modalities of a MuData and their shared perturbation label.

        Every check of the data runs first and raises, naming the modality, key or value, before
        anything is written: missing modality/layer/key, empty modality, NaN/inf or non-numeric
        data, missing labels, fewer than two groups, no label present in both modalities, and obs
        names shared across modalities (MuData would merge them as one cell).

        Parameters
        ----------
        mdata
            MuData whose two modalities hold different cells.
        perturbation_key
            Column of each modality's ``.obs`` with the perturbation (group) label.
        modalities
            Names of the two modalities, e.g. ``("rna", "protein")``.
        layers
            Layer to use per modality (``None`` or absent: ``.X``), e.g. ``{"rna": "counts"}``.

        Notes
        -----
        Writes to each modality's ``.obs``: ``"_groove_perturbation"`` (the label as one
        Categorical over the union of both modalities' labels, so codes agree) and the
        scvi-tools code columns ``"_scvi_labels_1"``/``"_scvi_labels_2"``.
        """
        setup_method_args = cls._get_setup_method_args(**locals())
        modalities = tuple(modalities)
        layers = dict(layers or {})
        unknown = set(layers) - set(modalities)
        if unknown:
            raise KeyError(f"layers names modalities {sorted(unknown)} that are not in modalities {modalities}.")
        validate_weakly_paired(mdata, perturbation_key, modalities, layers)
        preregister = _shared_label_column(perturbation_key, modalities)
        label_fields = []
        for index, modality in enumerate(modalities, start=1):
            field = MuDataCategoricalObsField(
                _LABELS[index], RESULT_KEYS.LABEL_COLUMN, mod_key=modality, mod_required=True
            )
            field._preregister = preregister
            label_fields.append(field)
        fields = [
            MuDataLayerField(
                _X[1], layers.get(modalities[0]), mod_key=modalities[0], is_count_data=False, mod_required=True
            ),
            MuDataLayerField(
                _X[2], layers.get(modalities[1]), mod_key=modalities[1], is_count_data=False, mod_required=True
            ),
            *label_fields,
        ]
        manager = AnnDataManager(
            fields=fields,
            setup_method_args=setup_method_args,
            validation_checks=AnnDataManagerValidationCheck(check_fully_paired_mudata=False),
        )
        manager.register_fields(mdata, **kwargs)
        cls.register_manager(manager)

    # -- training -------------------------------------------------------------------------------
    def _dataset(self, mdata: MuData | None = None) -> WeaklyPairedDataset:
        manager = self.get_anndata_manager(mdata if mdata is not None else self.adata, required=True)
        return WeaklyPairedDataset(*(manager.get_from_registry(k) for k in (_X[1], _X[2], _LABELS[1], _LABELS[2])))

    def train(
        self,
        max_epochs: int = 200,
        accelerator: str = "auto",
        devices: int | list[int] | str = "auto",
        train_size: float = 0.9,
        groups_per_batch: int = 16,
        cells_per_group: int = 8,
        lr: float = 1e-3,
        weight_decay: float = 1e-6,
        gradient_clip_val: float | None = 10.0,
        early_stopping: bool = False,
        early_stopping_patience: int = 20,
        check_val_every_n_epoch: int = 1,
        seed: int | None = None,
        guide=None,
        guide_weight: float = 1.0,
        **trainer_kwargs,
    ):
        """Train the model on group-balanced batches (GPU when available, with a progress bar).

        Parameters
        ----------
        max_epochs
            Number of passes; an epoch draws about as many cells as the larger modality has.
        accelerator, devices
            Lightning device settings (``"auto"``: a GPU when present, else the CPU).
        train_size
            Fraction of each modality's cells used for training (split per modality); the rest
            gives the ``validation_*`` entries of :attr:`history`.
        groups_per_batch, cells_per_group
            Each batch draws this many perturbation groups and this many cells of each group from
            each modality.
        lr, weight_decay, gradient_clip_val
            Optimiser settings (clipping is done inside each of the two steps).
        early_stopping, early_stopping_patience
            Stop when ``validation_loss`` has not improved for this many epochs.
        check_val_every_n_epoch
            Validation frequency.
        seed
            Seed of the split and the batch draws; default: drawn from torch's generator, so
            ``scvi.settings.seed = n`` makes the whole run reproducible.
        guide, guide_weight
            For ``contrast="guided"``: the coupling whose within-label correspondences become the
            contrast's soft positives (a :class:`~scgroove.align.Coupling` or an ``(n1, n2)`` scipy
            sparse matrix over the registered cells), and its weight against GroupCLIP's uniform
            positives. Default: :func:`scgroove.model.structure_guide` (labeled GW between each
            modality's own PCA).
        **trainer_kwargs
            Passed to :class:`scvi.train.Trainer` (e.g. ``enable_progress_bar=False``, ``strategy``).
        """
        if seed is None:
            seed = int(torch.randint(0, 2**31 - 1, (1,)).item())
        dataset = self._dataset()
        splitter = WeaklyPairedDataSplitter(
            dataset, train_size, groups_per_batch=groups_per_batch, cells_per_group=cells_per_group, seed=seed
        )
        if early_stopping and splitter.n_val == 0:
            raise ValueError("early_stopping needs validation cells: use train_size < 1.")
        guide_options = {}
        contrast = getattr(self.module, "contrast", None)
        if contrast == "guided" and self.module.use_group_clip:
            if guide is None:
                guide = structure_guide(self)
            guide_options = {
                "guide": guide_matrix(guide, len(dataset.labels[1]), len(dataset.labels[2])),
                "guide_weight": guide_weight,
            }
        elif guide is not None:
            raise ValueError(f'guide is used by contrast="guided" only; this model has contrast={contrast!r}.')
        plan = self._training_plan_cls(
            self.module,
            self.modalities,
            lr=lr,
            weight_decay=weight_decay,
            gradient_clip_val=gradient_clip_val,
            **guide_options,
        )
        if trainer_kwargs.get("strategy") == "ddp":
            # the two optimizer steps use different parameters (the projection head only in the
            # first), which plain DDP takes for a bug in the model
            trainer_kwargs["strategy"] = "ddp_find_unused_parameters_true"
        trainer_kwargs.setdefault("early_stopping_monitor", "validation_loss")
        trainer_kwargs.setdefault("early_stopping_patience", early_stopping_patience)
        if splitter.n_val > 0:
            trainer_kwargs.setdefault("check_val_every_n_epoch", check_val_every_n_epoch)
        self.module.train()  # inference may have left it in eval mode, which Lightning would keep
        runner = TrainRunner(
            self,
            training_plan=plan,
            data_splitter=splitter,
            max_epochs=max_epochs,
            accelerator=accelerator,
            devices=devices,
            early_stopping=early_stopping,
            **trainer_kwargs,
        )
        return runner()

    # -- results --------------------------------------------------------------------------------
    def _modality_index(self, modality: str) -> int:
        if modality not in self.modalities:
            raise KeyError(f"Unknown modality {modality!r}; this model was set up with {self.modalities}.")
        return self.modalities.index(modality) + 1

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
        matrix = self.get_anndata_manager(mdata, required=True).get_from_registry(_X[index])
        self.module.eval()
        chunks = [
            self.module.encode(
                rows_as_tensor(matrix, np.arange(start, min(start + batch_size, matrix.shape[0]))), index
            )
            .cpu()
            .numpy()
            for start in range(0, matrix.shape[0], batch_size)
        ]
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
        uns = mdata.uns.setdefault(RESULT_KEYS.UNS, {})
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
            ``"typical"`` uses the median library of the target's training cells.

        Returns
        -------
        DataFrame ``(n_source_cells, n_target_features)`` indexed by source obs names with target
        var names as columns.
        """
        mdata = self._validate_anndata(mdata)
        latent = self.get_latent_representation(mdata, source, batch_size)
        t = self._modality_index(target)
        library = None if library_size == "typical" else torch.tensor(float(library_size))
        self.module.eval()
        decoded = [
            self.module.decoded_mean(torch.as_tensor(latent[s : s + batch_size]), t, library).cpu().numpy()
            for s in range(0, latent.shape[0], batch_size)
        ]
        return pd.DataFrame(
            np.concatenate(decoded),
            index=mdata.mod[source].obs_names.copy(),
            columns=mdata.mod[target].var_names.copy(),
        )

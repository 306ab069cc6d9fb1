"""What GROOVE and its baseline models share: set-up, construction and training."""

from __future__ import annotations

import inspect
import logging
import time
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from mudata import MuData
from scvi.data import AnnDataManager, AnnDataManagerValidationCheck
from scvi.data.fields import CategoricalObsField, MuDataLayerField, MuDataWrapper
from scvi.model.base import BaseModelClass
from scvi.train import TrainRunner

from scgroove._constants import BATCH_KEYS, LABELS_KEYS, RESULT_KEYS, X_KEYS
from scgroove._results import groove_uns
from scgroove.align import Coupling
from scgroove.model._batching import WeaklyPairedDataset, WeaklyPairedDataSplitter
from scgroove.model._guide import guide_matrix, structure_problem
from scgroove.model._outputs import ModelOutputsMixin
from scgroove.model._screen import (
    EXCLUDED,
    UNLABELED,
    NullHandling,
    UnlabeledHandling,
    contrast_codes,
    screen_design,
)
from scgroove.model._validation import check_likelihoods, validate_weakly_paired
from scgroove.module import choose_likelihood
from scgroove.train import GROOVETrainingPlan

logger = logging.getLogger(__name__)


def _shared_categorical_column(key: str, column: str, modalities: Sequence[str], fill: str | None = None):
    """Pre-register hook: ``obs[column]``, one Categorical over the union of both modalities' ``obs[key]``.

    Each scvi-tools categorical field builds its own code mapping from its column's categories,
    so both modalities get a helper column with identical categories and the codes agree. The
    hook also runs on transfer, so query data gets the column too. With ``fill``, missing values
    become that category (cells without a label, ``setup_mudata(unlabeled="keep")``).
    """

    def values(obs: pd.DataFrame) -> pd.Series:
        if fill is None:
            return obs[key].astype(str)
        return obs[key].astype(object).where(obs[key].notna(), fill).astype(str)

    def preregister(_field, mdata: MuData) -> None:
        present = [m for m in modalities if m in mdata.mod and key in mdata.mod[m].obs]
        categories = sorted(set().union(*(set(values(mdata.mod[m].obs)) for m in present)))
        for m in present:
            obs = mdata.mod[m].obs
            obs[column] = pd.Categorical(values(obs), categories=categories)

    return preregister


SMALL_CATEGORY_WARNING = "has fewer than 3 cells"


def _warn_small_groups(mdata: MuData, perturbation_key: str, modalities: Sequence[str], minimum: int = 3) -> None:
    """One warning per modality naming the perturbation groups with fewer than ``minimum`` cells."""
    for modality in modalities:
        counts = mdata.mod[modality].obs[perturbation_key].dropna().astype(str).value_counts()
        small = counts[counts < minimum]
        if len(small):
            listed = ", ".join(f"{label!r} ({n})" for label, n in small.head(10).items())
            more = f" and {len(small) - 10} more" if len(small) > 10 else ""
            warnings.warn(
                f"{len(small)} value(s) of {perturbation_key!r} have fewer than {minimum} cells in modality "
                f"{modality!r}: {listed}{more}. Such groups give the contrast few positives; consider "
                "merging or dropping them.",
                UserWarning,
                stacklevel=3,
            )


class WeaklyPairedModel(ModelOutputsMixin, BaseModelClass):
    """Base of the models on two weakly paired modalities: set-up, construction, training.

    A subclass names its module class (a :class:`~scgroove.module.PairedAutoencoderModule`);
    every keyword argument the model does not use itself goes to that module, so each
    hyperparameter is written once, in the module's signature. The per-cell outputs (latents,
    translations, couplings, imputations) come from :class:`ModelOutputsMixin`.
    """

    _training_plan_cls = GROOVETrainingPlan
    _model_name = "model"

    def __init__(
        self,
        mdata: MuData | None = None,
        n_latent: int = 32,
        likelihoods: Mapping[str, str] | None = None,
        registry: dict | None = None,
        contrast_groups: Mapping[str, str | None] | None = None,
        **module_kwargs,
    ):
        super().__init__(mdata, registry=registry)
        self.modalities: tuple[str, str] = tuple(self.registry_["setup_args"]["modalities"])
        likelihoods = self._resolve_likelihoods(likelihoods)
        if contrast_groups is None:
            contrast_groups = self._design_contrast_groups()
        self.contrast_groups: dict[str, str | None] = dict(contrast_groups)
        #: The structure prior of the last ``train()`` (``contrast="guided"``; :func:`structure_prior` through
        #: the guide trained with), for ``align(prior_share=...)``; at most
        #: :data:`~scgroove.align.AUTO_TOP_K` entries per cell once it holds more than 10^7.
        self.prior_: Coupling | None = None
        #: Wall seconds of the last ``train()``'s stages: ``"structure_pca"`` (each modality's PCA),
        #: ``"structure_guide"`` (the guide's labeled GW; 0 when a guide was passed),
        #: ``"structure_prior"`` (the prior kept for :meth:`align`) for a guided model, and ``"fit"``
        #: (the epochs); the one-time work apart from the epochs, as a user times it.
        self.train_seconds_: dict[str, float] = {}
        known = set(inspect.signature(self._module_cls).parameters)
        unknown = sorted(set(module_kwargs) - known)
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unknown hyperparameter(s) {unknown}; "
                f"{self._module_cls.__name__} takes {sorted(known - {'n_input_1', 'n_input_2'})}."
            )
        # the resolved likelihoods are saved, so a model loads without data
        init_locals = {**locals(), "likelihoods": likelihoods, "contrast_groups": self.contrast_groups}
        self.init_params_ = self._get_init_params({k: v for k, v in init_locals.items() if k != "mdata"})
        self.module = self._module_cls(
            n_input_1=self.summary_stats[f"n_{X_KEYS[1]}"],
            n_input_2=self.summary_stats[f"n_{X_KEYS[2]}"],
            likelihood_1=likelihoods[self.modalities[0]],
            likelihood_2=likelihoods[self.modalities[1]],
            n_latent=n_latent,
            **self._registry_module_kwargs(),
            **module_kwargs,
        )
        if self.adata is not None:
            for index in (1, 2):
                self.module.heads[str(index)].fit_statistics(self.adata_manager.get_from_registry(X_KEYS[index]))
        m1, m2 = self.modalities
        self._model_summary_string = (
            f"{type(self).__name__}: {m1} ({likelihoods[m1]}) + {m2} ({likelihoods[m2]}), "
            f"n_latent={n_latent}; {self.module.describe()}."
        )

    def _registry_module_kwargs(self) -> dict:
        """Module arguments that come from the registered data rather than from the user."""
        if BATCH_KEYS[1] not in self.registry_["field_registries"]:
            return {}
        state = self.registry_["field_registries"][BATCH_KEYS[1]]["state_registry"]
        return {"n_batch": len(state["categorical_mapping"])}

    def _design_contrast_groups(self) -> dict[str, str | None]:
        """Each label's contrast group as decided by ``setup_mudata`` (``uns["groove"]["screen"]``)."""
        screen = (self.adata.uns.get(RESULT_KEYS.UNS, {}) if self.adata is not None else {}).get("screen")
        if screen is None:
            return {}
        return {
            str(label): (EXCLUDED if group == "" else str(group))
            for label, group in zip(screen["labels"], screen["contrast_groups"], strict=True)
        }

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
        chosen = [m for m in self.modalities if m not in likelihoods]
        for index, modality in enumerate(self.modalities, start=1):
            if modality in chosen:
                likelihoods[modality] = choose_likelihood(self.adata_manager.get_from_registry(X_KEYS[index]))
        layers = self.registry_["setup_args"]["layers"] or {}
        check_likelihoods(likelihoods, self.adata, layers, chosen)
        return likelihoods

    # -- set-up ---------------------------------------------------------------------------------
    @classmethod
    def setup_anndata(cls, adata, **kwargs) -> None:
        """Not supported: weakly paired data needs two modalities; use :meth:`setup_mudata`."""
        raise TypeError(
            f"{cls.__name__} works on a MuData with two modalities of different cells. Build one with "
            f"`mudata.MuData({{'rna': adata_rna, 'protein': adata_protein}})` and call {cls.__name__}.setup_mudata."
        )

    @classmethod
    def setup_mudata(
        cls,
        mdata: MuData,
        perturbation_key: str,
        modalities: Sequence[str] = ("rna", "protein"),
        layers: Mapping[str, str | None] | None = None,
        control_label: str | None = None,
        group_key: str | None = None,
        batch_key: str | None = None,
        null_perturbations: NullHandling | None = None,
        effect_test: Mapping | None = None,
        unlabeled: UnlabeledHandling = "error",
        **kwargs,
    ) -> None:
        """Register two weakly paired modalities of a MuData and their shared perturbation label.

        Every check of the data runs first and raises, naming the modality, key or value, before
        anything is written: missing modality/layer/key, empty modality, NaN/inf or non-numeric
        data, missing labels, fewer than two groups, no label present in both modalities, obs
        names shared across modalities (MuData would merge them as one cell), and the screen's
        keys (an unknown control, control absent from one modality, a guide of two genes, a
        batch of one modality only).

        The input is expected as it comes from the assay: raw counts for RNA (or ATAC counts)
        after HVG selection, e.g. ``sc.pp.highly_variable_genes(adata, n_top_genes=2000,
        flavor="seurat_v3", subset=True)``; CLR- or log-normalised protein; ATAC as its LSI
        (:func:`scgroove.pp.atac_lsi`). See the README's data contract.

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
        control_label
            The screen's reference group (non-targeting guides, DMSO): a value of ``group_key``
            when given, else of ``perturbation_key``; it must have cells in both modalities. Its
            role: (1) the group-balanced batches draw it into every batch (``train(...,
            control_in_every_batch=True)``), so every perturbation is contrasted with the
            reference at each step and the largest group is not drawn in proportion to its size;
            (2) perturbations that differ from it in no modality are handled by
            ``null_perturbations``; (3) the aligners treat it as one label, usually the largest
            block: ``align(..., max_block_cells=2000)`` keeps its cost linear.
        group_key
            Column grouping the labels of ``perturbation_key`` for the contrast, e.g. the gene of
            each guide: guides of one gene are one contrast group (they are positives of each
            other, not negatives), while alignment, couplings and imputation stay at the level of
            ``perturbation_key``. A label mapping to two groups is an error.
        batch_key
            Column of each modality's ``.obs`` with a categorical covariate shared by both
            modalities (the donor, or a plate that holds both assays): one-hot into every encoder
            and decoder, as scVI does, so batch effects are not learned as perturbation effects or
            cell state. Since a cell's true partner has its batch, the guide and
            :meth:`align` also match within each batch (``align(within_batch=False)`` does not).
            Every batch must have cells in both modalities; query data must use the same batch
            names. Technical batches of one assay only (sequencing lanes) are not such a
            covariate.
        null_perturbations
            With ``control_label``: what to do with perturbations (groups) that differ from
            control in no modality, by :func:`scgroove.tl.perturbation_effects` (energy distance,
            permutation test, Benjamini-Hochberg): ``"merge"`` (default) into control's contrast
            group, so they are never used as negatives against control or each other;
            ``"keep"``: no test, each stays its own group; ``"drop"``: their cells take no part in
            training (they are still embedded, aligned and imputed).
        effect_test
            Arguments of :func:`scgroove.tl.perturbation_effects` (``n_permutations``,
            ``max_cells``, ``alpha``, ``n_comps``, ``seed``).
        unlabeled
            Cells whose ``perturbation_key`` is missing (NaN: no guide detected, or a droplet
            whose guides you chose not to call): ``"error"`` (default) refuses them, naming this
            option; ``"keep"`` keeps them as data: they take no part in the contrast or the
            guide, are still embedded (``X_groove``), and belong to no label block, so every
            aligner gives them no partner (no mass, NaN imputation). A cell with two guides can
            be kept this way, or labelled with the guide caller's combined call (then it is a
            group of its own). The counts are in ``mdata.uns["groove"]["screen"]["unlabeled_cells"]``.

        Notes
        -----
        Writes to each modality's ``.obs``: ``"_groove_perturbation"`` (the label as one
        Categorical over the union of both modalities' labels, so codes agree) and the
        scvi-tools code columns ``"_scvi_labels_1"``/``"_scvi_labels_2"``. Alignment and
        imputation read the labels from these registered codes, so editing
        ``obs[perturbation_key]`` after set-up changes nothing until ``setup_mudata`` runs again.
        With ``batch_key`` it also writes ``"_groove_batch"`` and ``"_scvi_batch_1"``/``"_scvi_batch_2"``.
        ``mdata.uns["groove"]["screen"]`` records the design: ``control_label``, ``group_key``,
        ``batch_key``, ``null_perturbations``, ``null_groups`` (groups found not to differ from
        control), ``labels`` with their ``contrast_groups`` (``""``: not trained on) and, when the
        test ran, its table ``effects``.
        """
        setup_method_args = cls._get_setup_method_args(**locals())
        modalities = tuple(modalities)
        layers = dict(layers or {})
        validate_weakly_paired(mdata, perturbation_key, modalities, layers, unlabeled)
        design = screen_design(
            mdata,
            perturbation_key,
            modalities,
            layers,
            control_label,
            group_key,
            batch_key,
            null_perturbations,
            effect_test,
            unlabeled,
        )
        fill = UNLABELED if unlabeled == "keep" else None
        label_field = MuDataWrapper(
            CategoricalObsField,
            preregister_fn=_shared_categorical_column(perturbation_key, RESULT_KEYS.LABEL_COLUMN, modalities, fill),
        )
        fields = [
            *(
                MuDataLayerField(X_KEYS[i], layers.get(m), mod_key=m, is_count_data=False, mod_required=True)
                for i, m in enumerate(modalities, start=1)
            ),
            *(
                label_field(LABELS_KEYS[i], RESULT_KEYS.LABEL_COLUMN, mod_key=m, mod_required=True)
                for i, m in enumerate(modalities, start=1)
            ),
        ]
        if batch_key is not None:
            batch_field = MuDataWrapper(
                CategoricalObsField,
                preregister_fn=_shared_categorical_column(batch_key, RESULT_KEYS.BATCH_COLUMN, modalities),
            )
            fields += [
                batch_field(BATCH_KEYS[i], RESULT_KEYS.BATCH_COLUMN, mod_key=m, mod_required=True)
                for i, m in enumerate(modalities, start=1)
            ]
        manager = AnnDataManager(
            fields=fields,
            setup_method_args=setup_method_args,
            validation_checks=AnnDataManagerValidationCheck(check_fully_paired_mudata=False),
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            manager.register_fields(mdata, **kwargs)
        for warning in caught:  # scvi-tools names its internal code columns; say it in the user's terms
            if SMALL_CATEGORY_WARNING not in str(warning.message):
                warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        _warn_small_groups(mdata, perturbation_key, modalities)
        groove_uns(mdata)["screen"] = design.to_uns()
        cls.register_manager(manager)

    # -- training -------------------------------------------------------------------------------
    @property
    def control_group(self) -> str | None:
        """The control label given to ``setup_mudata`` (``None``: no control)."""
        control = self.registry_["setup_args"].get("control_label")
        return None if control is None else str(control)

    def _contrast_codes(self) -> tuple[np.ndarray, list[str]]:
        """Contrast-group code of each registered label code (-1: not trained on), and the groups' names."""
        return contrast_codes(self._label_categories(), self.contrast_groups)

    def _dataset(self, mdata: MuData | None = None) -> WeaklyPairedDataset:
        """Registered data with labels as contrast-group codes (what batches and the contrast use)."""
        manager = self.get_anndata_manager(mdata if mdata is not None else self.adata, required=True)
        lookup, _ = self._contrast_codes()
        labels = [lookup[np.asarray(manager.get_from_registry(LABELS_KEYS[m])).reshape(-1)] for m in (1, 2)]
        batches = [None, None]
        if BATCH_KEYS[1] in manager.data_registry:
            batches = [manager.get_from_registry(BATCH_KEYS[m]) for m in (1, 2)]
        return WeaklyPairedDataset(
            manager.get_from_registry(X_KEYS[1]), manager.get_from_registry(X_KEYS[2]), *labels, *batches
        )

    def _control_code(self) -> int | None:
        """Contrast-group code of the control group, if the screen has one."""
        _, names = self._contrast_codes()
        return names.index(self.control_group) if self.control_group in names else None

    def _plan_kwargs(self, dataset: WeaklyPairedDataset, guide, guide_weight: float) -> dict:
        """Training-plan arguments that depend on the module: the guide coupling, schedules."""
        schedule = {}
        if self.module.refinement_warmup_epochs is not None:
            schedule["refinement_warmup_epochs"] = self.module.refinement_warmup_epochs
        if not self.module.needs_guide:
            if guide is not None:
                raise ValueError(
                    f'guide is used by contrast="guided" only; this model has '
                    f"contrast={getattr(self.module, 'contrast', None)!r}."
                )
            return schedule
        start = time.perf_counter()
        problem = structure_problem(self)
        seconds = {"structure_pca": time.perf_counter() - start}
        start = time.perf_counter()
        guide = problem.guide() if guide is None else guide
        seconds["structure_guide"] = time.perf_counter() - start
        matrix = guide_matrix(guide, len(dataset.labels[1]), len(dataset.labels[2]))
        guide = guide if isinstance(guide, Coupling) else Coupling.from_matrix(matrix, "guide")
        # kept (and saved with the model) for align(prior_share=...), bounded per cell like a stored coupling
        start = time.perf_counter()
        self.prior_ = problem.prior(guide).cap_entries("auto")
        seconds["structure_prior"] = time.perf_counter() - start
        self.train_seconds_.update(seconds)
        logger.info(
            "Structure guide and prior computed in %.1f s (PCA %.1f s, guide %.1f s, prior %.1f s).",
            sum(seconds.values()),
            *seconds.values(),
        )
        return {**schedule, "guide": matrix, "guide_weight": guide_weight}

    def train(
        self,
        max_epochs: int = 200,
        accelerator: str = "auto",
        devices: int | list[int] | str = "auto",
        train_size: float = 0.9,
        groups_per_batch: int = 16,
        cells_per_group: int = 8,
        early_stopping: bool | None = None,
        early_stopping_patience: int = 15,
        check_val_every_n_epoch: int = 1,
        seed: int | None = None,
        guide=None,
        guide_weight: float = 1.0,
        control_in_every_batch: bool = True,
        plan_kwargs: dict | None = None,
        **trainer_kwargs,
    ):
        """Train the model on group-balanced batches (GPU when available, with a progress bar).

        Parameters
        ----------
        max_epochs
            Most passes; an epoch draws about as many cells as the larger modality has. By default
            training stops earlier, when the validation loss no longer improves
            (``early_stopping``), so this is a cap, not a schedule.
        accelerator, devices
            Lightning device settings (``"auto"``: a GPU when present, else the CPU).
        train_size
            Fraction of each modality's cells used for training (split per modality); the rest
            gives the ``validation_*`` entries of :attr:`history`.
        groups_per_batch, cells_per_group
            Each batch draws this many perturbation groups and this many cells of each group from
            each modality.
        early_stopping, early_stopping_patience
            Stop when ``validation_loss`` (on the held-out ``1 - train_size`` of each modality's
            cells) has not improved for ``early_stopping_patience`` epochs. Default (``None``): on
            whenever there are validation cells (``train_size < 1``), off otherwise; ``False``
            trains all ``max_epochs``. :attr:`history` holds the curve
            (``len(model.history["train_loss"])`` epochs were run).
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
        control_in_every_batch
            When set up with ``control_label``: draw the control group into every batch (one of
            the ``groups_per_batch`` groups).
        plan_kwargs
            Arguments of :class:`~scgroove.train.GROOVETrainingPlan`: ``lr``, ``weight_decay``,
            ``gradient_clip_val`` (clipping is done inside each of the two steps).
        **trainer_kwargs
            Passed to :class:`scvi.train.Trainer` (e.g. ``enable_progress_bar=False``, ``strategy``).
        """
        if seed is None:
            seed = int(torch.randint(0, 2**31 - 1, (1,)).item())
        dataset = self._dataset()
        splitter = WeaklyPairedDataSplitter(
            dataset,
            train_size,
            groups_per_batch=groups_per_batch,
            cells_per_group=cells_per_group,
            seed=seed,
            always_group=self._control_code() if control_in_every_batch else None,
        )
        if early_stopping and splitter.n_val == 0:
            raise ValueError("early_stopping needs validation cells: use train_size < 1.")
        if early_stopping is None:
            early_stopping = splitter.n_val > 0
        self.train_seconds_ = {}
        plan_kwargs = {**self._plan_kwargs(dataset, guide, guide_weight), **(plan_kwargs or {})}
        plan = self._training_plan_cls(self.module, self.modalities, **plan_kwargs)
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
        with warnings.catch_warnings():
            # Lightning 2.6 calls torch's deprecated LeafSpec on every fit; nothing a user can act on
            warnings.filterwarnings("ignore", message=r".*LeafSpec.*deprecated", category=FutureWarning)
            start = time.perf_counter()
            out = runner()
            self.train_seconds_["fit"] = time.perf_counter() - start
            return out

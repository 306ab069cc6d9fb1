"""Whole matching pipelines (representation + labeled aligner) behind one call and one result format."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from anndata import AnnData
from mudata import MuData

from scgroove._constants import RESULT_KEYS
from scgroove._mudata import relabelled_copy
from scgroove._results import (
    check_imputation_size,
    groove_uns,
    transport_features,
    write_coupling,
    write_imputation,
)
from scgroove.align import Coupling, align, one_hot_labels, select_by_label_resolution
from scgroove.align._api import align_within_strata
from scgroove.align._blocks import label_strings
from scgroove.tl._embedding import coupled_latent

#: The representation each pipeline writes, in every modality: ``mdata[m].obsm[MATCH_KEY]``.
MATCH_KEY = "X_match"
#: A shared-space pipeline's representation moved halfway to each cell's partners (:func:`coupled_latent`).
COUPLED_MATCH_KEY = "X_match_coupled"
IMPUTE_DIRECTIONS = ("forward", "reverse", "both", "none")


@dataclass(frozen=True)
class Pipeline:
    """A representation of each modality and the labeled aligner that matches the cells in it."""

    representation: str
    aligner: str
    description: str
    shared_space: bool


#: Pipelines of :func:`match`. ``"groove"``: GROOVE's latents + labeled OT, mixed with the model's
#: structure prior (:meth:`scgroove.GROOVE.align`; the within-group evaluation in the README);
#: ``"pca_gw"``: the strongest reference that learns nothing (Ryu et al. 2024);
#: ``"pca_per_label_gw"``: one independent GW problem per label on each modality's PCA (strong
#: where a label holds many states); ``"pca_mapped_ot"``: GROOVE's structure prior alone
#: (:func:`scgroove.align.mapped_ot` on each modality's PCA, no training); ``"label_only"``: the
#: floor, every cell spread over its label.
PIPELINES: dict[str, Pipeline] = {
    "groove": Pipeline(
        "groove", "labeled_ot", "GROOVE latents (one shared space) + labeled OT, with the structure prior", True
    ),
    "pca_gw": Pipeline("pca", "labeled_gw", "each modality's own PCA + labeled Gromov-Wasserstein", False),
    "pca_per_label_gw": Pipeline(
        "pca", "per_label_gw", "each modality's own PCA + one independent Gromov-Wasserstein per label", False
    ),
    "pca_mapped_ot": Pipeline(
        "pca", "mapped_ot", "each modality's own PCA, one linear map fitted on all cells + labeled OT", False
    ),
    "label_only": Pipeline("label_only", "labeled_ot", "labels only: uniform within each label (a floor)", True),
}
#: Screen options of :meth:`scgroove.GROOVE.setup_mudata` that ``setup_kwargs`` may set.
SETUP_KWARGS = ("control_label", "group_key", "batch_key", "null_perturbations", "effect_test", "unlabeled")
#: Candidates of ``pipeline="auto"``, in the order ties are broken. ``"label_only"`` resolves merged
#: labels at chance, so it is chosen only where every other candidate does worse than chance: then
#: the labels are all the data supports.
AUTO_CANDIDATES = ("groove", "pca_mapped_ot", "pca_gw", "pca_per_label_gw", "label_only")


@dataclass
class MatchPlan:
    """A checked call of :func:`match`: everything is validated, nothing is trained yet."""

    mdata: MuData
    pipeline: str
    perturbation_key: str
    modalities: tuple[str, str]
    layers: dict[str, str | None]
    impute: str
    key_added: str
    aligner: str | None
    aligner_params: dict
    train_kwargs: dict
    model_kwargs: dict
    setup_kwargs: dict
    seed: int
    selection_repeats: int
    selection_epochs: int
    top_k: int | str | None = "auto"
    prior_share: float | None = None


@dataclass
class MatchResult:
    """What :func:`match` computed (also written into the MuData)."""

    pipeline: str
    coupling: Coupling
    representations: tuple[np.ndarray, np.ndarray]
    imputed: dict[tuple[str, str], pd.DataFrame | AnnData] = field(default_factory=dict)
    model: object | None = None
    """The trained :class:`~scgroove.GROOVE` for ``"groove"``, else ``None``."""
    selection: pd.DataFrame | None = None
    """Held-out label resolution of every candidate (``pipeline="auto"`` only)."""
    seconds: float = float("nan")

    @property
    def shared_space(self) -> bool:
        """Whether both modalities' representations live in one space (a joint UMAP makes sense)."""
        return PIPELINES[self.pipeline].shared_space


#: How :func:`check_choices` names the arguments: as in Python, or as the command line's options.
PYTHON_NAMES = {"pipeline": "pipeline", "aligner": "aligner", "auto": "pipeline='auto'", "impute": "impute"}
CLI_NAMES = {"pipeline": "--pipeline", "aligner": "--method", "auto": "--pipeline auto", "impute": "--impute"}


def check_choices(pipeline: str, aligner: str | None, impute: str, names: Mapping[str, str] = PYTHON_NAMES) -> None:
    """Refuse an unknown pipeline or imputation direction and an aligner that does not fit the pipeline.

    Needs no data, so the command line runs it before reading its input.
    """
    from scgroove.align import LABELED_METHODS, SHARED_SPACE

    if pipeline != "auto" and pipeline not in PIPELINES:
        raise ValueError(f"Unknown {names['pipeline']} {pipeline!r}; choose from {', '.join([*PIPELINES, 'auto'])}.")
    if impute not in IMPUTE_DIRECTIONS:
        raise ValueError(f"{names['impute']} must be one of {IMPUTE_DIRECTIONS}, got {impute!r}.")
    if aligner is None:
        return
    if aligner not in LABELED_METHODS:
        choices = ", ".join(LABELED_METHODS)
        raise ValueError(f"{names['aligner']} {aligner!r} is not a labeled aligner; choose from {choices}.")
    if pipeline == "auto":
        raise ValueError(f"{names['aligner']} cannot be combined with {names['auto']} (each candidate has its own).")
    if aligner in SHARED_SPACE and not PIPELINES[pipeline].shared_space:
        raise ValueError(
            f"{names['aligner']} {aligner!r} needs one shared space; {names['pipeline']} {pipeline!r} has two."
        )


def pipeline_aligners(pipeline: str, aligner: str | None) -> list[str]:
    """The aligner(s) a call may run: ``aligner`` when given, else the pipeline's (every candidate's for auto)."""
    if aligner is not None:
        return [aligner]
    return [PIPELINES[name].aligner for name in (AUTO_CANDIDATES if pipeline == "auto" else [pipeline])]


def prepare_match(
    mdata: MuData,
    perturbation_key: str = "perturbation",
    pipeline: str = "groove",
    modalities: Sequence[str] = ("rna", "protein"),
    layers: Mapping[str, str | None] | None = None,
    impute: str = "forward",
    key_added: str = "coupling",
    aligner: str | None = None,
    aligner_params: Mapping | None = None,
    train_kwargs: Mapping | None = None,
    model_kwargs: Mapping | None = None,
    setup_kwargs: Mapping | None = None,
    seed: int = 0,
    selection_repeats: int = 2,
    selection_epochs: int = 20,
    max_obsm_bytes: int = 2**28,
    top_k: int | str | None = "auto",
    prior_share: float | None = None,
) -> MatchPlan:
    """Check every argument and the data of :func:`match`; raises before anything is trained."""
    from scgroove.align import default_params
    from scgroove.model._screen import check_screen_keys
    from scgroove.model._validation import validate_weakly_paired

    check_choices(pipeline, aligner, impute)
    Coupling.check_top_k(top_k)
    Coupling.check_weight(prior_share, "prior_share", allow_none=True)
    if prior_share is not None and pipeline not in ("groove", "auto"):
        raise ValueError(f"prior_share applies to the 'groove' pipeline (a GROOVE model's guide), not {pipeline!r}.")
    if selection_repeats < 1 or selection_epochs < 1:
        raise ValueError("selection_repeats and selection_epochs must be >= 1.")
    modalities = tuple(modalities)
    layers = dict(layers or {})
    setup_kwargs = dict(setup_kwargs or {})
    unknown = set(setup_kwargs) - set(SETUP_KWARGS)
    if unknown:
        raise TypeError(f"setup_kwargs {sorted(unknown)} are not screen options of setup_mudata; use {SETUP_KWARGS}.")
    validate_weakly_paired(mdata, perturbation_key, modalities, layers, setup_kwargs.get("unlabeled", "error"))
    if pipeline == "auto" and any(mdata.mod[m].obs[perturbation_key].isna().any() for m in modalities):
        raise ValueError(
            "pipeline='auto' merges labels to choose a pipeline and needs every cell labelled; name a pipeline "
            "to keep unlabeled cells."
        )
    check_screen_keys(
        mdata, perturbation_key, modalities, **{k: v for k, v in setup_kwargs.items() if k != "effect_test"}
    )
    aligner_params = dict(aligner_params or {})
    for name in set(pipeline_aligners(pipeline, aligner)):
        wrong = set(aligner_params) - set(default_params(name))
        if wrong:
            raise TypeError(f"aligner_params {sorted(wrong)} are not parameters of {name!r}.")
    for source, target in _directions(modalities, impute):
        check_imputation_size(mdata.mod[source].n_obs, mdata.mod[target].n_vars, source, target, "obsm", max_obsm_bytes)
    return MatchPlan(
        mdata,
        pipeline,
        perturbation_key,
        modalities,
        {m: layers.get(m) for m in modalities},
        impute,
        key_added,
        aligner,
        aligner_params,
        dict(train_kwargs or {}),
        dict(model_kwargs or {}),
        setup_kwargs,
        seed,
        selection_repeats,
        selection_epochs,
        top_k,
        prior_share,
    )


def match(mdata: MuData, perturbation_key: str = "perturbation", pipeline: str = "groove", **kwargs) -> MatchResult:
    """Match the cells of two modalities with a whole pipeline, and impute one from the other.

    Every pipeline writes the same keys, so plots and downstream code do not care which one ran.

    Parameters
    ----------
    mdata
        Weakly paired MuData (the checks of :meth:`scgroove.GROOVE.setup_mudata` run first).
    perturbation_key
        ``obs`` column with each cell's perturbation, in both modalities.
    pipeline
        A name of :data:`PIPELINES` (``"groove"``, ``"pca_gw"``, ``"pca_per_label_gw"``, ``"pca_mapped_ot"``,
        ``"label_only"``), or ``"auto"``:
        the candidate in :data:`AUTO_CANDIDATES` that resolves held-out labels best
        (:func:`scgroove.align.select_by_label_resolution`: random pairs of labels are merged,
        each candidate matches under the merged labels, and the mass landing on pairs that share
        their original label is its score; GROOVE is trained on the merged labels for this, for
        ``selection_epochs`` epochs and ``selection_repeats`` merges).
    **kwargs
        ``modalities`` (two names, rows of the coupling first), ``layers`` (modality -> layer
        instead of ``X``), ``aligner`` (a labeled aligner replacing the pipeline's own),
        ``impute`` (``"forward"``: modality 2's features for the cells of modality 1,
        ``"reverse"``, ``"both"``, ``"none"``), ``key_added`` (coupling key), ``aligner_params``
        (e.g. ``{"epsilon": 0.03, "max_block_cells": 2000}``),
        ``train_kwargs`` (``GROOVE.train``, e.g. ``{"max_epochs": 100}``), ``model_kwargs``
        (``GROOVE(...)``), ``setup_kwargs`` (the screen options of
        :meth:`scgroove.GROOVE.setup_mudata`: ``control_label``, ``group_key``, ``batch_key``,
        ``null_perturbations``, ``effect_test``, ``unlabeled``; they shape GROOVE's training,
        checked before it; with ``batch_key`` every pipeline matches cells within their own
        batch; with ``unlabeled="keep"`` cells without a label get no partner in any pipeline),
        ``seed``, ``selection_repeats``, ``selection_epochs``,
        ``max_obsm_bytes`` (largest imputation written to ``obsm``, checked before training;
        256 MiB by default: impute many features with :meth:`scgroove.GROOVE.impute`'s
        ``features=`` or ``output="anndata"`` instead), ``top_k`` (entries kept per cell of the
        stored coupling, as in :meth:`scgroove.GROOVE.align`: ``"auto"`` caps a coupling of more
        than 10^7 entries at 50 per cell, ``None`` keeps all; imputation uses what is stored),
        ``prior_share`` (``"groove"``: the structure guide's share of the final coupling, as in
        :meth:`scgroove.GROOVE.align`; default :data:`scgroove.model.PRIOR_SHARE` = 0.75 for the
        default guided model).

    Returns
    -------
    :class:`MatchResult`.

    Writes
    ------
    ``mdata[m].obsm["X_match"]`` (the representation the cells were matched in; one shared space
    for ``"groove"``/``"label_only"``, each modality's own PCA for ``"pca_gw"``; ``"groove"`` also
    writes what :meth:`scgroove.GROOVE.write_latent` writes); for the shared-space pipelines also
    ``mdata[m].obsm["X_match_coupled"]`` and its record ``mdata.uns["groove"]["coupled_latent"]``
    (:func:`scgroove.tl.coupled_latent`: each cell moved halfway to its partners, the space where
    the modalities mix for neighbours, Leiden and UMAP),
    ``mdata.uns["groove"][key_added]`` (the coupling, as :meth:`scgroove.GROOVE.align` writes it),
    ``mdata[source].obsm["groove_imputed_<target>"]`` with its record in
    ``mdata.uns["groove"]["imputation"]`` (as :meth:`scgroove.GROOVE.impute`), and
    ``mdata.uns["groove"]["match"]``: ``pipeline``, ``representation``, ``aligner``,
    ``shared_space``, ``aligner_params``, ``seconds``, and for ``"auto"`` ``rule`` and the
    candidates' ``selection`` scores.
    """
    return run_match(prepare_match(mdata, perturbation_key, pipeline, **kwargs))


def run_match(plan: MatchPlan) -> MatchResult:
    """Run a plan made by :func:`prepare_match` (training, alignment, imputation)."""
    start = time.perf_counter()
    selection = None
    chosen = plan.pipeline
    if chosen == "auto":
        selection = _select(plan)
        chosen = str(selection.best["pipeline"])
    spec = PIPELINES[chosen]
    labels = [label_strings(plan.mdata.mod[m].obs[plan.perturbation_key]).to_numpy() for m in plan.modalities]
    aligner = plan.aligner or spec.aligner
    x1, x2, model = _representation(plan, spec.representation, labels, plan.train_kwargs)
    if model is not None:  # GROOVE matches as GROOVE.align does: within batches, with its structure prior
        coupling = model.align(
            aligner, plan.mdata, plan.key_added, top_k=plan.top_k, prior_share=plan.prior_share, **plan.aligner_params
        )
    else:
        batch_key = plan.setup_kwargs.get("batch_key")  # donors are known in both modalities: match within each
        strata = [None if batch_key is None else plan.mdata.mod[m].obs[batch_key].to_numpy() for m in plan.modalities]
        coupling = align_within_strata(
            x1, x2, *labels, *strata, method=aligner, names=plan.modalities, **plan.aligner_params
        ).cap_entries(plan.top_k)
    m1 = plan.modalities[0]
    for modality, x in zip(plan.modalities, (x1, x2), strict=True):
        plan.mdata.mod[modality].obsm[MATCH_KEY] = x
    write_coupling(plan.mdata, coupling, plan.modalities, plan.perturbation_key, plan.key_added)
    if spec.shared_space:  # one space where the modalities mix, for neighbours, clusters and UMAP
        coupled_latent(plan.mdata, coupling_key=plan.key_added, use_rep=MATCH_KEY, key_added=COUPLED_MATCH_KEY)
    imputed = {
        (source, target): _impute(plan, coupling if source == m1 else coupling.transpose(), source, target)
        for source, target in _directions(plan.modalities, plan.impute)
    }
    seconds = time.perf_counter() - start
    record = {
        "pipeline": chosen,
        "representation": spec.representation,
        "aligner": aligner,
        "shared_space": spec.shared_space,
        "aligner_params": {k: v for k, v in plan.aligner_params.items() if np.isscalar(v)},
        "key_added": plan.key_added,
        "modalities": list(plan.modalities),
        "seconds": seconds,
    }
    if selection is not None:
        mean = selection.scores.groupby("pipeline")["resolution"].mean()
        record["rule"] = "label_resolution"
        record["selection"] = {"pipeline": mean.index.tolist(), "resolution": mean.tolist()}
    groove_uns(plan.mdata)["match"] = record
    scores = None if selection is None else selection.scores
    return MatchResult(chosen, coupling, (x1, x2), imputed, model, scores, seconds)


def _representation(plan: MatchPlan, kind: str, labels, train_kwargs: dict):
    """``(x1, x2, model)`` of one representation, learnt from ``plan.mdata`` with ``labels``."""
    from scgroove.model._guide import pca_per_modality

    if kind == "pca":
        return (*pca_per_modality(plan.mdata, plan.modalities, layers=plan.layers), None)
    if kind == "label_only":
        return (*one_hot_labels(*labels), None)
    import scvi

    from scgroove.model import GROOVE

    scvi.settings.seed = plan.seed
    GROOVE.setup_mudata(
        plan.mdata,
        perturbation_key=plan.perturbation_key,
        modalities=plan.modalities,
        layers=plan.layers,
        **plan.setup_kwargs,
    )
    model = GROOVE(plan.mdata, **plan.model_kwargs)
    model.train(**{"seed": plan.seed, **train_kwargs})
    model.write_latent(plan.mdata)  # where scanpy users of GROOVE look for its latent; encoded once
    x1, x2 = (plan.mdata.mod[m].obsm[RESULT_KEYS.LATENT] for m in plan.modalities)
    return x1, x2, model


def with_prior(coupling: Coupling, model, prior_share: float | None) -> Coupling:
    """A selection candidate's coupling with its model's structure prior mixed in, as :meth:`GROOVE.align` mixes."""
    if model is None:
        return coupling
    share = model.prior_share(prior_share, coupling.method)
    return coupling.mixed_with(model.prior_, weight=share) if share > 0 and model.prior_ is not None else coupling


def _directions(modalities: Sequence[str], impute: str) -> list[tuple[str, str]]:
    """``(source, target)`` pairs of an imputation direction."""
    m1, m2 = modalities
    return {"forward": [(m1, m2)], "reverse": [(m2, m1)], "both": [(m1, m2), (m2, m1)], "none": []}[impute]


def _impute(plan: MatchPlan, coupling: Coupling, source: str, target: str):
    """Modality ``target``'s features (its layer, or ``X``) transported to the cells of ``source``."""
    adata = plan.mdata.mod[target]
    values = adata.X if plan.layers.get(target) is None else adata.layers[plan.layers[target]]
    columns = np.arange(adata.n_vars)
    imputed = transport_features(coupling, values, columns)
    record = {"method": "coupling", "coupling_method": coupling.method}
    return write_imputation(plan.mdata, source, target, imputed, columns, "obsm", record)


def _select(plan: MatchPlan):
    """Choose among :data:`AUTO_CANDIDATES` by the held-out label resolution rule."""
    m1, m2 = plan.modalities
    labels1 = plan.mdata.mod[m1].obs[plan.perturbation_key].astype(str).to_numpy()
    labels2 = plan.mdata.mod[m2].obs[plan.perturbation_key].astype(str).to_numpy()
    quick = {**plan.train_kwargs, "max_epochs": plan.selection_epochs, "enable_progress_bar": False}

    pca = {}  # label-blind: computed once, for every merge

    def align_with(coarse1, coarse2, pipeline):
        spec = PIPELINES[pipeline]
        if spec.representation == "pca":
            if not pca:
                pca["x"] = _representation(plan, "pca", None, quick)[:2]
            x1, x2 = pca["x"]
        elif spec.representation == "label_only":
            x1, x2 = one_hot_labels(coarse1, coarse2)
        else:
            relabelled = relabelled_copy(plan.mdata, plan.perturbation_key, plan.modalities, coarse1, coarse2)
            # merged labels mix guides of different genes and the control: options that name label
            # values (control_label, group_key, null_perturbations) do not apply; batches still do
            screen = {k: v for k, v in plan.setup_kwargs.items() if k == "batch_key"}
            sub_plan = MatchPlan(**{**plan.__dict__, "mdata": relabelled, "setup_kwargs": screen})
            x1, x2, model = _representation(sub_plan, spec.representation, [coarse1, coarse2], quick)
            coupling = align(x1, x2, coarse1, coarse2, method=spec.aligner, **plan.aligner_params)
            return with_prior(coupling, model, plan.prior_share)  # as the chosen pipeline will match
        return align(x1, x2, coarse1, coarse2, method=spec.aligner, **plan.aligner_params)

    return select_by_label_resolution(
        align_with,
        labels1,
        labels2,
        {"pipeline": list(AUTO_CANDIDATES)},
        n_repeats=plan.selection_repeats,
        seed=plan.seed,
    )

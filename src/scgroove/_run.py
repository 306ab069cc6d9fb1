"""The main job: setup, train, align, impute, score and plot, on any weakly paired MuData."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import mudata as md

from scgroove.benchmark._truth import DatasetTruth, score_against_truth
from scgroove.datasets import simulate
from scgroove.tl._match import COUPLED_MATCH_KEY, MatchPlan, MatchResult, prepare_match, run_match

logger = logging.getLogger(__name__)


@dataclass
class RunResult:
    """What :func:`run` produced."""

    mdata: md.MuData
    match: MatchResult
    metrics: dict[str, float] = field(default_factory=dict)
    """Scores against the hidden truth when the data have one, by the ids of
    :data:`scgroove.metrics.METRIC_NAMES` (the same definitions as the benchmark's)."""

    @property
    def model(self):
        """The trained GROOVE model (``None`` for pipelines that train none)."""
        return self.match.model


def default_dataset(seed: int = 0) -> md.MuData:
    """The built-in example: a simulated screen of 20 perturbations + control, RNA counts and protein."""
    return simulate(
        n_perturbations=20, cells_per_perturbation=100, shared_fraction=0.8, keep_fraction=(0.9, 0.85), seed=seed
    )


@dataclass
class RunOptions:
    """Everything the main job needs to know, checked by :func:`prepare` before any training."""

    perturbation_key: str = "perturbation"
    pipeline: str = "groove"
    modalities: tuple[str, str] = ("rna", "protein")
    layers: dict[str, str] | None = None
    n_latent: int = 32
    max_epochs: int = 100
    method: str | None = None
    accelerator: str = "auto"
    progress_bar: bool = True
    seed: int = 0
    early_stopping: bool = True
    impute: str = "forward"
    save_model: Path | None = None
    max_block_cells: int | None = None
    top_k: int | str | None = "auto"
    prior_share: float | None = None
    control_label: str | None = None
    group_key: str | None = None
    batch_key: str | None = None
    null_perturbations: str | None = None
    unlabeled: str | None = None


def check_options(options: RunOptions) -> None:
    """Refuse options that would fail after training; raises ``ValueError`` naming the option."""
    from scgroove.align import default_params
    from scgroove.tl._match import CLI_NAMES, check_choices, pipeline_aligners

    check_choices(options.pipeline, options.method, options.impute, CLI_NAMES)
    if options.max_block_cells is not None:
        if any("max_block_cells" not in default_params(a) for a in pipeline_aligners(options.pipeline, options.method)):
            raise ValueError(f"--max-block-cells applies to labeled OT/GW/FGW, not to --method {options.method!r}.")
        if options.max_block_cells < 1:
            raise ValueError(f"--max-block-cells must be >= 1, got {options.max_block_cells}.")
    if options.prior_share is not None:
        if not 0 <= options.prior_share <= 1:
            raise ValueError(f"--prior-share must be in [0, 1], got {options.prior_share}.")
        if options.pipeline not in ("groove", "auto"):
            raise ValueError(f"--prior-share needs --pipeline groove (pipeline {options.pipeline!r} has no guide).")
    if options.n_latent < 1 or options.max_epochs < 1:
        raise ValueError(f"--n-latent and --max-epochs must be >= 1, got {options.n_latent} and {options.max_epochs}.")
    if options.accelerator not in ("cpu", "gpu", "auto"):
        raise ValueError(f"--device must be cpu, gpu or auto, got {options.accelerator!r}.")
    if options.save_model is not None:
        if Path(options.save_model).is_file():
            raise ValueError(f"--save-model {str(options.save_model)!r} is a file; give a folder.")
        if options.pipeline != "groove":
            raise ValueError(f"--save-model needs --pipeline groove (pipeline {options.pipeline!r} trains no model).")
    if len(options.modalities) != 2 or options.modalities[0] == options.modalities[1]:
        raise ValueError(f"--modalities needs two different modalities, got {list(options.modalities)}.")


def prepare(mdata: md.MuData | None, options: RunOptions) -> MatchPlan:
    """Check every option and the data; nothing is trained yet.

    Every error raised here is bad input (``ValueError``, ``KeyError``, ``TypeError``,
    ``FileNotFoundError``), raised before any training starts.
    """
    check_options(options)
    params = {} if options.max_block_cells is None else {"max_block_cells": options.max_block_cells}
    train = {
        "max_epochs": options.max_epochs,
        "accelerator": options.accelerator,
        "early_stopping": options.early_stopping,
        "enable_progress_bar": options.progress_bar,
    }
    return prepare_match(
        mdata,
        options.perturbation_key,
        options.pipeline,
        modalities=options.modalities,
        layers=options.layers,
        impute=options.impute,
        aligner=options.method,
        aligner_params=params,
        train_kwargs=train,
        model_kwargs={"n_latent": options.n_latent},
        setup_kwargs={
            key: value
            for key in ("control_label", "group_key", "batch_key", "null_perturbations", "unlabeled")
            if (value := getattr(options, key)) is not None
        },
        seed=options.seed,
        top_k=options.top_k,
        prior_share=options.prior_share,
    )


def execute(plan: MatchPlan, options: RunOptions) -> RunResult:
    """Train, align, impute and score a plan made by :func:`prepare`; results go into its MuData."""
    result = run_match(plan)
    if options.save_model is not None:
        result.model.save(str(options.save_model), overwrite=True, save_anndata=False)
    mdata = plan.mdata
    m1, m2 = options.modalities
    truth = DatasetTruth.from_mudata(mdata, options.perturbation_key, options.modalities)
    scores = {}
    if truth is not None:
        shared = result.representations if result.shared_space else None
        imputed = result.imputed.get((m1, m2))
        scores = score_against_truth(truth, latents=shared, coupling=result.coupling, imputed=imputed)
        mdata.uns["groove"]["metrics"] = scores
    return RunResult(mdata, result, scores)


def run(mdata: md.MuData | None = None, **options) -> RunResult:
    """Set up, train, align and impute; write results into ``mdata`` and score them if truth exists.

    Parameters
    ----------
    mdata
        Weakly paired MuData; default :func:`default_dataset`.
    **options
        Fields of :class:`RunOptions`: ``perturbation_key``, ``pipeline`` (see
        :func:`scgroove.tl.match`), ``modalities``, ``layers`` (as in
        :meth:`scgroove.GROOVE.setup_mudata`), ``n_latent``, ``max_epochs``, ``early_stopping``,
        ``method`` (labeled aligner replacing the pipeline's own), ``accelerator`` (``"cpu"``,
        ``"gpu"``, ``"auto"``), ``progress_bar``, ``seed``, ``impute`` (``"forward"``: modality 2
        for the cells of modality 1, ``"reverse"``, ``"both"``, ``"none"``), ``save_model`` (a
        folder for :meth:`scgroove.GROOVE.save`), ``max_block_cells`` (split larger labels into
        random sub-blocks when aligning, see :func:`scgroove.align.labeled_ot`).
    """
    options = RunOptions(**options)
    options.modalities = tuple(options.modalities)
    plan = prepare(mdata if mdata is not None else default_dataset(options.seed), options)
    return execute(plan, options)


def write_outputs(result: RunResult, perturbation_key: str, out: Path | None, figure: Path | None) -> None:
    """Write the annotated MuData and the summary figure."""
    from scgroove import pl, tl

    if figure is not None:
        import matplotlib

        matplotlib.use("Agg")
        if result.match.shared_space:  # the modalities mix where each cell met its partners halfway
            tl.joint_umap(result.mdata, use_rep=COUPLED_MATCH_KEY)
        fig = pl.summary(result.mdata, perturbation_key, result.metrics)
        figure.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(figure, dpi=120)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        with md.set_options(pull_on_update=False):  # mudata 0.4's behaviour, without its FutureWarning
            result.mdata.write_h5mu(out)

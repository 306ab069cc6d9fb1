"""The main job: setup, train, align, impute, score and plot, on any weakly paired MuData."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import mudata as md

from scgroove.benchmark._truth import DatasetTruth, score_against_truth
from scgroove.datasets import simulate
from scgroove.model import GROOVE

logger = logging.getLogger(__name__)


@dataclass
class RunResult:
    """What :func:`run` produced."""

    mdata: md.MuData
    model: GROOVE
    metrics: dict[str, float] = field(default_factory=dict)
    """Scores against the hidden truth when the data have one, by the ids of
    :data:`scgroove.metrics.METRIC_NAMES` (the same definitions as the benchmark's)."""


def default_dataset(seed: int = 0) -> md.MuData:
    """The built-in example: a simulated screen of 20 perturbations + control, RNA counts and protein."""
    return simulate(
        n_perturbations=20, cells_per_perturbation=100, shared_fraction=0.8, keep_fraction=(0.9, 0.85), seed=seed
    )


@dataclass
class RunOptions:
    """Everything the main job needs to know, checked by :func:`prepare` before any training."""

    perturbation_key: str = "perturbation"
    modalities: tuple[str, str] = ("rna", "protein")
    layers: dict[str, str] | None = None
    n_latent: int = 32
    max_epochs: int = 100
    method: str = "labeled_ot"
    accelerator: str = "auto"
    progress_bar: bool = True
    seed: int = 0
    early_stopping: bool = False
    impute: str = "forward"
    save_model: Path | None = None


IMPUTE_DIRECTIONS = ("forward", "reverse", "both", "none")


def check_options(options: RunOptions) -> None:
    """Refuse options that would fail after training; raises ``ValueError`` naming the option."""
    from scgroove.align import METHODS

    if options.method not in METHODS:
        raise ValueError(f"--method {options.method!r} is not an aligner; choose from {', '.join(METHODS)}.")
    if options.impute not in IMPUTE_DIRECTIONS:
        raise ValueError(f"--impute {options.impute!r}: choose from {', '.join(IMPUTE_DIRECTIONS)}.")
    if options.n_latent < 1 or options.max_epochs < 1:
        raise ValueError(f"--n-latent and --max-epochs must be >= 1, got {options.n_latent} and {options.max_epochs}.")
    if options.accelerator not in ("cpu", "gpu", "auto"):
        raise ValueError(f"--device must be cpu, gpu or auto, got {options.accelerator!r}.")
    if options.save_model is not None and Path(options.save_model).is_file():
        raise ValueError(f"--save-model {str(options.save_model)!r} is a file; give a folder.")
    if len(options.modalities) != 2 or options.modalities[0] == options.modalities[1]:
        raise ValueError(f"--modalities needs two different modalities, got {list(options.modalities)}.")


def prepare(mdata: md.MuData | None, options: RunOptions) -> GROOVE:
    """Check every option and the data, set up and build the model; nothing is trained yet.

    Every error raised here is bad input (``ValueError``, ``KeyError``, ``TypeError``,
    ``FileNotFoundError``), raised before any training starts.
    """
    import scvi

    check_options(options)
    scvi.settings.seed = options.seed
    GROOVE.setup_mudata(
        mdata, perturbation_key=options.perturbation_key, modalities=options.modalities, layers=options.layers
    )
    return GROOVE(mdata, n_latent=options.n_latent)


def execute(model: GROOVE, options: RunOptions) -> RunResult:
    """Train, align, impute and score a model built by :func:`prepare`; results go into its MuData."""
    mdata = model.adata
    m1, m2 = options.modalities
    model.train(
        max_epochs=options.max_epochs,
        accelerator=options.accelerator,
        early_stopping=options.early_stopping,
        enable_progress_bar=options.progress_bar,
    )
    if options.save_model is not None:
        model.save(str(options.save_model), overwrite=True, save_anndata=False)
    model.write_latent(mdata)
    coupling = model.align(method=options.method)
    directions = {"forward": [(m1, m2)], "reverse": [(m2, m1)], "both": [(m1, m2), (m2, m1)], "none": []}
    imputed = {
        (source, target): model.impute(source, target, method="coupling")
        for source, target in directions[options.impute]
    }
    truth = DatasetTruth.from_mudata(mdata, options.perturbation_key, options.modalities)
    scores = {}
    if truth is not None:
        latents = tuple(mdata.mod[m].obsm["X_groove"] for m in options.modalities)
        scores = score_against_truth(truth, latents=latents, coupling=coupling, imputed=imputed.get((m1, m2)))
        mdata.uns["groove"]["metrics"] = scores
    return RunResult(mdata, model, scores)


def run(mdata: md.MuData | None = None, **options) -> RunResult:
    """Set up, train, align and impute; write results into ``mdata`` and score them if truth exists.

    Parameters
    ----------
    mdata
        Weakly paired MuData; default :func:`default_dataset`.
    **options
        Fields of :class:`RunOptions`: ``perturbation_key``, ``modalities``, ``layers`` (as in
        :meth:`scgroove.GROOVE.setup_mudata`), ``n_latent``, ``max_epochs``, ``early_stopping``,
        ``method`` (aligner of :meth:`scgroove.GROOVE.align`), ``accelerator`` (``"cpu"``,
        ``"gpu"``, ``"auto"``), ``progress_bar``, ``seed``, ``impute`` (``"forward"``: modality 2
        for the cells of modality 1, ``"reverse"``, ``"both"``, ``"none"``), ``save_model`` (a
        folder for :meth:`scgroove.GROOVE.save`).
    """
    options = RunOptions(**options)
    options.modalities = tuple(options.modalities)
    model = prepare(mdata if mdata is not None else default_dataset(options.seed), options)
    return execute(model, options)


def write_outputs(result: RunResult, perturbation_key: str, out: Path | None, figure: Path | None) -> None:
    """Write the annotated MuData and the summary figure."""
    from scgroove import pl, tl

    if figure is not None:
        import matplotlib

        matplotlib.use("Agg")
        tl.joint_umap(result.mdata)
        fig = pl.summary(result.mdata, perturbation_key, result.metrics)
        figure.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(figure, dpi=120)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        with md.set_options(pull_on_update=False):  # mudata 0.4's behaviour, without its FutureWarning
            result.mdata.write_h5mu(out)

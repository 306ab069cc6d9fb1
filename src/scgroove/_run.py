"""The main job: setup, train, align, impute, score and plot, on any weakly paired MuData."""

from __future__ import annotations

import logging
from collections.abc import Sequence
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


def run(
    mdata: md.MuData | None = None,
    perturbation_key: str = "perturbation",
    modalities: Sequence[str] = ("rna", "protein"),
    layers: dict[str, str] | None = None,
    n_latent: int = 32,
    max_epochs: int = 100,
    method: str = "labeled_ot",
    accelerator: str = "auto",
    progress_bar: bool = True,
    seed: int = 0,
) -> RunResult:
    """Set up, train, align and impute; write results into ``mdata`` and score them if truth exists.

    Parameters
    ----------
    mdata
        Weakly paired MuData; default :func:`default_dataset`.
    perturbation_key, modalities, layers
        As in :meth:`scgroove.GROOVE.setup_mudata`.
    n_latent, max_epochs
        Model size and training length.
    method
        Aligner for :meth:`scgroove.GROOVE.align`.
    accelerator
        ``"cpu"``, ``"gpu"`` or ``"auto"``.
    progress_bar
        Show Lightning's progress bar.
    seed
        ``scvi.settings.seed`` for the run.
    """
    import scvi

    if mdata is None:
        mdata = default_dataset(seed)
    scvi.settings.seed = seed
    GROOVE.setup_mudata(mdata, perturbation_key=perturbation_key, modalities=modalities, layers=layers)
    model = GROOVE(mdata, n_latent=n_latent)
    model.train(max_epochs=max_epochs, accelerator=accelerator, enable_progress_bar=progress_bar)
    model.write_latent(mdata)
    coupling = model.align(method=method)
    imputed = model.impute(modalities[0], modalities[1], method="coupling", coupling=coupling)
    truth = DatasetTruth.from_mudata(mdata, perturbation_key, modalities)
    scores = {}
    if truth is not None:
        latents = tuple(mdata.mod[m].obsm["X_groove"] for m in modalities)
        scores = score_against_truth(truth, latents=latents, coupling=coupling, imputed=imputed)
        mdata.uns["groove"]["metrics"] = scores
    return RunResult(mdata, model, scores)


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
        result.mdata.write_h5mu(out)

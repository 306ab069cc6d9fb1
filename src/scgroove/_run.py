"""The main job: setup, train, align, impute, score and plot, on any weakly paired MuData."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import mudata as md
import numpy as np
from sklearn.decomposition import PCA

from scgroove import metrics as sm
from scgroove.datasets import simulate, true_matching
from scgroove.datasets._simulate import TRUTH_KEY
from scgroove.model import GROOVE

logger = logging.getLogger(__name__)


@dataclass
class RunResult:
    """What :func:`run` produced."""

    mdata: md.MuData
    model: GROOVE
    metrics: dict[str, float] = field(default_factory=dict)


def default_dataset(seed: int = 0) -> md.MuData:
    """The built-in example: a simulated screen of 20 perturbations + control, RNA counts and protein."""
    return simulate(
        n_perturbations=20, cells_per_perturbation=100, shared_fraction=0.8, keep_fraction=(0.9, 0.85), seed=seed
    )


def _pca(x, n_components: int = 30) -> np.ndarray:
    x = np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=np.float64)
    return PCA(min(n_components, *x.shape) - 1 or 1, random_state=0).fit_transform(x)


def score_against_truth(
    mdata: md.MuData, modalities: Sequence[str], perturbation_key: str, coupling=None, imputed=None
) -> dict[str, float]:
    """Metrics that need the hidden truth (``obs["true_cell"]``); empty when there is none."""
    m1, m2 = modalities
    if any(TRUTH_KEY not in mdata.mod[m].obs for m in modalities):
        return {}
    match = true_matching(mdata, modalities)
    if (match < 0).all():
        return {}
    z1, z2 = mdata.mod[m1].obsm["X_groove"], mdata.mod[m2].obsm["X_groove"]
    labels1, labels2 = mdata.mod[m1].obs[perturbation_key], mdata.mod[m2].obs[perturbation_key]
    scores = {
        "FOSCTTM (latent)": sm.foscttm(z1, z2, match),
        "within-label FOSCTTM (latent)": sm.within_label_foscttm(z1, z2, labels1, labels2, match),
        "label transfer accuracy": sm.label_transfer_accuracy(z1, z2, labels1, labels2),
    }
    if coupling is not None:
        target_space = _pca(np.log1p(mdata.mod[m2].X) if mdata.mod[m2].X.min() >= 0 else mdata.mod[m2].X)
        scores["trace"] = sm.trace(coupling, match)
        scores["trace, chance level"] = sm.trace_chance(labels1, labels2, match)
        scores[f"barycentric FOSCTTM ({m2} PCA)"] = sm.barycentric_foscttm(coupling, target_space, match)
    if imputed is not None:
        paired = np.flatnonzero((match >= 0) & np.isfinite(imputed.to_numpy()).all(1))
        observed = mdata.mod[m2].X[match[paired]]
        observed = observed.toarray() if hasattr(observed, "toarray") else observed
        imputation = sm.imputation_scores(imputed.to_numpy()[paired], observed, labels1.to_numpy()[paired])
        scores[f"imputed {m2}: per-feature Pearson"] = imputation["feature_pearson"]
        scores[f"imputed {m2}: per-cell Pearson"] = imputation["cell_pearson"]
    return {name: float(value) for name, value in scores.items()}


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
    coupling = model.align(method=method)
    imputed = model.impute(modalities[0], modalities[1], method="coupling", coupling=coupling)
    scores = score_against_truth(mdata, modalities, perturbation_key, coupling, imputed)
    if scores:
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

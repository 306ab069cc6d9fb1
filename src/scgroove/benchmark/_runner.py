"""The combinatorial benchmark: learners x aligners x datasets x seeds -> one tidy table."""

from __future__ import annotations

import contextlib
import json
import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from scgroove import metrics
from scgroove.align import METHODS, SHARED_SPACE, align
from scgroove.benchmark._datasets import DATASETS, BenchmarkData
from scgroove.benchmark._learners import LEARNERS, Representation, pca_per_modality
from scgroove.datasets import true_matching

logger = logging.getLogger(__name__)
COLUMNS = ["dataset", "seed", "learner", "aligner", "epsilon", "metric", "value"]
DEFAULT_EPSILONS = {
    "labeled_ot": [0.01, 0.05, 0.2],
    "ot": [0.01, 0.05, 0.2],
    "labeled_gw": [0.005, 0.01, 0.05],
    "gw": [0.005, 0.01, 0.05],
    "labeled_fgw": [0.005, 0.01, 0.05],
    "labeled_fgw_auto": [0.005, 0.01, 0.05],
    "labeled_coot": [0.01, 0.05, 0.2],
    "coot": [0.01, 0.05, 0.2],
}
DEFAULT_EPSILON = {
    "labeled_ot": 0.05,
    "ot": 0.05,
    "labeled_gw": 0.01,
    "gw": 0.01,
    "labeled_fgw": 0.01,
    "labeled_fgw_auto": 0.01,
    "labeled_coot": 0.05,
    "coot": 0.05,
}


#: Structure weights tried by ``labeled_fgw_auto`` in the benchmark.
AUTO_ALPHAS = (0.0, 0.5, 1.0)
#: Benchmark aligners beyond :data:`scgroove.align.METHODS`: labeled FGW with the structure weight
#: chosen by the held-out label resolution rule (no ground truth).
ALIGNER_METHOD = {"labeled_fgw_auto": "labeled_fgw"}
#: Fused aligners (the latent cost plus each modality's PCA structure) and their fixed options.
FUSED = {"labeled_fgw": {}, "labeled_fgw_auto": {"alpha": "auto", "alpha_grid": AUTO_ALPHAS, "selection_repeats": 2}}
ALIGNERS = (*METHODS, *ALIGNER_METHOD)


def _cell_file(out_dir: Path, dataset: str, seed: int, learner: str) -> Path:
    return out_dir / "cells" / f"{dataset}__seed{seed}__{learner}.csv"


@contextlib.contextmanager
def quiet_libraries():
    """Silence the per-model chatter of Lightning, scvi-tools, anndata and mudata in grid runs.

    Hundreds of models are trained: their device banners, tips and merge warnings would bury the
    benchmark's own log. Warnings raised by scgroove itself still show.
    """
    loggers = [logging.getLogger(name) for name in ("lightning", "lightning.pytorch", "lightning.fabric", "scvi")]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"(mudata|anndata|lightning|scvi|torch)(\.|$)")
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


def make_dataset(dataset: str, seed: int, dataset_options: dict | None = None):
    """Benchmark dataset ``dataset`` for ``seed``; ``dataset_options`` reach simulated datasets only."""
    options = dataset_options or {}
    return DATASETS[dataset](seed, **options) if dataset.startswith("sim_") else DATASETS[dataset](seed)


def run_cell(
    dataset: str,
    seed: int,
    learner: str,
    aligners: Sequence[str],
    epsilons: dict[str, list[float]],
    epochs: int,
    dataset_options: dict | None = None,
) -> pd.DataFrame:
    """One grid cell: build the dataset, learn one representation, run every aligner and epsilon on it.

    Metrics (rows of the tidy table): ``trace`` and ``bary_foscttm`` (barycentric FOSCTTM in
    modality 2's own PCA space) per aligner/epsilon; ``latent_foscttm`` and
    ``within_label_foscttm`` of shared representations; ``train_seconds``.
    """
    with quiet_libraries():
        data = make_dataset(dataset, seed, dataset_options)
        start = time.perf_counter()
        rep = LEARNERS[learner](data.mdata, data.key, data.modalities, seed, epochs)
        rows = [("", np.nan, "train_seconds", time.perf_counter() - start)]
        rows += evaluate_representation(data, rep, aligners, epsilons)
    return pd.DataFrame([(dataset, seed, learner, *row) for row in rows], columns=COLUMNS)


def eps_value(epsilon: float | None) -> float:
    return np.nan if epsilon is None else epsilon


@dataclass
class DatasetTruth:
    """What scoring needs of a dataset, computed once: the true matching, labels, PCA spaces."""

    match: np.ndarray
    labels1: np.ndarray
    labels2: np.ndarray
    source_space: np.ndarray
    target_space: np.ndarray

    @classmethod
    def of(cls, data: BenchmarkData) -> DatasetTruth:
        labels = [data.mdata.mod[m].obs[data.key].astype(str).to_numpy() for m in data.modalities]
        spaces = pca_per_modality(data.mdata, data.modalities)
        return cls(true_matching(data.mdata, data.modalities), *labels, *spaces)


def evaluate_representation(
    data: BenchmarkData,
    rep: Representation,
    aligners: Sequence[str],
    epsilons: dict[str, list[float]],
    truth: DatasetTruth | None = None,
) -> list[tuple]:
    """Rows ``(aligner, epsilon, metric, value)`` of one representation of ``data`` against its truth.

    ``truth`` (:meth:`DatasetTruth.of`) saves recomputing it when several representations of
    one dataset are scored.
    """
    truth = truth if truth is not None else DatasetTruth.of(data)
    match, labels1, labels2 = truth.match, truth.labels1, truth.labels2
    source_space, target_space = truth.source_space, truth.target_space
    rows = []
    if rep.shared:
        rows.append(("", np.nan, "latent_foscttm", metrics.foscttm(rep.x1, rep.x2, match)))
        within = metrics.within_label_foscttm(rep.x1, rep.x2, labels1, labels2, match)
        rows.append(("", np.nan, "within_label_foscttm", within))
    for aligner in aligners:
        if ALIGNER_METHOD.get(aligner, aligner) in SHARED_SPACE and not rep.shared:
            continue
        method = ALIGNER_METHOD.get(aligner, aligner)
        for epsilon in epsilons.get(aligner, [None]):
            eps = eps_value(epsilon)
            params = {} if epsilon is None else {"epsilon": epsilon}
            if aligner in FUSED:  # the latent cost fused with each modality's own PCA geometry
                params.update(structure1=source_space, structure2=target_space)
            if aligner == "labeled_fgw_auto":  # the rule sees latents re-learnt from merged labels
                rule = {**FUSED[aligner], "relearn": rep.relearn}
                coupling = align(rep.x1, rep.x2, labels1, labels2, method=method, **params, **rule)
                chosen = coupling.params["alpha"]
                rows.append((aligner, eps, "chosen_alpha", chosen))
                for alpha in AUTO_ALPHAS:  # every candidate on the real labels: how good was the choice?
                    candidate = (
                        coupling
                        if alpha == chosen
                        else align(rep.x1, rep.x2, labels1, labels2, method=method, alpha=alpha, **params)
                    )
                    bary = metrics.barycentric_foscttm(candidate, target_space, match)
                    rows.append((aligner, eps, f"bary_foscttm_alpha_{alpha}", bary))
            else:
                coupling = align(rep.x1, rep.x2, labels1, labels2, method=method, **params)
            rows.append((aligner, eps, "trace", metrics.trace(coupling, match)))
            rows.append((aligner, eps, "bary_foscttm", metrics.barycentric_foscttm(coupling, target_space, match)))
    return rows


def run_benchmark(
    learners: Sequence[str],
    aligners: Sequence[str],
    datasets: Sequence[str],
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    epsilons: dict[str, list[float]] | None = None,
    epochs: int = 50,
    out_dir: str | Path | None = None,
    backend: str = "serial",
    ray_address: str | None = None,
    dataset_options: dict | None = None,
) -> pd.DataFrame:
    """Run the grid and return the tidy table (one row per dataset/seed/learner/aligner/epsilon/metric).

    Parameters
    ----------
    learners, aligners, datasets
        Names from :data:`LEARNERS`, :data:`ALIGNERS` (:data:`scgroove.align.METHODS` and
        ``labeled_fgw_auto``) and :data:`DATASETS`. ``labeled_fgw`` and ``labeled_fgw_auto`` fuse
        the latent cost with each modality's own 30-PC geometry.
    seeds
        Seeds: each changes the simulated data (or the hidden 85% subsets of real data) and the
        training.
    epsilons
        Epsilon grid per aligner (default :data:`DEFAULT_EPSILONS`); every value is reported, so
        summaries can give both the default and the best epsilon.
    epochs
        GROOVE training epochs.
    out_dir
        Where finished grid cells are stored (``cells/*.csv``) and the table written
        (``results.csv``). Cells already there are not recomputed: an interrupted run resumes.
        The settings that change a cell's numbers (aligners, epsilons, epochs, dataset options)
        are kept in ``grid.json``; resuming with other settings raises instead of mixing results.
    backend
        ``"serial"`` or ``"ray"`` (one Ray task per cell; ``ray_address`` to join a cluster,
        default a local Ray).
    dataset_options
        Keyword arguments of :func:`scgroove.datasets.simulate` for the simulated datasets
        (e.g. ``{"cells_per_perturbation": 40}``); real datasets are used as they are.
    """
    for kind, names, known in (
        ("learner", learners, LEARNERS),
        ("aligner", aligners, ALIGNERS),
        ("dataset", datasets, DATASETS),
    ):
        unknown = [name for name in names if name not in known]
        if unknown:
            raise ValueError(f"Unknown {kind}(s) {unknown}; choose from {list(known)}.")
    epsilons = {**DEFAULT_EPSILONS, **(epsilons or {})}
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        _check_grid_settings(
            out,
            {
                "aligners": list(aligners),
                "epsilons": epsilons,
                "epochs": epochs,
                "dataset_options": dataset_options or {},
            },
        )
    cells = [(d, s, learner) for d in datasets for s in seeds for learner in learners]
    done: list[pd.DataFrame] = []
    todo = []
    for cell in cells:
        path = _cell_file(out, *cell) if out is not None else None
        if path is not None and path.exists():
            done.append(pd.read_csv(path).fillna({"aligner": ""}))  # CSV turns the empty aligner into NaN
        else:
            todo.append(cell)
    logger.info("benchmark: %d cells, %d already done", len(cells), len(cells) - len(todo))
    if backend == "serial":
        results = (run_cell(d, s, learner, aligners, epsilons, epochs, dataset_options) for d, s, learner in todo)
    elif backend == "ray":
        results = _run_ray(todo, aligners, epsilons, epochs, dataset_options, ray_address)
    else:
        raise ValueError(f"backend must be 'serial' or 'ray', got {backend!r}.")
    for cell, table in zip(todo, results, strict=True):
        if out is not None:
            path = _cell_file(out, *cell)
            path.parent.mkdir(parents=True, exist_ok=True)
            table.to_csv(path, index=False)
        done.append(table)
    table = pd.concat(done, ignore_index=True) if done else pd.DataFrame(columns=COLUMNS)
    if out is not None:
        table.to_csv(out / "results.csv", index=False)
    return table


def _check_grid_settings(out: Path, settings: dict) -> None:
    """Refuse to resume in ``out`` if its finished cells were computed with other settings."""
    path = out / "grid.json"
    settings = json.loads(json.dumps(settings))  # tuples -> lists, as stored
    if path.exists():
        stored = json.loads(path.read_text())
        changed = sorted(key for key in settings if stored.get(key) != settings[key])
        if changed:
            raise ValueError(
                f"{out} holds results computed with other {changed} (see {path}); "
                "use a new out_dir or delete it to start over."
            )
    else:
        out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings, indent=1))


def _run_ray(cells, aligners, epsilons, epochs, dataset_options, address):
    try:
        import ray
    except ImportError as error:
        raise ImportError("backend='ray' needs Ray: pip install 'ray[default]'.") from error
    if not ray.is_initialized():
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    task = ray.remote(run_cell)
    return ray.get([task.remote(d, s, learner, aligners, epsilons, epochs, dataset_options) for d, s, learner in cells])

"""The combinatorial benchmark: learners x aligners x datasets x seeds -> one tidy table."""

from __future__ import annotations

import contextlib
import json
import logging
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from scgroove._ray import ray_session
from scgroove.align import SHARED_SPACE, align, select_by_label_resolution, with_alpha_selection
from scgroove.benchmark._aligners import ALIGNERS, DEFAULT_EPSILONS, BenchmarkAligner
from scgroove.benchmark._config import check_learner_epochs, check_names
from scgroove.benchmark._datasets import DATASETS, BenchmarkData
from scgroove.benchmark._learners import LEARNERS, Representation
from scgroove.benchmark._truth import DatasetTruth, coupled_mixing, score_against_truth

logger = logging.getLogger(__name__)
COLUMNS = ["dataset", "seed", "learner", "aligner", "epsilon", "metric", "value"]


def _task_file(out_dir: Path, dataset: str, seed: int, learner: str) -> Path:
    return out_dir / "tasks" / f"{dataset}__seed{seed}__{learner}.csv"


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


def make_dataset(dataset: str, seed: int, dataset_options: dict | None = None) -> BenchmarkData:
    """Benchmark dataset ``dataset`` for ``seed``; ``dataset_options`` reach simulated datasets only."""
    recipe = DATASETS[dataset]
    return recipe(seed, **(dataset_options or {})) if recipe.simulated else recipe(seed)


def run_task(
    dataset: str,
    seed: int,
    learner: str,
    aligners: Sequence[str],
    epsilons: dict[str, list[float]],
    epochs: int,
    dataset_options: dict | None = None,
) -> pd.DataFrame:
    """One task of the grid: build the dataset, learn one representation, run every aligner and epsilon on it.

    Metrics (rows of the tidy table, ids of :data:`scgroove.metrics.METRIC_NAMES`): ``trace``,
    ``trace_chance``, ``bary_foscttm`` (barycentric FOSCTTM in modality 2's own PCA space),
    ``imputation_cell_pearson`` and ``imputation_feature_pearson`` (the coupling's barycentric
    imputation of modality 2) and ``align_seconds`` per aligner/epsilon; ``latent_foscttm``,
    ``within_label_foscttm``, ``label_transfer_accuracy`` and ``modality_mixing`` of shared
    representations;
    ``train_seconds`` of the learner.
    """
    with quiet_libraries():
        data = make_dataset(dataset, seed, dataset_options)
        start = time.perf_counter()
        rep = LEARNERS[learner](data.mdata, data.key, data.modalities, seed, epochs)
        rows = [("", np.nan, "train_seconds", time.perf_counter() - start)]
        rows += evaluate_representation(data, rep, aligners, epsilons)
    return pd.DataFrame([(dataset, seed, learner, *row) for row in rows], columns=COLUMNS)


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
    rows = []
    if rep.shared:
        scores = score_against_truth(truth, latents=(rep.x1, rep.x2))
        rows += [("", np.nan, metric, value) for metric, value in scores.items()]
    for name in aligners:
        aligner = ALIGNERS[name]
        if aligner.method in SHARED_SPACE and not rep.shared:
            continue
        for epsilon in epsilons.get(name, [None]):
            params = {} if epsilon is None else {"epsilon": epsilon}
            if aligner.fused:  # the latent cost fused with each modality's own PCA geometry
                params.update(structure1=truth.source_space, structure2=truth.target_space)
            eps = np.nan if epsilon is None else epsilon
            start = time.perf_counter()
            if aligner.relearn_rule:
                coupling = _alpha_by_relearnt_rule(rep, truth, aligner, params)
            elif aligner.solver is not None:
                coupling = aligner.solver(rep.x1, rep.x2, truth.labels1, truth.labels2, **params)
            else:
                coupling = align(rep.x1, rep.x2, truth.labels1, truth.labels2, method=aligner.method, **params)
            rows.append((name, eps, "align_seconds", time.perf_counter() - start))
            if aligner.relearn_rule:
                rows += _alpha_candidate_rows(rep, truth, aligner, params, coupling, name, eps)
            imputed = coupling.barycentric_projection(truth.target_values)
            scores = score_against_truth(truth, coupling=coupling, imputed=imputed)
            if rep.shared:  # the latent moved halfway to the coupling's partners: does it mix?
                scores["coupled_modality_mixing"] = coupled_mixing(truth, (rep.x1, rep.x2), coupling)
            rows += [(name, eps, metric, value) for metric, value in scores.items()]
    return rows


def _alpha_by_relearnt_rule(rep: Representation, truth: DatasetTruth, aligner: BenchmarkAligner, params: dict):
    """``labeled_fgw(alpha="auto")`` where every merge of labels is aligned on latents re-learnt from it.

    A latent trained on the labels resolves them trivially, so the held-out label resolution rule
    is only fair to it when the latent never saw the labels it is scored on: ``rep.relearn``
    learns it again from the merged labels, once per merge (the candidates share it).
    """
    options = {k: v for k, v in aligner.options.items() if k not in ("alpha", "alpha_grid", "selection_repeats")}
    relearnt: dict[int, tuple] = {}

    def align_with(coarse1, coarse2, alpha):
        z1, z2 = rep.x1, rep.x2
        if rep.relearn is not None:
            key = hash((tuple(coarse1), tuple(coarse2)))
            if key not in relearnt:
                relearnt[key] = rep.relearn(coarse1, coarse2)
            z1, z2 = relearnt[key]
        return align(z1, z2, coarse1, coarse2, method=aligner.method, alpha=alpha, **options, **params)

    selection = select_by_label_resolution(
        align_with,
        truth.labels1,
        truth.labels2,
        {"alpha": list(aligner.options["alpha_grid"])},
        n_repeats=aligner.options["selection_repeats"],
    )
    best = selection.best["alpha"]
    coupling = align(rep.x1, rep.x2, truth.labels1, truth.labels2, method=aligner.method, alpha=best, **params)
    return with_alpha_selection(coupling, selection)


def _alpha_candidate_rows(rep, truth, aligner, params, chosen, name, eps) -> list[tuple]:
    """The chosen alpha, and each candidate's barycentric FOSCTTM on the real labels (how good was the choice)."""
    rows = [(name, eps, "chosen_alpha", chosen.params["alpha"])]
    for alpha in aligner.options["alpha_grid"]:
        candidate = (
            chosen
            if alpha == chosen.params["alpha"]
            else align(rep.x1, rep.x2, truth.labels1, truth.labels2, method=aligner.method, alpha=alpha, **params)
        )
        bary = score_against_truth(truth, coupling=candidate)["bary_foscttm"]
        rows.append((name, eps, f"bary_foscttm_alpha_{alpha}", bary))
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
    learner_epochs: dict[str, int] | None = None,
) -> pd.DataFrame:
    """Run the grid and return the tidy table (one row per dataset/seed/learner/aligner/epsilon/metric).

    Parameters
    ----------
    learners, aligners, datasets
        Names from :data:`LEARNERS`, :data:`ALIGNERS` (the methods of
        :func:`scgroove.align.align`, and ``labeled_fgw_auto``: ``labeled_fgw`` with
        ``alpha="auto"`` on re-learnt latents) and :data:`DATASETS`. ``labeled_fgw`` and
        ``labeled_fgw_auto`` fuse the latent cost with each modality's own 30-PC geometry.
    seeds
        Seeds: each changes the simulated data (or the hidden 85% subsets of real data) and the
        training.
    epsilons
        Epsilon grid per aligner (default :data:`DEFAULT_EPSILONS`); every value is reported, so
        summaries can give both the default and the best epsilon.
    epochs
        Training epochs of every learner that trains (GROOVE and its variants, the peers).
    out_dir
        Where finished tasks (one dataset, seed and learner each) are stored (``tasks/*.csv``)
        and the table written (``results.csv``). Tasks already there are not recomputed: an
        interrupted run resumes. The settings that change a task's numbers (aligners, epsilons,
        epochs, dataset options) are kept in ``grid.json``; resuming with other settings raises
        instead of mixing results.
    backend
        ``"serial"`` or ``"ray"`` (one Ray task per benchmark task; ``ray_address`` to join a
        cluster, default a local Ray).
    dataset_options
        Keyword arguments of :func:`scgroove.datasets.simulate` for the simulated datasets
        (e.g. ``{"cells_per_perturbation": 40}``); real datasets are used as they are.
    learner_epochs
        Epochs of some learners instead of ``epochs`` (e.g. ``{"scconfluence": 300}``: a peer
        that learns more slowly than GROOVE).
    """
    check_names(learners, aligners, datasets)
    learner_epochs = dict(learner_epochs or {})
    check_learner_epochs(learner_epochs, learners)
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
                "learner_epochs": learner_epochs,
            },
        )
    tasks = [(d, s, learner) for d in datasets for s in seeds for learner in learners]
    done: list[pd.DataFrame] = []
    todo = []
    for task in tasks:
        path = _task_file(out, *task) if out is not None else None
        if path is not None and path.exists():
            done.append(pd.read_csv(path).fillna({"aligner": ""}))  # CSV turns the empty aligner into NaN
        else:
            todo.append(task)
    logger.info("benchmark: %d tasks, %d already done", len(tasks), len(tasks) - len(todo))
    todo = [(d, s, learner, learner_epochs.get(learner, epochs)) for d, s, learner in todo]
    if backend == "serial":
        results = (run_task(d, s, learner, aligners, epsilons, n, dataset_options) for d, s, learner, n in todo)
    elif backend == "ray":
        results = _run_ray(todo, aligners, epsilons, dataset_options, ray_address)
    else:
        raise ValueError(f"backend must be 'serial' or 'ray', got {backend!r}.")
    for task, table in zip(todo, results, strict=True):
        if out is not None:
            path = _task_file(out, *task[:3])
            path.parent.mkdir(parents=True, exist_ok=True)
            table.to_csv(path, index=False)
        done.append(table)
    table = pd.concat(done, ignore_index=True) if done else pd.DataFrame(columns=COLUMNS)
    if out is not None:
        table.to_csv(out / "results.csv", index=False)
    return table


def _check_grid_settings(out: Path, settings: dict) -> None:
    """Refuse to resume in ``out`` if its finished tasks were computed with other settings."""
    path = out / "grid.json"
    settings = json.loads(json.dumps(settings))  # tuples -> lists, as stored
    if path.exists():
        stored = {"learner_epochs": {}, **json.loads(path.read_text())}  # folders from before learner_epochs
        changed = sorted(key for key in settings if stored.get(key) != settings[key])
        if changed:
            raise ValueError(
                f"{out} holds results computed with other {changed} (see {path}); "
                "use a new out_dir or delete it to start over."
            )
    else:
        out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings, indent=1))


def _run_ray(tasks, aligners, epsilons, dataset_options, address):
    ray = ray_session(address)
    remote = ray.remote(run_task)
    return ray.get([remote.remote(d, s, learner, aligners, epsilons, n, dataset_options) for d, s, learner, n in tasks])

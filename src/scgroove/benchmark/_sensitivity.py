"""Hyperparameter sensitivity: a grid over GROOVE's backtranslation weight and temperature."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from scgroove.benchmark._aligners import DEFAULT_EPSILON
from scgroove.benchmark._learners import groove_learner
from scgroove.benchmark._runner import evaluate_representation, make_dataset, quiet_libraries
from scgroove.benchmark._truth import DatasetTruth

SENSITIVITY_COLUMNS = ["dataset", "seed", "beta", "temperature", "aligner", "epsilon", "metric", "value"]


def sensitivity_sweep(
    dataset: str = "sim_rho0.8",
    betas: Sequence[float] = (0.0, 0.5, 1.0, 2.0),
    temperatures: Sequence[float] = (0.05, 0.1, 0.2, 0.5),
    seeds: Sequence[int] = (0, 1),
    epochs: int = 20,
    aligners: Sequence[str] = ("labeled_ot",),
    epsilons: dict[str, list[float]] | None = None,
    dataset_options: dict | None = None,
    **groove_kwargs,
) -> pd.DataFrame:
    """Train GROOVE on a ``betas`` x ``temperatures`` grid and score every model (tidy table).

    Parameters
    ----------
    dataset
        A name of :data:`scgroove.benchmark.DATASETS`.
    betas
        Backtranslation weights (0 switches backtranslation off).
    temperatures
        GroupCLIP temperatures.
    seeds
        Seeds: each changes the data and the training.
    epochs
        Training epochs of every model.
    aligners, epsilons
        Aligners run on each latent space, with their epsilon grids (default: the default
        epsilon of each aligner).
    dataset_options
        Options of simulated datasets, as in :func:`run_benchmark`.
    **groove_kwargs
        Other :class:`scgroove.GROOVE` arguments, the same for every grid point.

    Returns
    -------
    One row per dataset/seed/beta/temperature/aligner/epsilon/metric; metrics as in
    :func:`run_benchmark` (``latent_foscttm``, ``within_label_foscttm``, ``trace``,
    ``bary_foscttm``, ``train_seconds``). Plot with :func:`scgroove.pl.sensitivity_landscape`.
    """
    if not betas or not temperatures:
        raise ValueError("betas and temperatures must each hold at least one value.")
    if min(temperatures) <= 0 or min(betas) < 0:
        raise ValueError(f"temperatures must be > 0 and betas >= 0, got {temperatures} and {betas}.")
    epsilons = epsilons or {aligner: [DEFAULT_EPSILON[aligner]] for aligner in aligners}
    with quiet_libraries():
        rows = _sweep(dataset, betas, temperatures, seeds, epochs, aligners, epsilons, dataset_options, groove_kwargs)
    return pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS)


def _sweep(dataset, betas, temperatures, seeds, epochs, aligners, epsilons, dataset_options, groove_kwargs):
    rows = []
    for seed in seeds:
        data = make_dataset(dataset, seed, dataset_options)
        truth = DatasetTruth.of(data)
        for beta in betas:
            for temperature in temperatures:
                learn = groove_learner(beta=beta, temperature=temperature, **groove_kwargs)
                start = time.perf_counter()
                rep = learn(data.mdata, data.key, data.modalities, seed, epochs)
                point = [("", np.nan, "train_seconds", time.perf_counter() - start)]
                point += evaluate_representation(data, rep, aligners, epsilons, truth)
                rows += [(dataset, seed, beta, temperature, *row) for row in point]
    return rows

r"""Choosing aligner hyperparameters without ground truth: the held-out label resolution rule.

Inside a perturbation group the truth is unknown, so a hyperparameter that trades latent
similarity against structure (FGW's ``alpha``, ``epsilon``) cannot be tuned against it. But the
labels *are* known, so a harder copy of the problem can be made whose answer is known: merge
random pairs of groups into one coarse group, align with the coarse labels only, and measure
how much coupling mass lands on pairs that share their original (fine) label. The fine label
plays the part of the unknown cell identity inside a coarse group. The value of the
hyperparameter that resolves the hidden labels best is chosen:

.. math::

    \mathrm{resolution}(\theta) = \frac{1}{R} \sum_{r=1}^{R}
        \sum_{ij} T^{(r)}_{\theta, ij}\, [y^1_i = y^2_j]

with :math:`T^{(r)}_\theta` the coupling computed with the coarse labels of repeat :math:`r`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scgroove.align._coupling import Coupling


@dataclass
class Selection:
    """Outcome of :func:`select_by_label_resolution`: the chosen parameters and every score."""

    best: dict
    scores: pd.DataFrame


def coarsen_labels(
    labels1: np.ndarray, labels2: np.ndarray, group_size: int = 2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Merge random sets of ``group_size`` labels into coarse labels (the same merge in both modalities)."""
    labels1, labels2 = np.asarray(labels1).astype(str), np.asarray(labels2).astype(str)
    categories = np.unique(np.concatenate([labels1, labels2]))
    order = np.random.default_rng(seed).permutation(len(categories))
    coarse = {categories[k]: f"coarse_{rank // group_size}" for rank, k in enumerate(order)}
    return np.array([coarse[v] for v in labels1]), np.array([coarse[v] for v in labels2])


def label_resolution(coupling: Coupling, labels1: np.ndarray, labels2: np.ndarray) -> float:
    """Fraction of the coupling's mass on pairs of cells with the same label."""
    plan = coupling.to_sparse().tocoo()
    labels1, labels2 = np.asarray(labels1).astype(str), np.asarray(labels2).astype(str)
    total = plan.data.sum()
    if total <= 0:
        return float("nan")
    return float(plan.data[labels1[plan.row] == labels2[plan.col]].sum() / total)


def select_by_label_resolution(
    align_with_labels: Callable[..., Coupling],
    labels1,
    labels2,
    grid: Mapping[str, Sequence],
    n_repeats: int = 3,
    group_size: int = 2,
    seed: int = 0,
) -> Selection:
    """Pick the parameters that best resolve hidden labels inside merged groups.

    Parameters
    ----------
    align_with_labels
        ``align_with_labels(labels1, labels2, **params) -> Coupling``: the aligner to tune, with
        everything but the labels and the tuned parameters fixed.
    labels1, labels2
        The real group labels.
    grid
        Candidate values per parameter name, e.g. ``{"alpha": [0, 0.25, 0.5, 0.75, 1]}``; every
        combination is tried.
    n_repeats
        Random merges averaged per candidate (the same merges for every candidate).
    group_size
        Labels merged into one coarse group. Needs at least ``2 * group_size`` labels, so that
        more than one coarse group remains.
    seed
        Seed of the merges.

    Returns
    -------
    :class:`Selection` with ``best`` (the chosen parameters; ties go to the first candidate) and
    ``scores`` (one row per candidate and repeat, column ``resolution``).
    """
    labels1, labels2 = np.asarray(labels1).astype(str), np.asarray(labels2).astype(str)
    n_labels = len(np.intersect1d(labels1, labels2))
    if n_labels < 2 * group_size:
        raise ValueError(
            f"The label-resolution rule needs at least {2 * group_size} labels present in both modalities "
            f"(group_size={group_size}); got {n_labels}."
        )
    if not grid or any(len(values) == 0 for values in grid.values()):
        raise ValueError(f"grid must give at least one value per parameter, got {dict(grid)}.")
    names = list(grid)
    candidates = [dict(zip(names, values, strict=True)) for values in itertools.product(*grid.values())]
    merges = [coarsen_labels(labels1, labels2, group_size, seed + r) for r in range(n_repeats)]
    rows = []
    for index, params in enumerate(candidates):
        for repeat, (coarse1, coarse2) in enumerate(merges):
            coupling = align_with_labels(coarse1, coarse2, **params)
            rows.append(
                {
                    "candidate": index,
                    **params,
                    "repeat": repeat,
                    "resolution": label_resolution(coupling, labels1, labels2),
                }
            )
    scores = pd.DataFrame(rows)
    mean = scores.groupby("candidate")["resolution"].mean()
    return Selection(best=candidates[int(mean.idxmax())], scores=scores)

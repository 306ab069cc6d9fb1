"""Which perturbations differ from control: energy distance with a permutation test, per modality."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from mudata import MuData
from scipy.stats import false_discovery_control

from scgroove.model._guide import MIN_REFERENCE_CELLS, centre_batches, pca_per_modality

#: Fewer cells than this in a group (or in control) of a modality: not tested there.
MIN_TEST_CELLS = MIN_REFERENCE_CELLS


def energy_distance_test(
    x: np.ndarray, y: np.ndarray, n_permutations: int = 1000, rng: np.random.Generator | None = None
) -> tuple[float, float]:
    r"""Energy distance between two samples and its permutation p-value.

    .. math:: E = 2\,\overline{\|x - y\|} - \overline{\|x - x'\|} - \overline{\|y - y'\|}

    (Székely & Rizzo 2004; means over all pairs, V-statistic). The p-value is
    ``(1 + #{E_perm >= E}) / (1 + n_permutations)`` over random relabellings of the pooled cells.
    All permutations are evaluated with one matrix product on the pooled distance matrix, so a
    test of ``n`` cells costs ``O(n^2 (d + n_permutations))``.

    Parameters
    ----------
    x, y
        ``(n, d)`` and ``(m, d)`` samples in one space.
    n_permutations
        Random relabellings.
    rng
        Generator of the relabellings.

    Returns
    -------
    The energy distance and its p-value.
    """
    rng = np.random.default_rng() if rng is None else rng
    z = np.vstack([x, y]).astype(np.float64)
    n, m = len(x), len(y)
    total = n + m
    squared = (z**2).sum(1)
    distances = np.sqrt(np.clip(squared[:, None] + squared[None, :] - 2 * z @ z.T, 0, None))
    members = np.zeros((total, n_permutations + 1))
    members[:n, 0] = 1.0
    drawn = np.argsort(rng.random((n_permutations, total)), axis=1)[:, :n]
    members[drawn, np.arange(1, n_permutations + 1)[:, None]] = 1.0
    row_sums = distances.sum(1)
    within_x = (members * (distances @ members)).sum(0)  # s' D s
    x_to_all = members.T @ row_sums  # s' D 1
    between = x_to_all - within_x
    within_y = row_sums.sum() - 2 * x_to_all + within_x
    energy = 2 * between / (n * m) - within_x / n**2 - within_y / m**2
    pvalue = (1 + np.sum(energy[1:] >= energy[0] - 1e-12)) / (1 + n_permutations)
    return float(energy[0]), float(pvalue)


def perturbation_effects(
    mdata: MuData,
    perturbation_key: str,
    control_label: str,
    modalities: Sequence[str] = ("rna", "protein"),
    layers: Mapping[str, str | None] | None = None,
    batch_key: str | None = None,
    n_comps: int = 30,
    n_permutations: int = 1000,
    max_cells: int = 500,
    alpha: float = 0.05,
    seed: int = 0,
) -> pd.DataFrame:
    """Test every perturbation against control in each modality (energy distance, permutations).

    Each modality is represented by its own PCA (counts library-normalised and log1p first, as
    :func:`scgroove.model.pca_per_modality`); with ``batch_key`` each batch is first centred on
    its control cells. Each group is compared with the control cells of the same modality by
    :func:`energy_distance_test` on at most ``max_cells`` random cells of each, and the p-values
    of each modality are adjusted over the groups by Benjamini-Hochberg. This is the E-test of
    pertpy's ``DistanceTest`` (which computes the same statistic) without its dependencies.

    Parameters
    ----------
    mdata
        MuData with the two modalities.
    perturbation_key
        Column of each modality's ``.obs`` with the groups to test (genes, or guides).
    control_label
        The control value of ``perturbation_key`` (e.g. ``"non-targeting"``).
    modalities
        The modalities to test in.
    layers
        Layer per modality instead of ``X``.
    batch_key
        Column with batches (donors, lanes) to centre on their control cells first.
    n_comps
        Principal components per modality.
    n_permutations
        Permutations per test (the smallest p-value is ``1 / (1 + n_permutations)``).
    max_cells
        Cells per group and of control drawn for one test (bounds the cost at screen scale).
    alpha
        Level of the adjusted p-values for the ``"effect"`` column.
    seed
        Seed of the subsampling and the permutations.

    Returns
    -------
    DataFrame indexed by group (control excluded), with per modality ``"<m>_n_cells"``,
    ``"<m>_energy_distance"``, ``"<m>_pvalue"``, ``"<m>_padj"`` (NaN where a modality has fewer
    than 3 cells of the group) and ``"effect"``: whether the group differs from control in at least
    one modality (``padj < alpha``). A group tested nowhere counts as having an effect (it is
    never merged with control on no evidence).
    """
    modalities = tuple(modalities)
    rng = np.random.default_rng(seed)
    spaces = pca_per_modality(mdata, modalities, n_comps=n_comps, layers=dict(layers or {}))
    groups = sorted(  # cells without a label (NaN) are in no group
        set().union(*(set(mdata.mod[m].obs[perturbation_key].dropna().astype(str)) for m in modalities))
        - {control_label}
    )
    table = pd.DataFrame(index=pd.Index(groups, name=perturbation_key))
    tested_anywhere = pd.Series(False, index=table.index)
    differs = pd.Series(False, index=table.index)
    for modality, space in zip(modalities, spaces, strict=True):
        labels = mdata.mod[modality].obs[perturbation_key].astype(str).to_numpy()
        is_control = labels == control_label
        batches = None if batch_key is None else mdata.mod[modality].obs[batch_key].astype(str).to_numpy()
        space = centre_batches(space, batches, is_control)
        control_rows = np.flatnonzero(is_control)
        stats = {"n_cells": [], "energy_distance": [], "pvalue": []}
        for group in groups:
            rows = np.flatnonzero(labels == group)
            stats["n_cells"].append(len(rows))
            if len(rows) < MIN_TEST_CELLS or len(control_rows) < MIN_TEST_CELLS:
                stats["energy_distance"].append(np.nan)
                stats["pvalue"].append(np.nan)
                continue
            x = space[rng.permutation(rows)[:max_cells]]
            y = space[rng.permutation(control_rows)[:max_cells]]
            energy, pvalue = energy_distance_test(x, y, n_permutations, rng)
            stats["energy_distance"].append(energy)
            stats["pvalue"].append(pvalue)
        pvalues = np.asarray(stats["pvalue"], dtype=float)
        tested = np.isfinite(pvalues)
        adjusted = np.full_like(pvalues, np.nan)
        if tested.any():
            adjusted[tested] = false_discovery_control(pvalues[tested])
        for name, values in stats.items():
            table[f"{modality}_{name}"] = values
        table[f"{modality}_padj"] = adjusted
        tested_anywhere |= tested
        differs |= np.where(tested, adjusted < alpha, False)
    table["effect"] = (differs | ~tested_anywhere).to_numpy()
    return table

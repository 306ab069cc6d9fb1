"""Plots of benchmark summaries (from :func:`scgroove.benchmark.summarize`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes


def benchmark_heatmap(
    summary: pd.DataFrame,
    dataset: str,
    epsilon_choice: str = "default",
    ax: Axes | None = None,
    metric_name: str = "barycentric FOSCTTM",
    cmap: str = "viridis_r",
) -> Axes:
    """Learner x aligner heatmap of mean scores on one dataset, values written in the cells."""
    rows = summary[(summary["dataset"] == dataset) & (summary["epsilon_choice"] == epsilon_choice)]
    table = rows.pivot_table(index="learner", columns="aligner", values="mean")
    if ax is None:
        _, ax = plt.subplots(figsize=(1.6 + 1.3 * table.shape[1], 0.9 + 0.45 * table.shape[0]))
    image = ax.imshow(table.to_numpy(), cmap=cmap, aspect="auto")
    for (i, j), value in np.ndenumerate(table.to_numpy()):
        if np.isfinite(value):
            ax.text(j, i, f"{value:.3f}", ha="center", va="center", fontsize=8, color="white")
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=30, ha="right")
    ax.set_yticks(range(table.shape[0]), table.index)
    ax.figure.colorbar(image, ax=ax, label=metric_name)
    ax.set_title(f"{dataset} ({epsilon_choice} epsilon)")
    return ax


def benchmark_bars(
    summary: pd.DataFrame,
    aligner: str,
    epsilon_choice: str = "default",
    ax: Axes | None = None,
    metric_name: str = "barycentric FOSCTTM",
) -> Axes:
    """Bars of mean +- standard error per learner, grouped by dataset, for one aligner."""
    rows = summary[(summary["aligner"] == aligner) & (summary["epsilon_choice"] == epsilon_choice)]
    means = rows.pivot_table(index="dataset", columns="learner", values="mean")
    errors = rows.pivot_table(index="dataset", columns="learner", values="se").reindex_like(means)
    if ax is None:
        _, ax = plt.subplots(figsize=(2 + 1.8 * len(means), 3.5))
    means.plot.bar(yerr=errors, ax=ax, capsize=2, width=0.8, rot=0)
    ax.set_ylabel(metric_name)
    ax.set_title(f"{aligner} ({epsilon_choice} epsilon); bars: mean +- s.e. over seeds")
    ax.legend(fontsize=7, ncols=2)
    return ax


def sensitivity_landscape(
    table: pd.DataFrame,
    metric: str = "within_label_foscttm",
    aligner: str = "",
    ax: Axes | None = None,
    cmap: str = "viridis_r",
) -> Axes:
    """Mean score over seeds on the beta x temperature grid of :func:`scgroove.benchmark.sensitivity_sweep`.

    Filled contours (log temperature axis) when the grid has at least 2 x 2 points, a heatmap
    otherwise; every trained grid point is marked and labelled with its mean, and the best one
    (lowest mean: every benchmark metric but ``trace`` is lower-better) is circled.

    Parameters
    ----------
    table
        Output of :func:`scgroove.benchmark.sensitivity_sweep`.
    metric
        A metric of the table. Latent metrics have ``aligner == ""``; pass ``aligner`` for
        ``trace`` and ``bary_foscttm``.
    aligner
        Which aligner's rows (``""`` for latent metrics).
    """
    rows = table[(table["metric"] == metric) & (table["aligner"].fillna("") == aligner)]
    if rows.empty:
        raise ValueError(f"No rows with metric {metric!r} and aligner {aligner!r} in the table.")
    grid = rows.pivot_table(index="temperature", columns="beta", values="value", aggfunc="mean")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4))
    betas, temperatures = grid.columns.to_numpy(float), grid.index.to_numpy(float)
    values = grid.to_numpy()
    higher_is_better = metric == "trace"
    if values.shape[0] >= 2 and values.shape[1] >= 2:
        image = ax.contourf(betas, temperatures, values, levels=12, cmap=cmap if not higher_is_better else "viridis")
        ax.set_yscale("log")
    else:
        image = ax.pcolormesh(betas, temperatures, values, cmap=cmap, shading="nearest")
    beta_grid, temperature_grid = np.meshgrid(betas, temperatures)
    ax.scatter(beta_grid, temperature_grid, c="k", s=8)
    for (i, j), value in np.ndenumerate(values):
        ax.annotate(f"{value:.3f}", (betas[j], temperatures[i]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    best = np.nanargmax(values) if higher_is_better else np.nanargmin(values)
    i, j = np.unravel_index(best, values.shape)
    ax.scatter([betas[j]], [temperatures[i]], s=160, facecolors="none", edgecolors="red", linewidths=2)
    ax.set_xlabel("beta (backtranslation weight)")
    ax.set_ylabel("temperature")
    ax.figure.colorbar(image, ax=ax, label=metric + (f" ({aligner})" if aligner else ""))
    ax.set_title(f"sensitivity: {metric}, mean of {rows['seed'].nunique()} seed(s)")
    return ax

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

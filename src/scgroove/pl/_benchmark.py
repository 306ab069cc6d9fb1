"""Plots of benchmark summaries (from :func:`scgroove.benchmark.summarize`)."""

from __future__ import annotations

import inspect
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import patheffects
from matplotlib.axes import Axes

from scgroove.pl._common import finish, text_color_on


def _lower_is_better(metric: str) -> bool:
    from scgroove.benchmark._stats import LOWER_IS_BETTER

    return LOWER_IS_BETTER.get(metric, True)


def benchmark_heatmap(
    summary: pd.DataFrame,
    dataset: str,
    epsilon_choice: str = "default",
    ax: Axes | None = None,
    metric_name: str = "barycentric FOSCTTM",
    lower_is_better: bool = True,
    cmap: str = "viridis",
    show: bool | None = None,
    save: str | Path | None = None,
) -> Axes | None:
    """Learner x aligner heatmap of mean scores on one dataset, values written in the cells.

    The best values are drawn darkest (the colour map is flipped for higher-is-better metrics),
    each value in the colour that reads on its cell; pairs that were not run (e.g. PCA with an
    aligner that needs one shared space) say "n/a".
    """
    rows = summary[(summary["dataset"] == dataset) & (summary["epsilon_choice"] == epsilon_choice)]
    table = rows.pivot_table(index="learner", columns="aligner", values="mean", dropna=False)
    if ax is None:
        _, ax = plt.subplots(figsize=(1.6 + 1.3 * table.shape[1], 0.9 + 0.45 * table.shape[0]))
    colormap = plt.get_cmap(cmap if lower_is_better else f"{cmap}_r")  # best values darkest
    values = table.to_numpy()
    image = ax.imshow(np.ma.masked_invalid(values), cmap=colormap, aspect="auto")
    for (i, j), value in np.ndenumerate(values):
        if np.isfinite(value):
            color = text_color_on(colormap(image.norm(value)))
            ax.text(j, i, f"{value:.3f}", ha="center", va="center", fontsize=8, color=color)
        else:
            ax.text(j, i, "n/a", ha="center", va="center", fontsize=8, color="grey")
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=30, ha="right")
    ax.set_yticks(range(table.shape[0]), table.index)
    direction = "lower is better" if lower_is_better else "higher is better"
    ax.figure.colorbar(image, ax=ax, label=f"{metric_name} ({direction})")
    ax.set_title(f"{dataset}, mean over seeds ({epsilon_choice} epsilon)")
    return finish(ax, show, save)


def benchmark_bars(
    summary: pd.DataFrame,
    aligner: str,
    epsilon_choice: str = "default",
    ax: Axes | None = None,
    metric_name: str = "barycentric FOSCTTM",
    lower_is_better: bool = True,
    show: bool | None = None,
    save: str | Path | None = None,
) -> Axes | None:
    """Bars of mean +- standard error per learner, grouped by dataset, for one aligner."""
    rows = summary[(summary["aligner"] == aligner) & (summary["epsilon_choice"] == epsilon_choice)]
    means = rows.pivot_table(index="dataset", columns="learner", values="mean")
    errors = rows.pivot_table(index="dataset", columns="learner", values="se").reindex_like(means)
    if ax is None:
        _, ax = plt.subplots(figsize=(2 + 1.8 * len(means), 3.5))
    means.plot.bar(yerr=errors, ax=ax, capsize=2, width=0.8, rot=0)
    ax.set_ylabel(f"{metric_name} ({'lower' if lower_is_better else 'higher'} is better)")
    ax.set_xlabel("dataset")
    ax.set_title(f"{aligner} ({epsilon_choice} epsilon); bars: mean +- s.e. over seeds")
    ax.legend(
        fontsize=9, title="learner", title_fontsize=9, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False
    )
    return finish(ax, show, save)


def sensitivity_landscape(
    table: pd.DataFrame,
    metric: str = "within_label_foscttm",
    aligner: str = "",
    ax: Axes | None = None,
    cmap: str = "viridis",
    show: bool | None = None,
    save: str | Path | None = None,
) -> Axes | None:
    """Mean score over seeds on the beta x temperature grid of :func:`scgroove.benchmark.sensitivity_sweep`.

    Filled contours (log temperature axis) when the grid has at least 2 x 2 points, a heatmap
    otherwise, best values darkest; every trained grid point is marked and labelled with its
    mean, the best one is circled in red, GROOVE's defaults are marked with a white star, and the
    title says when the best point lies on the edge of the grid (the optimum may lie beyond it).

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
    higher_is_better = not _lower_is_better(metric)
    colormap = f"{cmap}_r" if higher_is_better else cmap  # best values darkest
    if values.shape[0] >= 2 and values.shape[1] >= 2:
        image = ax.contourf(betas, temperatures, values, levels=12, cmap=colormap)
        ax.set_yscale("log")
    else:
        image = ax.pcolormesh(betas, temperatures, values, cmap=colormap, shading="nearest")
    beta_grid, temperature_grid = np.meshgrid(betas, temperatures)
    ax.scatter(beta_grid, temperature_grid, c="k", s=8)
    for (i, j), value in np.ndenumerate(values):
        ax.annotate(
            f"{value:.3f}",
            (betas[j], temperatures[i]),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
            path_effects=[patheffects.withStroke(linewidth=2, foreground="white")],
        )
    best = np.nanargmax(values) if higher_is_better else np.nanargmin(values)
    i, j = np.unravel_index(best, values.shape)
    ax.scatter([betas[j]], [temperatures[i]], s=160, facecolors="none", edgecolors="red", linewidths=2, label="best")
    defaults = _groove_defaults()
    ax.scatter(
        [defaults["beta"]], [defaults["temperature"]], marker="*", s=140, c="white", edgecolors="k", label="default"
    )
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=2, frameon=False)
    # room around the grid so that points and labels on its edge are not cut
    span = betas.max() - betas.min() or 1.0
    ax.set_xlim(betas.min() - 0.06 * span, betas.max() + 0.12 * span)
    if ax.get_yscale() == "log":
        ax.set_ylim(temperatures.min() / 1.2, temperatures.max() * 1.25)
        ax.set_yticks(temperatures, [f"{t:g}" for t in temperatures])
        ax.minorticks_off()
    ax.set_xlabel("beta (backtranslation weight)")
    ax.set_ylabel("temperature")
    direction = "higher" if higher_is_better else "lower"
    ax.figure.colorbar(image, ax=ax, label=metric + (f" ({aligner})" if aligner else "") + f", {direction} is better")
    on_edge = i in (0, values.shape[0] - 1) or j in (0, values.shape[1] - 1)
    edge = "\nbest point on the grid's edge: the optimum may lie beyond it" if on_edge and values.size > 4 else ""
    ax.set_title(f"sensitivity: {metric}, mean of {rows['seed'].nunique()} seed(s){edge}", fontsize=9)
    return finish(ax, show, save)


def _groove_defaults() -> dict:
    from scgroove.module import GROOVEModule

    parameters = inspect.signature(GROOVEModule).parameters
    return {"beta": parameters["beta"].default, "temperature": parameters["temperature"].default}

"""How well the modalities mix in the joint latent, label by label."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from scgroove.pl._common import finish

#: Mixing below this share of the ideal is drawn as a failure (the target of a shared latent).
GOOD_MIXING = 0.8


def modality_mixing(
    table: pd.DataFrame,
    *,
    ax: Axes | None = None,
    max_labels: int = 40,
    show: bool | None = None,
    save: str | Path | None = None,
) -> Axes | None:
    """Bars of each label's modality mixing (:func:`scgroove.metrics.modality_mixing`), worst first.

    A bar of 1 means the label's cells have as many neighbours of the other modality as chance
    allows; the dashed line marks 0.8, below which the bar is drawn in red; the title gives the
    cell-weighted mean.

    Parameters
    ----------
    table
        The output of :func:`scgroove.metrics.modality_mixing` (columns ``label``, ``n_cells``,
        ``mixing``).
    ax
        Axes to draw on.
    max_labels
        Show at most this many labels (the worst mixed); the title says how many were left out.
    show, save
        As in scanpy.
    """
    missing = {"label", "n_cells", "mixing"} - set(table.columns)
    if missing:
        raise KeyError(f"table lacks column(s) {sorted(missing)}; pass scgroove.metrics.modality_mixing's output.")
    ordered = table.sort_values("mixing").head(max_labels)
    if ax is None:
        _, ax = plt.subplots(figsize=(max(3.5, 0.25 * len(ordered) + 1.5), 3.2))
    colors = np.where(ordered["mixing"] < GOOD_MIXING, "#d62728", "#7f7f7f")
    ax.bar(np.arange(len(ordered)), ordered["mixing"], color=colors)
    for position, (value, color) in enumerate(zip(ordered["mixing"], colors, strict=True)):
        # the value over each bar, so that a label with no mixing at all (a bar of height 0) still shows
        ax.text(position, value + 0.02, f"{value:.2f}", ha="center", va="bottom", fontsize=6, color=color, rotation=90)
    ax.axhline(GOOD_MIXING, color="black", linestyle="--", linewidth=0.8)
    ax.set_xticks(np.arange(len(ordered)), ordered["label"].astype(str), rotation=90, fontsize=7)
    ax.set_ylim(0, 1.15)
    ax.set_ylabel("modality mixing\n(1 = as mixed as chance allows)", fontsize=8)
    mean = float(np.average(table["mixing"], weights=table["n_cells"]))
    hidden = len(table) - len(ordered)
    ax.set_title(f"mean {mean:.2f}" + (f"; {hidden} better-mixed labels not shown" if hidden else ""), fontsize=9)
    return finish(ax, show, save)

"""Measured against imputed values of one feature."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from scgroove.pl._common import finish


def imputation_scatter(
    measured,
    imputed,
    feature: str = "",
    ax: Axes | None = None,
    units: str = "log1p counts",
    point_size: float = 5.0,
    show: bool | None = None,
    save: str | Path | None = None,
) -> Axes | None:
    """Imputed against measured values of one feature, on equal axes with the identity line.

    Parameters
    ----------
    measured, imputed
        Values of the same cells (e.g. an RNA cell's imputed protein and the protein measured in
        its hidden partner), already in the units to compare.
    feature
        Feature name for the title.
    ax
        Axes to draw on.
    units
        Axis label units.
    point_size
        Marker size.
    show, save
        As in scanpy.
    """
    x, y = np.asarray(measured, dtype=float).ravel(), np.asarray(imputed, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"measured and imputed must have the same length, got {x.shape} and {y.shape}.")
    finite = np.isfinite(x) & np.isfinite(y)
    x, y = x[finite], y[finite]
    if ax is None:
        _, ax = plt.subplots(figsize=(3.5, 3.5))
    ax.scatter(x, y, s=point_size, alpha=0.5, linewidths=0)
    low, high = min(x.min(), y.min()), max(x.max(), y.max())
    pad = 0.03 * (high - low or 1.0)
    limits = (low - pad, high + pad)
    ax.plot(limits, limits, color="grey", linestyle="--", linewidth=1, label="imputed = measured")
    ax.set_xlim(limits), ax.set_ylim(limits)
    ax.set_aspect("equal")
    ax.set_xlabel(f"measured ({units})"), ax.set_ylabel(f"imputed ({units})")
    r = np.corrcoef(x, y)[0, 1] if x.std() > 0 and y.std() > 0 else np.nan
    ax.set_title(f"{feature}: Pearson r = {r:.2f}" if feature else f"Pearson r = {r:.2f}", fontsize=10)
    return finish(ax, show, save)

"""What every scgroove plot shares: colours stored as scanpy stores them, legends that fit, show/save."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scanpy as sc
from matplotlib.axes import Axes
from matplotlib.colors import to_hex, to_rgb
from mudata import MuData

from scgroove._constants import RESULT_KEYS

#: Colours of the two modalities when a plot is coloured by modality: dark grey and dark magenta,
#: neither in scanpy's default palettes, so a modality never shares a colour with a category
#: shown in the panel beside it.
MODALITY_COLORS = ("#3b3b3b", "#c51b7d")
#: The control group's colour: a neutral grey that scanpy's default palettes leave out.
CONTROL_COLOR = "#7f7f7f"
#: Values taken for the control group when the screen's set-up does not name one.
CONTROL_NAMES = ("control", "non-targeting", "nontargeting", "ntc", "safe-targeting")


def _control_values(mdata: MuData) -> set[str]:
    """The control label registered by ``setup_mudata(control_label=...)``, else the usual names."""
    screen = mdata.uns.get(RESULT_KEYS.UNS, {}).get("screen", {})
    control = (screen.get("control_label") if hasattr(screen, "get") else None) or None  # "" when none
    return {str(control)} if control is not None else set(CONTROL_NAMES)


def _default_palette(n: int) -> list[str]:
    palettes = sc.pl.palettes
    if n <= 20:
        return list(palettes.default_20)
    if n <= 28:
        return list(palettes.default_28)
    return list(palettes.default_102)


def category_colors(mdata: MuData, key: str, modalities: Sequence[str]) -> dict[str, str]:
    """One colour per value of ``obs[key]``, the same in every modality, kept as scanpy keeps them.

    Colours already stored in ``mdata[m].uns[f"{key}_colors"]`` (by scanpy or by an earlier call)
    are reused; the control group (the registered ``control_label``, else a value such as
    ``"control"`` or ``"non-targeting"``) gets :data:`CONTROL_COLOR` (grey); other values without
    one get the next free colour of scanpy's default palette for that many categories.
    The result is written back to ``mdata[m].uns[f"{key}_colors"]`` of every
    modality whose ``obs[key]`` is categorical (in the order of its categories), so scanpy's own
    plots of either modality use the same colours. A non-categorical column is left untouched.
    """
    if key == "modality":
        return {m: MODALITY_COLORS[k % 2] for k, m in enumerate(modalities)}
    categories: list[str] = []
    colors: dict[str, str] = {}
    for m in modalities:
        column = mdata.mod[m].obs[key]
        values = (
            [str(c) for c in column.cat.categories]
            if isinstance(column.dtype, pd.CategoricalDtype)
            else sorted(column.astype(str).unique())
        )
        categories += [v for v in values if v not in categories]
        stored = mdata.mod[m].uns.get(f"{key}_colors")
        if stored is not None and isinstance(column.dtype, pd.CategoricalDtype) and len(stored) == len(values):
            for value, color in zip(values, stored, strict=True):
                colors.setdefault(value, to_hex(color))
    controls = _control_values(mdata)
    for value in categories:
        if value not in colors and value.lower() in {c.lower() for c in controls}:
            colors[value] = CONTROL_COLOR
    free = [c for c in _default_palette(len(categories)) if to_hex(c) not in set(colors.values())]
    for value in categories:
        if value not in colors:
            colors[value] = to_hex(free.pop(0)) if free else to_hex(plt.get_cmap("hsv")(len(colors) / len(categories)))
    for m in modalities:
        column = mdata.mod[m].obs[key]
        if isinstance(column.dtype, pd.CategoricalDtype):
            mdata.mod[m].uns[f"{key}_colors"] = [colors[str(c)] for c in column.cat.categories]
    return colors


def add_legend(ax: Axes, colors: dict[str, str], title: str, max_entries: int = 40) -> None:
    """Legend in the right margin, in as many columns as needed; beyond ``max_entries`` it says how many are hidden."""
    shown = list(colors)[:max_entries]
    for value in shown:
        ax.scatter([], [], color=colors[value], label=value, s=25)
    hidden = len(colors) - len(shown)
    if hidden:
        ax.scatter([], [], color="none", label=f"(+{hidden} more not shown)")
    n_entries = len(shown) + (1 if hidden else 0)
    ax.legend(
        loc="center left",
        bbox_to_anchor=(1.01, 0.5),
        frameon=False,
        fontsize=7,
        title=title,
        title_fontsize=8,
        ncols=int(np.ceil(n_entries / 22)),
        handletextpad=0.2,
        columnspacing=0.8,
    )


def text_color_on(color) -> str:
    """Black or white, whichever reads better on ``color``."""
    r, g, b = to_rgb(color)
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"


def finish(ax, show: bool | None, save: str | Path | None):
    """Save and/or show the figure of ``ax`` as scanpy does; return ``ax`` unless it was shown."""
    figure = ax.figure if hasattr(ax, "figure") else ax
    if save is not None:
        figure.savefig(save, dpi=150, bbox_inches="tight")
    if show:
        plt.show()
        return None
    return ax

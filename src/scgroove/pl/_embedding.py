"""Both modalities' cells in their joint embedding."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from mudata import MuData

from scgroove._constants import RESULT_KEYS
from scgroove.pl._common import add_legend, category_colors, finish


def _embedding_frame(mdata: MuData, basis: str, color: str, modalities: list[str]) -> pd.DataFrame:
    frames = []
    for modality in modalities:
        adata = mdata.mod[modality]
        if basis not in adata.obsm:
            raise KeyError(f"No embedding obsm[{basis!r}] in modality {modality!r}: run scgroove.tl.joint_umap(mdata).")
        if color != "modality" and color not in adata.obs:
            raise KeyError(f"Column {color!r} missing in mdata[{modality!r}].obs.")
        xy = np.asarray(adata.obsm[basis])
        value = modality if color == "modality" else adata.obs[color].astype(str).to_numpy()
        frames.append(pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "color": value, "modality": modality}))
    return pd.concat(frames, ignore_index=True)


def joint_embedding(
    mdata: MuData,
    color: str = "modality",
    basis: str = RESULT_KEYS.JOINT_UMAP,
    modality: str | None = None,
    ax: Axes | None = None,
    legend_loc: Literal["right margin", "on data", "none"] = "right margin",
    max_legend: int = 60,
    point_size: float = 4.0,
    title: str | None = None,
    show: bool | None = None,
    save: str | Path | None = None,
) -> Axes | None:
    """Scatter of both modalities' cells in the joint UMAP written by :func:`scgroove.tl.joint_umap`.

    Colours of a categorical ``obs[color]`` are shared by both modalities and kept in
    ``mdata[m].uns[f"{color}_colors"]`` as scanpy keeps them, so every panel (and scanpy's own
    plots) shows one label in one colour.

    Parameters
    ----------
    mdata
        MuData after :func:`scgroove.tl.joint_umap`.
    color
        ``"modality"`` or an obs column present in every embedded modality (e.g. the perturbation).
    basis
        The obsm key of the embedding.
    modality
        Colour only this modality's cells; the other modality's are drawn in light grey beneath,
        so panels of either modality share their limits.
    ax
        Axes to draw on (default: a new figure).
    legend_loc
        ``"right margin"`` (outside the axes, as many columns as needed), ``"on data"`` (each
        value written at the median of its cells) or ``"none"``.
    max_legend
        Legend entries shown at most; the legend says how many more there are.
    point_size
        Marker size.
    title
        Default: what is coloured by what.
    show, save
        As in scanpy: ``show=True`` calls ``plt.show()`` (and returns ``None``); ``save`` writes the
        figure to that path.
    """
    info = mdata.uns.get(RESULT_KEYS.UNS, {}).get("joint_umap")
    if info is None:
        raise KeyError("No joint embedding: run scgroove.tl.joint_umap(mdata) first.")
    modalities = list(info["modalities"])
    if modality is not None and modality not in modalities:
        raise KeyError(f"Modality {modality!r} is not in the joint embedding {modalities}.")
    frame = _embedding_frame(mdata, basis, color, modalities)
    colors = category_colors(mdata, color, modalities)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4.5))
    shown = frame if modality is None else frame[frame["modality"] == modality]
    if modality is not None:
        rest = frame[frame["modality"] != modality]
        ax.scatter(rest["x"], rest["y"], s=point_size, linewidths=0, c="#d9d9d9")
    order = np.random.default_rng(0).permutation(len(shown))  # no group drawn entirely on top
    ax.scatter(
        shown["x"].to_numpy()[order],
        shown["y"].to_numpy()[order],
        s=point_size,
        linewidths=0,
        c=[colors[c] for c in shown["color"].to_numpy()[order]],
    )
    present = [value for value in colors if value in set(shown["color"])]
    if legend_loc == "right margin":
        add_legend(ax, {value: colors[value] for value in present}, color, max_legend)
    elif legend_loc == "on data":
        centres = shown.groupby("color")[["x", "y"]].median()
        fontsize = 8 if len(centres) <= 20 else 6
        for value, (x, y) in centres.iterrows():
            ax.text(x, y, value, fontsize=fontsize, ha="center", va="center", weight="bold")
    elif legend_loc != "none":
        raise ValueError(f"legend_loc must be 'right margin', 'on data' or 'none', got {legend_loc!r}.")
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_xlabel("UMAP 1"), ax.set_ylabel("UMAP 2")
    cells = "all cells" if modality is None else f"{modality} cells"
    ax.set_title(title or f"{_space_name(mdata)} (UMAP): {cells}, by {color}", fontsize=10)
    return finish(ax, show, save)


def _space_name(mdata: MuData) -> str:
    """What the joint UMAP embeds: the latent, or the coupled latent (cells moved towards their partners)."""
    uns = mdata.uns.get(RESULT_KEYS.UNS, {})
    coupled = uns.get("coupled_latent", {})
    if coupled.get("key_added") is not None and uns.get("joint_umap", {}).get("use_rep") == coupled["key_added"]:
        return f"latent, cells moved {float(coupled['share']):.0%} to partners"
    return "GROOVE latent"

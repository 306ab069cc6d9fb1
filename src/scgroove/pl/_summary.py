"""Joint embedding, label-level coupling heatmap, and the one-page summary figure."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from mudata import MuData

from scgroove._constants import RESULT_KEYS
from scgroove.align import Coupling
from scgroove.metrics import METRIC_NAMES


def _embedding_frame(mdata: MuData, basis: str, color: str) -> pd.DataFrame:
    info = mdata.uns.get(RESULT_KEYS.UNS, {}).get("joint_umap")
    if info is None:
        raise KeyError("No joint embedding: run scgroove.tl.joint_umap(mdata) first.")
    frames = []
    for modality in info["modalities"]:
        adata = mdata.mod[modality]
        xy = np.asarray(adata.obsm[basis])
        value = modality if color == "modality" else adata.obs[color].astype(str).to_numpy()
        frames.append(pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "color": value}))
    return pd.concat(frames, ignore_index=True)


def joint_embedding(
    mdata: MuData,
    color: str = "modality",
    basis: str = "X_groove_umap",
    ax: Axes | None = None,
    max_legend: int = 12,
    point_size: float = 4.0,
) -> Axes:
    """Scatter of both modalities' cells in the joint UMAP written by :func:`scgroove.tl.joint_umap`.

    Parameters
    ----------
    mdata
        MuData after :func:`scgroove.tl.joint_umap`.
    color
        ``"modality"`` or an obs column present in every embedded modality (e.g. the perturbation).
    basis
        The obsm key of the embedding.
    ax
        Axes to draw on (default: a new figure).
    max_legend
        Legend entries shown at most.
    point_size
        Marker size.
    """
    frame = _embedding_frame(mdata, basis, color)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    categories = pd.unique(frame["color"])
    cmap = plt.get_cmap("tab10" if len(categories) <= 10 else "tab20")
    order = np.random.default_rng(0).permutation(len(frame))  # no modality drawn entirely on top
    colours = {c: cmap(k % cmap.N) for k, c in enumerate(categories)}
    ax.scatter(
        frame["x"].to_numpy()[order],
        frame["y"].to_numpy()[order],
        s=point_size,
        linewidths=0,
        c=[colours[c] for c in frame["color"].to_numpy()[order]],
    )
    for category in categories[:max_legend]:
        ax.scatter([], [], color=colours[category], label=str(category), s=20)
    if len(categories) > max_legend:
        ax.scatter([], [], color="none", label=f"(+{len(categories) - max_legend} more)")
    ax.legend(fontsize=7, frameon=False, loc="best", markerscale=1.0, title=color, title_fontsize=8)
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_xlabel("UMAP 1"), ax.set_ylabel("UMAP 2")
    ax.set_title(f"GROOVE latent, coloured by {color}")
    return ax


def coupling_heatmap(
    mdata: MuData, key: str = "coupling", label_key: str | None = None, ax: Axes | None = None, max_labels: int = 40
) -> Axes:
    """Mass of the stored coupling between label pairs (rows: modality 1, columns: modality 2).

    Parameters
    ----------
    mdata
        MuData after :meth:`scgroove.GROOVE.align`.
    key
        Key of the coupling under ``mdata.uns["groove"]``.
    label_key
        Obs column with the labels; default the registered perturbation key if recorded, else
        ``"perturbation"``.
    ax
        Axes to draw on.
    max_labels
        Show at most this many labels (the ones with the most mass).
    """
    stored = mdata.uns.get(RESULT_KEYS.UNS, {}).get(key)
    if stored is None:
        raise KeyError(f"No coupling under mdata.uns['groove'][{key!r}]; run model.align() first.")
    m1, m2 = stored["modalities"]
    label_key = label_key or mdata.uns[RESULT_KEYS.UNS].get("perturbation_key", "perturbation")
    table = Coupling.from_uns(stored).label_mass(mdata.mod[m1].obs[label_key], mdata.mod[m2].obs[label_key])
    keep = table.sum(1).sort_values(ascending=False).index[:max_labels]
    table = table.loc[keep, [c for c in keep if c in table.columns]]
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4.5))
    image = ax.imshow(table.to_numpy(), cmap="viridis", aspect="auto")
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="coupling mass")
    fontsize = 7 if len(table) <= 25 else 5
    ax.set_yticks(range(len(table.index)), table.index, fontsize=fontsize)
    ax.set_xticks(range(len(table.columns)), table.columns, fontsize=fontsize, rotation=90)
    ax.set_ylabel(f"{m1} cells ({label_key})"), ax.set_xlabel(f"{m2} cells ({label_key})")
    ax.set_title(f"Coupling mass by label ({stored['method']})")
    return ax


def metrics_table(
    metrics: Mapping[str, float], ax: Axes | None = None, title: str = "Scores against hidden truth"
) -> Axes:
    """Draw a two-column table of scores, named as in :data:`scgroove.metrics.METRIC_NAMES`."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 3))
    ax.axis("off")
    rows = [[METRIC_NAMES.get(name, name), f"{value:.3f}"] for name, value in metrics.items()]
    table = ax.table(cellText=rows or [["(no ground truth)", ""]], colLabels=["metric", "value"], loc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.scale(1, 1.3)
    ax.set_title(title)
    return ax


def summary(
    mdata: MuData, perturbation_key: str, metrics: Mapping[str, float] | None = None, coupling_key: str = "coupling"
) -> Figure:
    """One page: joint UMAP by modality and by perturbation, label-level coupling, metrics.

    Needs :func:`scgroove.tl.joint_umap` and :meth:`scgroove.GROOVE.align` to have run.
    """
    figure, axes = plt.subplots(2, 2, figsize=(12, 11))
    joint_embedding(mdata, "modality", ax=axes[0, 0])
    joint_embedding(mdata, perturbation_key, ax=axes[0, 1])
    coupling_heatmap(mdata, coupling_key, label_key=perturbation_key, ax=axes[1, 0])
    metrics_table(metrics or {}, ax=axes[1, 1])
    figure.tight_layout()
    return figure

"""What a coupling knows: its mass between labels, and how much it knows inside each label."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scipy.sparse as sp
from matplotlib.axes import Axes
from matplotlib.ticker import NullFormatter
from mudata import MuData

from scgroove._constants import RESULT_KEYS
from scgroove._results import stored_coupling
from scgroove.align import Coupling
from scgroove.pl._common import finish


def _stored_coupling(mdata: MuData, key: str) -> tuple[Coupling, dict]:
    return stored_coupling(mdata, key), mdata.uns[RESULT_KEYS.UNS][key]


def coupling_heatmap(
    mdata: MuData,
    key: str = "coupling",
    label_key: str | None = None,
    ax: Axes | None = None,
    max_labels: int = 40,
    show: bool | None = None,
    save: str | Path | None = None,
) -> Axes | None:
    """Mass of the stored coupling between label pairs (rows: modality 1, columns: modality 2).

    For a labeled coupling this table is diagonal by construction (it only shows each label's
    share of the mass); it is informative for unlabeled couplings. To see what a labeled coupling
    knows inside each label, use :func:`coupling_specificity`.

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
    show, save
        As in scanpy.
    """
    coupling, stored = _stored_coupling(mdata, key)
    m1, m2 = stored["modalities"]
    label_key = label_key or mdata.uns[RESULT_KEYS.UNS].get("perturbation_key", "perturbation")
    table = coupling.label_mass(mdata.mod[m1].obs[label_key], mdata.mod[m2].obs[label_key])
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
    return finish(ax, show, save)


def partner_specificity(coupling: Coupling) -> pd.DataFrame:
    r"""For every modality-1 cell with mass: how concentrated its mass is inside its label block.

    The *effective number of partners* of cell :math:`i` is :math:`\exp H(T_{i\cdot} / \sum_j T_{ij})`
    (the perplexity of its row); ``specificity`` divides it by the number of modality-2 cells of
    its block, so 1 is mass spread uniformly over the label (a coupling that knows only the label)
    and ``1 / n`` a single partner.

    Returns
    -------
    DataFrame with columns ``cell`` (row index), ``label``, ``block_size``, ``effective_partners``
    and ``specificity``.
    """
    rows = []
    for block in coupling.blocks:
        plan = block.plan.toarray() if sp.issparse(block.plan) else np.asarray(block.plan)
        mass = plan.sum(1)
        keep = mass > 0
        p = plan[keep] / mass[keep, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            entropy = -np.where(p > 0, p * np.log(p), 0.0).sum(1)
        partners = np.exp(entropy)
        rows.append(
            pd.DataFrame(
                {
                    "cell": block.rows[keep],
                    "label": str(block.label),
                    "block_size": plan.shape[1],
                    "effective_partners": partners,
                    "specificity": partners / plan.shape[1],
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def coupling_specificity(
    mdata: MuData,
    key: str = "coupling",
    ax: Axes | None = None,
    max_labels: int = 30,
    show: bool | None = None,
    save: str | Path | None = None,
) -> Axes | None:
    """How much the stored coupling knows *inside* each label: effective partners per cell, by label.

    Each box is one label's cells; the value is a cell's effective number of partners divided by
    the label's number of modality-2 cells (:func:`partner_specificity`). 1 (dashed line) is what
    a coupling that knows only the labels gives; lower values mean the coupling singles out a few
    partners inside the label. This is what a label-level heatmap of a labeled coupling cannot
    show.

    Parameters
    ----------
    mdata
        MuData after :meth:`scgroove.GROOVE.align` (the coupling's label blocks are stored with it).
    key
        Key of the coupling under ``mdata.uns["groove"]``.
    ax
        Axes to draw on.
    max_labels
        Show at most this many labels (the largest blocks).
    show, save
        As in scanpy.
    """
    coupling, stored = _stored_coupling(mdata, key)
    if any(block.label is None for block in coupling.blocks):
        raise ValueError(f"The coupling under {key!r} has no label blocks (an unlabeled method); use coupling_heatmap.")
    table = partner_specificity(coupling)
    sizes = table.groupby("label")["block_size"].first().sort_values(ascending=False)
    labels = list(sizes.index[:max_labels])
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 0.6 + 0.22 * len(labels)))
    values = [table.loc[table["label"] == label, "specificity"].to_numpy() for label in labels]
    ax.boxplot(values, vert=False, widths=0.6, showfliers=False)
    ax.set_yticks(range(1, len(labels) + 1), [f"{label} ({sizes[label]})" for label in labels], fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.axvline(1.0, color="grey", linestyle="--", linewidth=1)
    low = max(float(np.nanmin(table["specificity"])), 1e-6)
    ticks = [t for t in (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0) if t >= low / 3]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("effective partners / cells of the label (1 = uniform within the label)")
    ax.set_ylabel(f"label (cells of {stored['modalities'][1]})")
    median = float(np.median(table["specificity"]))
    hidden = f"; {len(sizes) - len(labels)} smaller labels not shown" if len(sizes) > len(labels) else ""
    ax.set_title(f"Within-label specificity of {stored['method']} (median {median:.2f}){hidden}", fontsize=9)
    return finish(ax, show, save)

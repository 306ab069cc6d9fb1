"""The metrics table and the one-page summary figure of ``scgroove run``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from mudata import MuData

from scgroove._constants import RESULT_KEYS
from scgroove.metrics import METRIC_NAMES
from scgroove.pl._common import finish
from scgroove.pl._coupling import coupling_heatmap, coupling_specificity
from scgroove.pl._embedding import joint_embedding


def metrics_table(
    metrics: Mapping[str, float],
    ax: Axes | None = None,
    title: str = "Scores against hidden truth",
    show: bool | None = None,
    save: str | Path | None = None,
) -> Axes | None:
    """Draw a two-column table of scores, named as in :data:`scgroove.metrics.METRIC_NAMES`."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 3))
    ax.axis("off")
    rows = [[METRIC_NAMES.get(name, name), f"{value:.3f}"] for name, value in metrics.items()]
    table = ax.table(
        cellText=rows or [["(no ground truth)", ""]], colLabels=["metric", "value"], loc="center", colWidths=[0.8, 0.2]
    )
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.scale(1, 1.3)
    ax.set_title(title)
    return finish(ax, show, save)


def summary(
    mdata: MuData,
    perturbation_key: str,
    metrics: Mapping[str, float] | None = None,
    coupling_key: str = "coupling",
    show: bool | None = None,
    save: str | Path | None = None,
) -> Figure | None:
    """One page: joint UMAP by modality and by perturbation, within-label coupling specificity, metrics.

    Needs a coupling (:meth:`scgroove.GROOVE.align` or :func:`scgroove.tl.match`). The UMAP panels
    need :func:`scgroove.tl.joint_umap`; without it (e.g. after a pipeline that matched each
    modality in its own space, where no joint embedding exists) the page has the coupling and the
    scores only, and its title says why.
    """
    if all(RESULT_KEYS.JOINT_UMAP in adata.obsm for adata in mdata.mod.values()):
        figure, axes = plt.subplots(2, 2, figsize=(14, 11), gridspec_kw={"wspace": 0.55, "hspace": 0.3})
        joint_embedding(mdata, "modality", ax=axes[0, 0])
        joint_embedding(mdata, perturbation_key, ax=axes[0, 1])
        bottom = axes[1]
    else:  # no shared space: the coupling and the scores only, and a title that says why
        figure, bottom = plt.subplots(1, 2, figsize=(14, 6), gridspec_kw={"wspace": 0.55})
        record = mdata.uns.get(RESULT_KEYS.UNS, {}).get("match", {})
        if record.get("shared_space", True):
            title = "No joint UMAP yet: run scgroove.tl.joint_umap(mdata, use_rep=...) for the top panels"
        else:
            title = f"{record['pipeline']}: each modality matched in its own space, so there is no joint UMAP"
        figure.suptitle(title, fontsize=11)
    coupling = mdata.uns[RESULT_KEYS.UNS][coupling_key]
    if "block_labels" in coupling:
        coupling_specificity(mdata, coupling_key, ax=bottom[0])
    else:
        coupling_heatmap(mdata, coupling_key, label_key=perturbation_key, ax=bottom[0])
    metrics_table(metrics or {}, ax=bottom[1])
    return finish(figure, show, save)

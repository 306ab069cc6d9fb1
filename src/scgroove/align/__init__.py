"""Optimal-transport aligners returning (block-sparse) couplings."""

from scgroove.align._api import LABELED_METHODS, METHODS, SHARED_SPACE, align, default_params, split_params
from scgroove.align._blocks import AUTO_MAX_BLOCK_CELLS, one_hot_labels, stratified_labels
from scgroove.align._coot import coot, labeled_coot
from scgroove.align._coupling import AUTO_TOP_K, AUTO_TOP_K_ABOVE, Coupling, CouplingBlock
from scgroove.align._linear import entropic_ot, knn, labeled_knn, labeled_ot
from scgroove.align._mapped import mapped_ot, shared_linear_map
from scgroove.align._quadratic import (
    FGW_ALPHAS,
    entropic_gw,
    labeled_fgw,
    labeled_gw,
    per_label_gw,
    with_alpha_selection,
)
from scgroove.align._selection import Selection, coarsen_labels, label_resolution, select_by_label_resolution
from scgroove.align._soft import soft_labeled_ot

__all__ = [
    "AUTO_MAX_BLOCK_CELLS",
    "AUTO_TOP_K",
    "AUTO_TOP_K_ABOVE",
    "FGW_ALPHAS",
    "LABELED_METHODS",
    "METHODS",
    "SHARED_SPACE",
    "Coupling",
    "CouplingBlock",
    "Selection",
    "align",
    "coarsen_labels",
    "coot",
    "default_params",
    "entropic_gw",
    "entropic_ot",
    "knn",
    "labeled_coot",
    "labeled_fgw",
    "labeled_gw",
    "labeled_knn",
    "labeled_ot",
    "label_resolution",
    "mapped_ot",
    "one_hot_labels",
    "per_label_gw",
    "select_by_label_resolution",
    "shared_linear_map",
    "soft_labeled_ot",
    "split_params",
    "stratified_labels",
    "with_alpha_selection",
]

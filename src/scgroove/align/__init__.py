"""Optimal-transport aligners returning (block-sparse) couplings."""

from scgroove.align._api import FGW_ALPHAS, METHODS, SHARED_SPACE, align, labeled_fgw_auto
from scgroove.align._coot import coot, labeled_coot
from scgroove.align._coupling import Coupling, CouplingBlock
from scgroove.align._linear import entropic_ot, knn, labeled_knn, labeled_ot
from scgroove.align._quadratic import entropic_gw, labeled_fgw, labeled_gw
from scgroove.align._selection import Selection, coarsen_labels, label_resolution, select_by_label_resolution

__all__ = [
    "FGW_ALPHAS",
    "METHODS",
    "SHARED_SPACE",
    "Coupling",
    "CouplingBlock",
    "Selection",
    "align",
    "coarsen_labels",
    "coot",
    "entropic_gw",
    "entropic_ot",
    "knn",
    "labeled_coot",
    "labeled_fgw",
    "labeled_fgw_auto",
    "labeled_gw",
    "labeled_knn",
    "labeled_ot",
    "label_resolution",
    "select_by_label_resolution",
]

"""Optimal-transport aligners returning (block-sparse) couplings."""

from scgroove.align._api import METHODS, SHARED_SPACE, align
from scgroove.align._coot import coot, labeled_coot
from scgroove.align._coupling import Coupling, CouplingBlock
from scgroove.align._linear import entropic_ot, knn, labeled_knn, labeled_ot
from scgroove.align._quadratic import entropic_gw, labeled_fgw, labeled_gw

__all__ = [
    "METHODS",
    "SHARED_SPACE",
    "Coupling",
    "CouplingBlock",
    "align",
    "coot",
    "entropic_gw",
    "entropic_ot",
    "knn",
    "labeled_coot",
    "labeled_fgw",
    "labeled_gw",
    "labeled_knn",
    "labeled_ot",
]

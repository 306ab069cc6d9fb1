"""Simulated and real example data with ground truth."""

from scgroove.datasets._shipped import (
    LINEAGE_PREFIXES,
    bmmc_cite,
    bmmc_multiome,
    cbmc_cite,
    gene_panels,
    papalexi_eccite,
)
from scgroove.datasets._simulate import simulate
from scgroove.datasets._truth import true_matching, unpair

__all__ = [
    "LINEAGE_PREFIXES",
    "bmmc_cite",
    "bmmc_multiome",
    "cbmc_cite",
    "gene_panels",
    "papalexi_eccite",
    "simulate",
    "true_matching",
    "unpair",
]

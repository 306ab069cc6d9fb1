"""Simulated and real example data with ground truth."""

from scgroove.datasets._shipped import bmmc_cite, bmmc_multiome, cbmc_cite
from scgroove.datasets._simulate import simulate
from scgroove.datasets._truth import true_matching, unpair

__all__ = ["bmmc_cite", "bmmc_multiome", "cbmc_cite", "simulate", "true_matching", "unpair"]

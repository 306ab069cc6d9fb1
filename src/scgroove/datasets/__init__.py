"""Simulated and real example data with ground truth."""

from scgroove.datasets._simulate import simulate
from scgroove.datasets._truth import true_matching, unpair

__all__ = ["simulate", "true_matching", "unpair"]

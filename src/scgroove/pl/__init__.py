"""Plots of GROOVE results (each takes ``ax=``/returns the Axes or Figure, no show/save side effects)."""

from scgroove.pl._benchmark import benchmark_bars, benchmark_heatmap, sensitivity_landscape
from scgroove.pl._summary import coupling_heatmap, joint_embedding, metrics_table, summary

__all__ = [
    "benchmark_bars",
    "benchmark_heatmap",
    "coupling_heatmap",
    "joint_embedding",
    "metrics_table",
    "sensitivity_landscape",
    "summary",
]

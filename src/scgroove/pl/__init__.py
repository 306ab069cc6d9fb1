"""Plots of GROOVE results. Each takes ``ax=`` where it draws one panel, and ``show``/``save`` as scanpy does."""

from scgroove.pl._benchmark import benchmark_bars, benchmark_heatmap, sensitivity_landscape
from scgroove.pl._common import category_colors
from scgroove.pl._coupling import coupling_heatmap, coupling_specificity, partner_specificity
from scgroove.pl._embedding import joint_embedding
from scgroove.pl._imputation import imputation_scatter
from scgroove.pl._mixing import modality_mixing
from scgroove.pl._summary import metrics_table, summary

__all__ = [
    "benchmark_bars",
    "benchmark_heatmap",
    "category_colors",
    "coupling_heatmap",
    "coupling_specificity",
    "imputation_scatter",
    "joint_embedding",
    "metrics_table",
    "modality_mixing",
    "partner_specificity",
    "sensitivity_landscape",
    "summary",
]

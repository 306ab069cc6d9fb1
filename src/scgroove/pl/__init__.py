"""Plots of GROOVE results (each takes ``ax=``/returns the Axes or Figure, no show/save side effects)."""

from scgroove.pl._summary import coupling_heatmap, joint_embedding, metrics_table, summary

__all__ = ["coupling_heatmap", "joint_embedding", "metrics_table", "summary"]

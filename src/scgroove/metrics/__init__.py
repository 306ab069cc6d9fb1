"""Evaluation against a hidden true pairing: FOSCTTM, trace, label transfer, imputation."""

from scgroove.metrics._coupling import label_transfer_accuracy, trace, trace_chance
from scgroove.metrics._foscttm import (
    barycentric_foscttm,
    barycentric_projection,
    foscttm,
    foscttm_per_cell,
    within_label_foscttm,
)
from scgroove.metrics._imputation import imputation_scores

__all__ = [
    "barycentric_foscttm",
    "barycentric_projection",
    "foscttm",
    "foscttm_per_cell",
    "imputation_scores",
    "label_transfer_accuracy",
    "trace",
    "trace_chance",
    "within_label_foscttm",
]

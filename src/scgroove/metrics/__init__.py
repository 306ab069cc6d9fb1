"""Evaluation against a hidden true pairing: FOSCTTM, trace, label transfer, imputation."""

from scgroove.metrics._coupling import label_transfer_accuracy, trace, trace_chance
from scgroove.metrics._foscttm import (
    barycentric_foscttm,
    foscttm,
    foscttm_per_cell,
    within_label_foscttm,
)
from scgroove.metrics._imputation import imputation_scores
from scgroove.metrics._names import METRIC_NAMES

__all__ = [
    "METRIC_NAMES",
    "barycentric_foscttm",
    "foscttm",
    "foscttm_per_cell",
    "imputation_scores",
    "label_transfer_accuracy",
    "trace",
    "trace_chance",
    "within_label_foscttm",
]

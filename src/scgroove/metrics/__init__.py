"""Evaluation against a hidden true pairing (FOSCTTM, trace, label transfer, imputation), and of the joint latent."""

from scgroove.metrics._coupling import label_transfer_accuracy, trace, trace_chance
from scgroove.metrics._foscttm import (
    barycentric_foscttm,
    foscttm,
    foscttm_per_cell,
    within_label_foscttm,
)
from scgroove.metrics._imputation import imputation_scores
from scgroove.metrics._mixing import (
    cross_modal_transfer_accuracy,
    joint_cluster_scores,
    mean_modality_mixing,
    modality_mixing,
)
from scgroove.metrics._names import METRIC_NAMES

__all__ = [
    "METRIC_NAMES",
    "barycentric_foscttm",
    "cross_modal_transfer_accuracy",
    "foscttm",
    "foscttm_per_cell",
    "imputation_scores",
    "joint_cluster_scores",
    "label_transfer_accuracy",
    "mean_modality_mixing",
    "modality_mixing",
    "trace",
    "trace_chance",
    "within_label_foscttm",
]

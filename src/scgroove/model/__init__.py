"""The GROOVE model and its data handling."""

from scgroove.model._groove import GROOVE
from scgroove.model._guide import (
    PRIOR_EPSILON,
    PRIOR_SHARE,
    modality_pca,
    pca_per_modality,
    structure_guide,
    structure_prior,
)
from scgroove.model._label_aware_vae import LabelAwareVAE

__all__ = [
    "GROOVE",
    "PRIOR_EPSILON",
    "PRIOR_SHARE",
    "LabelAwareVAE",
    "modality_pca",
    "pca_per_modality",
    "structure_guide",
    "structure_prior",
]

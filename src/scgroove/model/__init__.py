"""The GROOVE model and its data handling."""

from scgroove.model._groove import GROOVE
from scgroove.model._guide import modality_pca, pca_per_modality, structure_guide
from scgroove.model._label_aware_vae import LabelAwareVAE

__all__ = ["GROOVE", "LabelAwareVAE", "modality_pca", "pca_per_modality", "structure_guide"]

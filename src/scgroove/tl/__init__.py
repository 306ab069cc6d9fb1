"""Tools that compute on GROOVE results and write into the MuData."""

from scgroove.tl._effects import energy_distance_test, perturbation_effects
from scgroove.tl._embedding import COUPLED_SHARE, coupled_latent, joint_umap
from scgroove.tl._label_support import label_support
from scgroove.tl._match import COUPLED_MATCH_KEY, MATCH_KEY, PIPELINES, MatchResult, Pipeline, match

__all__ = [
    "COUPLED_MATCH_KEY",
    "COUPLED_SHARE",
    "MATCH_KEY",
    "PIPELINES",
    "MatchResult",
    "Pipeline",
    "coupled_latent",
    "energy_distance_test",
    "joint_umap",
    "label_support",
    "match",
    "perturbation_effects",
]

"""Tools that compute on GROOVE results and write into the MuData."""

from scgroove.tl._embedding import joint_umap
from scgroove.tl._match import MATCH_KEY, PIPELINES, MatchResult, Pipeline, match

__all__ = ["MATCH_KEY", "PIPELINES", "MatchResult", "Pipeline", "joint_umap", "match"]

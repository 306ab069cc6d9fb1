"""Tools that compute on GROOVE results and write into the MuData."""

from scgroove.tl._embedding import joint_umap

__all__ = ["joint_umap"]

"""Preprocessing into the input GROOVE expects (see the README's data contract)."""

from scgroove.pp._atac import atac_lsi, tfidf

__all__ = ["atac_lsi", "tfidf"]

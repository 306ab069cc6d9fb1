"""The GROOVE model and its data handling."""

from scgroove.model._groove import GROOVE

__all__ = ["GROOVE"]

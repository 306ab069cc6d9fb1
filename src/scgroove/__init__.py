"""scgroove: shared representations of weakly paired single-cell modalities."""

from importlib.metadata import PackageNotFoundError, version

from scgroove import align, benchmark, datasets, losses, metrics, pl, pp, tl
from scgroove.model import GROOVE, LabelAwareVAE

try:
    __version__ = version("scgroove")
except PackageNotFoundError:  # pragma: no cover - source tree without install
    __version__ = "0.0.0"

__all__ = [
    "GROOVE",
    "LabelAwareVAE",
    "align",
    "benchmark",
    "datasets",
    "losses",
    "metrics",
    "pl",
    "pp",
    "tl",
    "__version__",
]

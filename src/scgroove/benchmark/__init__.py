"""Combinatorial benchmark: representation learners x OT aligners x datasets x seeds."""

from scgroove.benchmark._config import DEFAULT_CONFIG, load_config
from scgroove.benchmark._datasets import DATASETS, BenchmarkData
from scgroove.benchmark._learners import BASELINES, GROOVE_VARIANTS, LEARNERS, Representation
from scgroove.benchmark._runner import DEFAULT_EPSILON, DEFAULT_EPSILONS, run_benchmark, run_cell
from scgroove.benchmark._stats import paired_tests, summarize

__all__ = [
    "BASELINES",
    "DEFAULT_CONFIG",
    "DATASETS",
    "DEFAULT_EPSILON",
    "DEFAULT_EPSILONS",
    "GROOVE_VARIANTS",
    "LEARNERS",
    "BenchmarkData",
    "Representation",
    "load_config",
    "paired_tests",
    "run_benchmark",
    "run_cell",
    "summarize",
]

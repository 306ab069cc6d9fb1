"""Combinatorial benchmark: representation learners x OT aligners x datasets x seeds."""

from scgroove.benchmark._baselines import label_mean_imputation
from scgroove.benchmark._config import DEFAULT_CONFIG, load_config
from scgroove.benchmark._datasets import DATASETS, BenchmarkData
from scgroove.benchmark._learners import BASELINES, GROOVE_VARIANTS, LEARNERS, WITHIN_GROUP_OPTIONS, Representation
from scgroove.benchmark._runner import (
    DEFAULT_EPSILON,
    DEFAULT_EPSILONS,
    evaluate_representation,
    make_dataset,
    run_benchmark,
    run_cell,
)
from scgroove.benchmark._selection import select_pipeline
from scgroove.benchmark._sensitivity import sensitivity_sweep
from scgroove.benchmark._stats import paired_tests, summarize

__all__ = [
    "BASELINES",
    "DEFAULT_CONFIG",
    "DATASETS",
    "DEFAULT_EPSILON",
    "DEFAULT_EPSILONS",
    "GROOVE_VARIANTS",
    "LEARNERS",
    "WITHIN_GROUP_OPTIONS",
    "BenchmarkData",
    "Representation",
    "evaluate_representation",
    "label_mean_imputation",
    "load_config",
    "make_dataset",
    "paired_tests",
    "run_benchmark",
    "run_cell",
    "select_pipeline",
    "sensitivity_sweep",
    "summarize",
]

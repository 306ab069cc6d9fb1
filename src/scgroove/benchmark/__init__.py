"""Combinatorial benchmark: representation learners x OT aligners x datasets x seeds."""

from scgroove.benchmark._aligners import ALIGNERS, DEFAULT_EPSILON, DEFAULT_EPSILONS, PEER_ALIGNERS, BenchmarkAligner
from scgroove.benchmark._baselines import label_mean_imputation
from scgroove.benchmark._config import DEFAULT_CONFIG, load_config
from scgroove.benchmark._datasets import DATASETS, BenchmarkData, DatasetRecipe
from scgroove.benchmark._learners import (
    BASELINES,
    GROOVE_VARIANTS,
    LEARNERS,
    PEER_LEARNERS,
    WITHIN_GROUP_OPTIONS,
    Representation,
)
from scgroove.benchmark._runner import evaluate_representation, make_dataset, run_benchmark, run_task
from scgroove.benchmark._selection import select_pipeline
from scgroove.benchmark._sensitivity import sensitivity_sweep
from scgroove.benchmark._stats import paired_tests, pipeline_kind, rank_pipelines, summarize
from scgroove.benchmark._truth import DatasetTruth, score_against_truth
from scgroove.model._guide import pca_per_modality

__all__ = [
    "ALIGNERS",
    "BASELINES",
    "DATASETS",
    "DEFAULT_CONFIG",
    "DEFAULT_EPSILON",
    "DEFAULT_EPSILONS",
    "GROOVE_VARIANTS",
    "LEARNERS",
    "PEER_ALIGNERS",
    "PEER_LEARNERS",
    "WITHIN_GROUP_OPTIONS",
    "BenchmarkAligner",
    "BenchmarkData",
    "DatasetRecipe",
    "DatasetTruth",
    "Representation",
    "evaluate_representation",
    "label_mean_imputation",
    "load_config",
    "make_dataset",
    "paired_tests",
    "pipeline_kind",
    "rank_pipelines",
    "pca_per_modality",
    "run_benchmark",
    "run_task",
    "score_against_truth",
    "select_pipeline",
    "sensitivity_sweep",
    "summarize",
]

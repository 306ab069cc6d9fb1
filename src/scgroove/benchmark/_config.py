"""Benchmark configuration files (TOML)."""

from __future__ import annotations

import tomllib
from pathlib import Path

DEFAULT_CONFIG = Path(__file__).parent / "default.toml"
KEYS = {
    "learners",
    "aligners",
    "datasets",
    "seeds",
    "epochs",
    "learner_epochs",
    "backend",
    "ray_address",
    "epsilons",
    "dataset_options",
}


def load_config(path: str | Path | None = None) -> dict:
    """Read a benchmark TOML file (default: the shipped small configuration) into run_benchmark's arguments."""
    path = Path(path) if path is not None else DEFAULT_CONFIG
    if not path.exists():
        raise FileNotFoundError(f"Benchmark config {str(path)!r} does not exist.")
    with open(path, "rb") as handle:
        config = tomllib.load(handle)
    unknown = set(config) - KEYS
    if unknown:
        raise ValueError(f"Unknown keys {sorted(unknown)} in {path}; allowed: {sorted(KEYS)}.")
    check_names(config.get("learners", []), config.get("aligners", []), config.get("datasets", []))
    check_learner_epochs(config.get("learner_epochs", {}), config.get("learners", []))
    return config


def check_learner_epochs(learner_epochs: dict, learners) -> None:
    """Refuse per-learner epochs for a learner not in the grid, or that are not positive integers."""
    stray = sorted(set(learner_epochs) - set(learners))
    if stray:
        raise ValueError(f"learner_epochs names {stray}, which are not among the learners {list(learners)}.")
    bad = {name: value for name, value in learner_epochs.items() if not isinstance(value, int) or value < 1}
    if bad:
        raise ValueError(f"learner_epochs must be positive integers, got {bad}.")


def check_names(learners, aligners, datasets) -> None:
    """Refuse unknown learner, aligner or dataset names before anything runs, naming them."""
    from scgroove.benchmark._aligners import ALIGNERS
    from scgroove.benchmark._datasets import DATASETS
    from scgroove.benchmark._learners import LEARNERS

    for kind, names, known in (
        ("learner", learners, LEARNERS),
        ("aligner", aligners, ALIGNERS),
        ("dataset", datasets, DATASETS),
    ):
        unknown = [name for name in names if name not in known]
        if unknown:
            raise ValueError(f"Unknown {kind}(s) {unknown}; choose from {list(known)}.")

"""Benchmark configuration files (TOML)."""

from __future__ import annotations

import tomllib
from pathlib import Path

DEFAULT_CONFIG = Path(__file__).parent / "default.toml"
KEYS = {"learners", "aligners", "datasets", "seeds", "epochs", "backend", "ray_address", "epsilons", "dataset_options"}


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
    return config

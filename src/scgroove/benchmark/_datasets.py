"""Benchmark datasets: simulations with known truth and real paired data with the pairing hidden."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mudata as md
import numpy as np

from scgroove.datasets import simulate, unpair

# a developer checkout has shared/data beside it; elsewhere set SCGROOVE_SHARED_DATA
SHARED_DATA = Path(
    os.environ.get("SCGROOVE_SHARED_DATA", Path(__file__).resolve().parents[3].parent / "shared" / "data")
)


@dataclass
class BenchmarkData:
    mdata: md.MuData
    key: str
    modalities: tuple[str, str]


def _simulated(shared_fraction: float, heterogeneous: int = 0) -> Callable[..., BenchmarkData]:
    def make(seed: int, **options) -> BenchmarkData:
        """``options``: arguments of :func:`scgroove.datasets.simulate` (sizes, noise ...)."""
        params = {"n_perturbations": 10, "cells_per_perturbation": 60, **options}
        mdata = simulate(
            shared_fraction=shared_fraction,
            heterogeneous_perturbations=heterogeneous,
            keep_fraction=(0.9, 0.85),
            seed=seed,
            **params,
        )
        return BenchmarkData(mdata, "perturbation", ("rna", "protein"))

    return make


def _real(name: str, modalities: tuple[str, str]) -> Callable[[int], BenchmarkData]:
    def make(seed: int) -> BenchmarkData:
        path = SHARED_DATA / f"{name}.h5mu"
        if not path.exists():
            raise FileNotFoundError(f"Real dataset {name!r} expects {path} (the project's shared/data folder).")
        return BenchmarkData(
            unpair(md.read_h5mu(path), label_key="label", fraction=0.85, seed=seed), "label", modalities
        )

    return make


def _label_noise(fraction: float, base: Callable[..., BenchmarkData]) -> Callable[..., BenchmarkData]:
    """Shuffle ``fraction`` of modality 2's labels (the truth is untouched)."""

    def make(seed: int, **options) -> BenchmarkData:
        data = base(seed, **options)
        obs = data.mdata.mod[data.modalities[1]].obs
        rng = np.random.default_rng(seed + 1000)
        rows = rng.choice(len(obs), int(round(fraction * len(obs))), replace=False)
        labels = obs[data.key].astype(str).to_numpy().copy()
        labels[rows] = rng.permutation(labels[rows])
        obs[data.key] = labels
        return data

    return make


def _missing_label(base: Callable[..., BenchmarkData]) -> Callable[..., BenchmarkData]:
    """Drop the cells of one perturbation from modality 2 (a label present in one modality only)."""

    def make(seed: int, **options) -> BenchmarkData:
        data = base(seed, **options)
        m2 = data.modalities[1]
        obs = data.mdata.mod[m2].obs
        keep = obs[data.key].astype(str).to_numpy() != sorted(obs[data.key].astype(str).unique())[0]
        mods = {m: data.mdata.mod[m] for m in data.modalities}
        mods[m2] = mods[m2][keep].copy()
        return BenchmarkData(md.MuData(mods), data.key, data.modalities)

    return make


#: Benchmark datasets by name. Each is called with the seed; the simulated ones (names starting
#: with ``"sim_"``) also take keyword arguments of :func:`scgroove.datasets.simulate`.
DATASETS: dict[str, Callable[..., BenchmarkData]] = {
    "sim_rho1.0": _simulated(1.0),
    "sim_rho0.8": _simulated(0.8),
    "sim_rho0.5": _simulated(0.5),
    "sim_heterogeneous": _simulated(0.8, heterogeneous=5),
    "sim_label_noise_20": _label_noise(0.2, _simulated(0.8)),
    "sim_missing_label": _missing_label(_simulated(0.8)),
    "bmmc_cite_600": _real("bmmc_cite_600", ("rna", "protein")),
    "cbmc_cite_1182": _real("cbmc_cite_1182", ("rna", "protein")),
    "bmmc_multiome_500": _real("bmmc_multiome_500", ("rna", "atac")),
}

"""Benchmark datasets: simulations with known truth and real paired data with the pairing hidden."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import mudata as md
import numpy as np

from scgroove._mudata import new_mudata
from scgroove.datasets import simulate, unpair
from scgroove.datasets._shipped import SHIPPED


@dataclass
class BenchmarkData:
    """A weakly paired dataset with its hidden truth: the MuData, the label key, the two modalities."""

    mdata: md.MuData
    key: str
    modalities: tuple[str, str]


@dataclass(frozen=True)
class DatasetRecipe:
    """How to build a benchmark dataset for a seed.

    ``simulated`` recipes also take keyword arguments of :func:`scgroove.datasets.simulate`
    (sizes, noise ...); real ones refuse them.
    """

    make: Callable[..., BenchmarkData]
    simulated: bool

    def __call__(self, seed: int, **options) -> BenchmarkData:
        if options and not self.simulated:
            raise TypeError(f"A real dataset takes no simulation options, got {sorted(options)}.")
        return self.make(seed, **options)


def _simulated(shared_fraction: float, heterogeneous: bool = False) -> Callable[..., BenchmarkData]:
    def make(seed: int, **options) -> BenchmarkData:
        """``options``: arguments of :func:`scgroove.datasets.simulate` (sizes, noise ...).

        A heterogeneous simulation makes half of the perturbations heterogeneous (at least 5).
        """
        params = {"n_perturbations": 10, "cells_per_perturbation": 60, "keep_fraction": (0.9, 0.85), **options}
        n = params["n_perturbations"]
        mixed = min(n, max(5, n // 2)) if heterogeneous else 0
        mdata = simulate(shared_fraction=shared_fraction, heterogeneous_perturbations=mixed, seed=seed, **params)
        return BenchmarkData(mdata, "perturbation", ("rna", "protein"))

    return make


def _real(name: str, modalities: tuple[str, str]) -> Callable[[int], BenchmarkData]:
    """A shipped paired dataset (:mod:`scgroove.datasets`) with the pairing hidden: 85% of cells per modality."""

    def make(seed: int) -> BenchmarkData:
        return BenchmarkData(unpair(SHIPPED[name](), label_key="label", fraction=0.85, seed=seed), "label", modalities)

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
        return BenchmarkData(new_mudata(mods), data.key, data.modalities)

    return make


#: Benchmark datasets by name: :class:`DatasetRecipe` s called with the seed; the simulated
#: ones also take keyword arguments of :func:`scgroove.datasets.simulate`. The real ones are the
#: datasets shipped with the package, so they work in any installation.
DATASETS: dict[str, DatasetRecipe] = {
    "sim_rho1.0": DatasetRecipe(_simulated(1.0), simulated=True),
    "sim_rho0.8": DatasetRecipe(_simulated(0.8), simulated=True),
    "sim_rho0.5": DatasetRecipe(_simulated(0.5), simulated=True),
    "sim_heterogeneous": DatasetRecipe(_simulated(0.8, heterogeneous=True), simulated=True),
    "sim_label_noise_20": DatasetRecipe(_label_noise(0.2, _simulated(0.8)), simulated=True),
    "sim_missing_label": DatasetRecipe(_missing_label(_simulated(0.8)), simulated=True),
    "bmmc_cite_600": DatasetRecipe(_real("bmmc_cite_600", ("rna", "protein")), simulated=False),
    "cbmc_cite_1182": DatasetRecipe(_real("cbmc_cite_1182", ("rna", "protein")), simulated=False),
    "bmmc_multiome_500": DatasetRecipe(_real("bmmc_multiome_500", ("rna", "atac")), simulated=False),
}

"""Small real datasets shipped inside the package."""

from __future__ import annotations

from pathlib import Path

import mudata as md

DATA_DIR = Path(__file__).parent / "data"


def bmmc_cite() -> md.MuData:
    """600 bone-marrow cells measured by CITE-seq (RNA + 134 surface proteins), *paired*.

    From the NeurIPS 2021 multimodal single-cell integration challenge (BMMC CITE-seq test
    resource, openproblems-bio/neurips2021_multimodal_viash, MIT licence); see
    ``scgroove/datasets/data/SOURCE.md``. Raw counts in ``X`` of modalities ``"rna"`` (1000 genes)
    and ``"protein"``; cell types in ``obs["label"]``. Use :func:`scgroove.datasets.unpair` to hide
    the pairing.

    Returns
    -------
    A new MuData read from the shipped file.
    """
    return md.read_h5mu(DATA_DIR / "bmmc_cite_600.h5mu")

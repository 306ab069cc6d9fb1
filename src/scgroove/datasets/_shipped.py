"""Small real paired datasets shipped inside the package (see ``data/SOURCE.md``)."""

from __future__ import annotations

import warnings
from pathlib import Path

import mudata as md

from scgroove._mudata import read_mudata

DATA_DIR = Path(__file__).parent / "data"


def _read(name: str) -> md.MuData:
    return read_mudata(DATA_DIR / f"{name}.h5mu")


def bmmc_cite() -> md.MuData:
    """600 bone-marrow cells measured by CITE-seq (RNA + 134 surface proteins), *paired*.

    From the NeurIPS 2021 multimodal single-cell integration challenge (BMMC CITE-seq test
    resource, openproblems-bio/neurips2021_multimodal_viash, MIT licence); see
    ``scgroove/datasets/data/SOURCE.md``. Raw counts in ``X`` of modalities ``"rna"`` (1000 genes)
    and ``"protein"``; cell types in ``obs["label"]``. Use :func:`scgroove.datasets.unpair` to hide
    the pairing. The three proteins whose name is also a gene's (CD36, CD69, HLA-E) are called
    ``"<name>_protein"``, so the MuData's feature names are unique.

    Returns
    -------
    A new MuData read from the shipped file.
    """
    with warnings.catch_warnings():  # the shared names are made unique right below
        warnings.filterwarnings("ignore", message="var_names are not unique")
        mdata = _read("bmmc_cite_600")
    genes = set(mdata["rna"].var_names)
    protein = mdata["protein"]
    protein.var_names = [f"{name}_protein" if name in genes else name for name in protein.var_names]
    with md.set_options(pull_on_update=False):
        mdata.update()
    return mdata


def cbmc_cite() -> md.MuData:
    """1182 cord-blood cells measured by CITE-seq (RNA 1000 genes + 10 surface proteins), *paired*.

    Stoeckius et al. 2017 (GEO GSE100866), via the example data of xianglin226/scMDC
    (Apache-2.0); feature names are not available. Raw counts in ``X`` of ``"rna"`` and
    ``"protein"``; an annotated cell class (6, unnamed) in ``obs["label"]``.

    Returns
    -------
    A new MuData read from the shipped file.
    """
    return _read("cbmc_cite_1182")


def bmmc_multiome() -> md.MuData:
    """500 bone-marrow cells measured by 10x Multiome (RNA 600 genes + ATAC 600 peaks), *paired*.

    Same challenge and licence as :func:`bmmc_cite` (BMMC Multiome test resource). Raw counts in
    ``X`` of ``"rna"`` and ``"atac"``; cell types (21) in ``obs["label"]``.

    Returns
    -------
    A new MuData read from the shipped file.
    """
    return _read("bmmc_multiome_500")


#: The shipped datasets by file name, with their loaders.
SHIPPED = {"bmmc_cite_600": bmmc_cite, "cbmc_cite_1182": cbmc_cite, "bmmc_multiome_500": bmmc_multiome}

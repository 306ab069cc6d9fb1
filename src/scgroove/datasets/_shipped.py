"""Small real paired datasets shipped inside the package (see ``data/SOURCE.md``)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd

from scgroove._mudata import new_mudata, read_mudata

DATA_DIR = Path(__file__).parent / "data"


def _read(name: str) -> md.MuData:
    return read_mudata(DATA_DIR / f"{name}.h5mu")


#: Lineage of each cell type of the BMMC sets (:func:`bmmc_cite`, :func:`bmmc_multiome`), matched on
#: the start of the type's name, first match wins. Seven groups that each hold many cell states,
#: as a perturbation group of a screen does: B cells (naive, transitional, B1, plasma), CD4 T (with
#: T reg), CD8 and unconventional T (MAIT, gamma-delta), NK and innate lymphoid cells, monocytes
#: and dendritic cells, the erythroid lineage, and progenitors (HSC, lymphoid, G/M, MK/E).
LINEAGE_PREFIXES: dict[str, str] = {
    "Naive CD20+ B": "B",
    "Transitional B": "B",
    "B1 B": "B",
    "Plasma": "B",
    "CD4+ T": "CD4 T",
    "T reg": "CD4 T",
    "CD8+ T": "CD8 T",
    "MAIT": "CD8 T",
    "gdT": "CD8 T",
    "NK": "NK",
    "ILC": "NK",
    "CD14+ Mono": "Mono/DC",
    "CD16+ Mono": "Mono/DC",
    "pDC": "Mono/DC",
    "cDC": "Mono/DC",
    "Reticulocyte": "Erythroid",
    "Normoblast": "Erythroid",
    "Proerythroblast": "Erythroid",
    "Erythroblast": "Erythroid",
    "HSC": "Progenitor",
    "Lymph prog": "Progenitor",
    "G/M prog": "Progenitor",
    "MK/E prog": "Progenitor",
    "ID2-hi myeloid prog": "Progenitor",
}


def lineage_of(cell_types) -> np.ndarray:
    """The lineage (:data:`LINEAGE_PREFIXES`) of each BMMC cell type; an unknown type is an error."""
    cell_types = np.asarray(cell_types).astype(str)
    out = np.empty(len(cell_types), dtype=object)
    for name in np.unique(cell_types):
        lineage = next((group for prefix, group in LINEAGE_PREFIXES.items() if name.startswith(prefix)), None)
        if lineage is None:
            raise ValueError(f"Cell type {str(name)!r} has no lineage in LINEAGE_PREFIXES.")
        out[cell_types == name] = lineage
    return out.astype(str)


def _with_lineage(mdata: md.MuData) -> md.MuData:
    """Add ``obs["lineage"]`` (coarse groups) beside the fine ``obs["label"]``, in ``mdata`` and each modality."""
    lineage = pd.Categorical(lineage_of(mdata.obs["label"]))
    mdata.obs["lineage"] = lineage
    for adata in mdata.mod.values():
        adata.obs["lineage"] = pd.Categorical(lineage_of(mdata.obs["label"].reindex(adata.obs_names)))
    return mdata


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
    return _with_lineage(mdata)


def cbmc_cite() -> md.MuData:
    """1182 cord-blood cells measured by CITE-seq (RNA 1000 genes + 10 surface proteins), *paired*.

    Stoeckius et al. 2017 (GEO GSE100866), via the example data of xianglin226/scMDC
    (Apache-2.0); feature names are not available. Raw counts in ``X`` of ``"rna"`` and
    ``"protein"``; an annotated cell class (6, unnamed) in ``obs["label"]``.

    Returns
    -------
    A new MuData read from the shipped file.
    """
    mdata = _read("cbmc_cite_1182")
    mdata.obs["lineage"] = pd.Categorical(mdata.obs["label"].astype(str))
    for adata in mdata.mod.values():
        adata.obs["lineage"] = pd.Categorical(mdata.obs["label"].reindex(adata.obs_names).astype(str))
    return mdata


def bmmc_multiome() -> md.MuData:
    """500 bone-marrow cells measured by 10x Multiome (RNA 600 genes + ATAC 600 peaks), *paired*.

    Same challenge and licence as :func:`bmmc_cite` (BMMC Multiome test resource). Raw counts in
    ``X`` of ``"rna"`` and ``"atac"``; cell types (21) in ``obs["label"]`` and their lineage
    (7 coarse groups, as in :func:`bmmc_cite`) in ``obs["lineage"]``.

    Returns
    -------
    A new MuData read from the shipped file.
    """
    return _with_lineage(_read("bmmc_multiome_500"))


def papalexi_eccite() -> md.MuData:
    """A real CRISPR knockout screen: 9428 THP-1 cells, ECCITE-seq (RNA 299 genes + guide counts).

    Replicate 1 of Papalexi et al. 2021 (GEO GSE153056), genes downsampled as in the R package
    sceptredata (Katsevich-Lab/sceptredata, MIT licence); see ``scgroove/datasets/data/SOURCE.md``.
    Modalities ``"rna"`` (raw counts) and ``"guides"`` (gRNA UMI counts). Each cell's
    ``obs["guide"]`` (its most-UMI guide, 107 used), ``obs["target"]`` (25 knocked-out genes and
    ``"non-targeting"``, the control, 965 cells), ``obs["bio_rep"]``, ``obs["guide_umis"]`` and
    ``obs["top_guide_fraction"]``. The published strong hits are the interferon-gamma pathway
    (IFNGR1, IFNGR2, JAK2, STAT1, IRF1). One assay only: :func:`gene_panels` splits its genes into
    two "modalities" of the same cells, whose pairing :func:`scgroove.datasets.unpair` then hides.

    Returns
    -------
    A new MuData read from the shipped file.
    """
    return _read("papalexi_eccite_rep1")


def gene_panels(
    adata: ad.AnnData,
    *,
    names: tuple[str, str] = ("panel_a", "panel_b"),
    seed: int = 0,
    obs_keys: Sequence[str] | None = None,
) -> md.MuData:
    """Split the features of one assay at random into two disjoint halves: a paired two-modality MuData.

    A screen measured with one assay (e.g. :func:`papalexi_eccite`'s RNA) becomes a paired problem
    with the screen's real control, guides and knockouts; :func:`scgroove.datasets.unpair` hides
    the pairing. The two panels share no feature, so nothing but the cells' states links them.

    Parameters
    ----------
    adata
        Cells x features (``X`` is copied, split by columns).
    names
        The two modality names.
    seed
        Seed of the random split (each split is a different problem).
    obs_keys
        Columns of ``adata.obs`` to keep (default: all), copied into the MuData's ``obs`` too.

    Returns
    -------
    A new paired MuData; ``adata`` is not modified.
    """
    if len(names) != 2 or names[0] == names[1]:
        raise ValueError(f"names must be two different modality names, got {names!r}.")
    if adata.n_vars < 2:
        raise ValueError(f"gene_panels needs at least 2 features, got {adata.n_vars}.")
    order = np.random.default_rng(seed).permutation(adata.n_vars)
    halves = np.sort(order[: adata.n_vars // 2]), np.sort(order[adata.n_vars // 2 :])
    obs = adata.obs if obs_keys is None else adata.obs[list(obs_keys)]
    panels = {
        name: ad.AnnData(adata.X[:, cols].copy(), obs=obs.copy(), var=adata.var.iloc[cols].copy())
        for name, cols in zip(names, halves, strict=True)
    }
    mdata = new_mudata(panels)
    for key in obs.columns:
        mdata.obs[key] = obs[key].reindex(mdata.obs_names).to_numpy()
    return mdata


#: The shipped datasets by file name, with their loaders.
SHIPPED = {"bmmc_cite_600": bmmc_cite, "cbmc_cite_1182": cbmc_cite, "bmmc_multiome_500": bmmc_multiome}
#: The shipped screen (one assay with guides; not paired across modalities by itself, see :func:`gene_panels`).
SCREENS = {"papalexi_eccite_rep1": papalexi_eccite}

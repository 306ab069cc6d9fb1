"""ATAC input that scales: peak selection, TF-IDF and LSI (truncated SVD)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD

from scgroove._matrix import load_float32


def tfidf(counts: sp.csr_matrix, idf: np.ndarray | None = None, scale_factor: float = 1e4) -> sp.csr_matrix:
    """TF-IDF weighting of peak counts, as Signac's default; stays sparse.

    ``log1p(tf * idf * scale_factor)`` with ``tf`` a cell's counts over its total and ``idf`` the
    number of cells over a peak's total counts (given ``idf`` is used as is, e.g. for new cells).
    """
    counts = sp.csr_matrix(counts, dtype=np.float32)
    if idf is None:
        idf = counts.shape[0] / np.maximum(np.asarray(counts.sum(axis=0)).ravel(), 1.0)
    per_cell = np.asarray(counts.sum(axis=1)).ravel()
    tf = sp.diags(1.0 / np.maximum(per_cell, 1.0)) @ counts
    weighted = (tf @ sp.diags(idf * scale_factor)).tocsr()
    weighted.data = np.log1p(weighted.data)
    return weighted


def atac_lsi(
    adata: ad.AnnData,
    n_comps: int = 50,
    n_top_peaks: int | None = None,
    layer: str | None = None,
    drop_first: bool = True,
    seed: int = 0,
) -> ad.AnnData:
    """An ATAC modality as its latent semantic indexing (LSI): a small dense input for GROOVE.

    Peaks are selected by how many cells they are accessible in (``n_top_peaks``, Signac's
    ``FindTopFeatures`` idea), weighted by TF-IDF (:func:`tfidf`) and reduced by truncated SVD
    (scikit-learn, sparse input, never densified). The first component mostly follows
    sequencing depth and is dropped by default (Signac, ArchR). GROOVE then models the LSI
    with the ``"normal"`` likelihood: its cost per epoch no longer grows with the number of
    peaks.

    Parameters
    ----------
    adata
        Cells x peaks counts (or binary accessibility), in memory or backed.
    n_comps
        LSI components kept (after dropping the first).
    n_top_peaks
        Keep this many most often accessible peaks first (``None``: all).
    layer
        Layer with the counts instead of ``X``.
    drop_first
        Drop the first (depth) component.
    seed
        Seed of the randomized SVD.

    Returns
    -------
    A new AnnData (the input is untouched): ``X`` = ``(n_cells, n_comps)`` LSI coordinates,
    ``obs`` copied, ``var_names`` ``"LSI_1"``..., and ``uns["atac_lsi"]`` with the selected
    ``peaks``, their ``idf``, the SVD ``loadings`` (peaks x components) and
    ``explained_variance_ratio`` (so new cells can be projected the same way). Put it beside the
    RNA as a modality: ``mdata = mudata.MuData({"rna": rna, "atac": sg.pp.atac_lsi(atac)})``.

    Examples
    --------
    >>> atac_lsi = sg.pp.atac_lsi(mdata["atac"], n_comps=50, n_top_peaks=50_000)
    """
    counts = sp.csr_matrix(load_float32(adata.X if layer is None else adata.layers[layer]))
    if counts.nnz and counts.data.min() < 0:
        raise ValueError("atac_lsi needs counts or binary accessibility; the data has negative values.")
    max_comps = min(counts.shape) - 1 - int(drop_first)
    if not 1 <= n_comps <= max_comps:
        raise ValueError(f"n_comps must be between 1 and {max_comps} for data of shape {counts.shape}, got {n_comps}.")
    peaks = np.arange(counts.shape[1])
    if n_top_peaks is not None and n_top_peaks < counts.shape[1]:
        cells_per_peak = np.diff(counts.tocsc().indptr)
        peaks = np.sort(np.argsort(-cells_per_peak, kind="stable")[:n_top_peaks])
        counts = counts[:, peaks]
    idf = counts.shape[0] / np.maximum(np.asarray(counts.sum(axis=0)).ravel(), 1.0)
    svd = TruncatedSVD(n_components=n_comps + int(drop_first), algorithm="randomized", random_state=seed)
    coordinates = svd.fit_transform(tfidf(counts, idf))
    first = int(drop_first)
    lsi = ad.AnnData(
        coordinates[:, first:].astype(np.float32),
        obs=adata.obs.copy(),
        var={"component": np.arange(1, n_comps + 1)},
    )
    lsi.var_names = [f"LSI_{k}" for k in range(1, n_comps + 1)]
    lsi.uns["atac_lsi"] = {
        "peaks": np.asarray(adata.var_names[peaks]).astype(str),
        "idf": idf.astype(np.float32),
        "loadings": svd.components_[first:].T.astype(np.float32),
        "explained_variance_ratio": svd.explained_variance_ratio_[first:],
        "dropped_first": bool(drop_first),
        "layer": layer or "",
    }
    return lsi

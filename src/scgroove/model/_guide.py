"""Guide couplings for ``contrast="guided"``: within-label correspondences found before training."""

from __future__ import annotations

import numpy as np
import scanpy as sc
import scipy.sparse as sp

from scgroove._constants import LABELS_KEYS, X_KEYS
from scgroove._matrix import in_memory, row_chunks
from scgroove.align import Coupling, labeled_gw


def modality_pca(matrix, log_normalize: bool, n_comps: int = 30, seed: int = 0) -> np.ndarray:
    """A modality's own PCA; with ``log_normalize`` (counts) library-normalised and log1p first.

    Sparse input stays sparse (scanpy's implicit centring), backed input is read in row chunks
    (sparse chunks stay sparse); ``n_comps`` is capped by the data's shape.
    """
    if in_memory(matrix):
        x = matrix
    else:
        chunks = list(row_chunks(matrix))
        x = sp.vstack(chunks, format="csr") if sp.issparse(chunks[0]) else np.vstack(chunks)
    x = sp.csr_matrix(x, dtype=np.float32) if sp.issparse(x) else x.astype(np.float32)
    if log_normalize:
        library = np.asarray(x.sum(axis=1)).ravel()
        scale = 1e4 / np.maximum(library, 1e-12)
        x = (sp.diags(scale) @ x).log1p() if sp.issparse(x) else np.log1p(x * scale[:, None])
    n_comps = int(min(n_comps, x.shape[0] - 1, x.shape[1] - 1))
    adata = sc.AnnData(x)
    sc.pp.pca(adata, n_comps=n_comps, random_state=seed)
    return adata.obsm["X_pca"]


def structure_guide(model, n_comps: int = 30, epsilon: float = 0.03) -> Coupling:
    """Labeled Gromov-Wasserstein between each modality's own PCA, over the model's registered cells.

    This is the label-aware GW of Ryu et al. (2024): the coupling keeps mass inside label blocks
    and prefers matches that preserve each modality's within-group distances. As the guide of
    ``contrast="guided"`` it tells the contrastive term which cells of the other modality are
    likely the same state, which GroupCLIP's uniform same-label positives cannot.

    Parameters
    ----------
    model
        A :class:`~scgroove.GROOVE` set up on data.
    n_comps
        Principal components per modality.
    epsilon
        Entropic regularisation of labeled GW (relative to the normalised structure).
    """
    manager = model.adata_manager
    counts = [model.module.heads[str(m)].name == "nb" for m in (1, 2)]
    spaces = [modality_pca(manager.get_from_registry(X_KEYS[m]), counts[m - 1], n_comps) for m in (1, 2)]
    labels = [np.asarray(manager.get_from_registry(LABELS_KEYS[m])).reshape(-1) for m in (1, 2)]
    return labeled_gw(spaces[0], spaces[1], labels[0], labels[1], epsilon=epsilon)


def guide_matrix(guide, n1: int, n2: int) -> sp.csr_matrix:
    """The guide as an ``(n1, n2)`` CSR matrix, checked against the registered cell counts."""
    matrix = guide.to_sparse() if isinstance(guide, Coupling) else guide
    if not sp.issparse(matrix):
        raise TypeError(f"guide must be a Coupling or a scipy sparse matrix, got {type(guide).__name__}.")
    if matrix.shape != (n1, n2):
        raise ValueError(f"guide has shape {matrix.shape}; the registered modalities have {(n1, n2)} cells.")
    return sp.csr_matrix(matrix)

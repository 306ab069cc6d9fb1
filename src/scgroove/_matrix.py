"""Row access to cells x features matrices, in memory (numpy, scipy) or on disk (backed h5mu).

Everything that reads a whole matrix goes through :func:`row_chunks`, so a backed MuData is never
loaded at once and a sparse matrix is never densified whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

CHUNK_ROWS = 8192


def in_memory(matrix) -> bool:
    return isinstance(matrix, np.ndarray) or sp.issparse(matrix)


def row_chunks(matrix, chunk_rows: int = CHUNK_ROWS) -> Iterator[np.ndarray | sp.spmatrix]:
    """Consecutive row blocks, each in memory (dense numpy or scipy sparse)."""
    for start in range(0, matrix.shape[0], chunk_rows):
        block = matrix[start : start + chunk_rows]
        yield block if in_memory(block) else np.asarray(block)


def load_float32(matrix) -> np.ndarray | sp.csr_matrix:
    """The whole matrix in memory as float32: sparse stays sparse (CSR), backed data read in row chunks."""
    if in_memory(matrix):
        return sp.csr_matrix(matrix, dtype=np.float32) if sp.issparse(matrix) else np.asarray(matrix, np.float32)
    chunks = list(row_chunks(matrix))
    if sp.issparse(chunks[0]):
        return sp.vstack(chunks, format="csr").astype(np.float32)
    return np.vstack(chunks).astype(np.float32)


def take_rows(matrix, rows: np.ndarray) -> np.ndarray:
    """Dense float32 array of ``rows`` (any order, repeats allowed); on-disk data read sorted."""
    rows = np.asarray(rows, dtype=np.int64)
    if in_memory(matrix):
        block = matrix[rows]
    else:  # h5py and anndata's backed datasets want increasing, unique indices
        unique, inverse = np.unique(rows, return_inverse=True)
        block = matrix[unique]
        block = block[inverse]
    if sp.issparse(block):
        block = block.toarray()
    return np.asarray(block, dtype=np.float32)


@dataclass
class ValueSummary:
    """What validation and likelihood choice need to know about the stored values."""

    dtype: np.dtype
    n_nonfinite: int
    minimum: float
    maximum: float
    integer: bool


def summarise_values(matrix) -> ValueSummary:
    """Summary of the stored values (for sparse data, the explicitly stored entries), chunk by chunk."""
    dtype, n_nonfinite, minimum, maximum, integer = None, 0, np.inf, -np.inf, True
    for block in row_chunks(matrix):
        values = np.asarray(block.data if sp.issparse(block) else block).ravel()
        dtype = values.dtype if dtype is None else dtype
        if not np.issubdtype(values.dtype, np.number) or np.issubdtype(values.dtype, np.complexfloating):
            return ValueSummary(values.dtype, 0, np.nan, np.nan, False)
        finite = np.isfinite(values)
        n_nonfinite += int((~finite).sum())
        values = values[finite]
        if values.size:
            minimum, maximum = min(minimum, float(values.min())), max(maximum, float(values.max()))
            integer = integer and bool(np.all(np.mod(values, 1) == 0))
    return ValueSummary(np.dtype(dtype or np.float32), n_nonfinite, minimum, maximum, integer)


def feature_mean_and_std(matrix) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation, chunk by chunk (constant features get std 1)."""
    total = np.zeros(matrix.shape[1])
    total_sq = np.zeros(matrix.shape[1])
    for block in row_chunks(matrix):
        block = sp.csr_matrix(block, dtype=np.float64) if sp.issparse(block) else np.asarray(block, dtype=np.float64)
        total += np.asarray(block.sum(axis=0)).ravel()
        total_sq += np.asarray(block.multiply(block).sum(axis=0) if sp.issparse(block) else (block**2).sum(0)).ravel()
    n = max(matrix.shape[0], 1)
    mean = total / n
    std = np.sqrt(np.clip(total_sq / n - mean**2, 0, None))
    std[std < 1e-8] = 1.0
    return mean, std


def row_sums(matrix) -> np.ndarray:
    """Sum of each row (e.g. library sizes), chunk by chunk."""
    return np.concatenate([np.asarray(block.sum(axis=1)).ravel() for block in row_chunks(matrix)])

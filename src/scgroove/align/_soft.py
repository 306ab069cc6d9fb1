"""Labeled OT that lets mass leave a label at a cost: a matcher for labels that are sometimes wrong."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.neighbors import NearestNeighbors

from scgroove._tensor import as_tensor
from scgroove.align._blocks import BlockMass, label_blocks
from scgroove.align._coupling import Coupling, CouplingBlock
from scgroove.align._linear import mean_block_cost

#: Kernel exponents are clamped here so that no entry of the support underflows to 0 in float64.
_MAX_EXPONENT = 700.0


def soft_labeled_ot(
    x1,
    x2,
    labels1,
    labels2,
    *,
    epsilon: float = 0.05,
    label_penalty: float = 0.25,
    n_candidates: int = 10,
    max_iter: int = 10000,
    tol: float = 1e-4,
    block_mass: BlockMass = "source",
    max_block_cells: int | None = None,
) -> Coupling:
    r"""Entropic OT on a shared space where a label is a prior, not a wall.

    The support is every same-label pair (the blocks of :func:`labeled_ot`) plus, for every cell,
    up to ``n_candidates`` cells of *other* labels among its ``3 n_candidates`` nearest cells of
    the other modality (both directions): a cell deep inside its own label's cloud gets none, a
    cell that sits in another label's cloud gets its neighbours there.
    On that sparse support,

    .. math::

        \min_{T \in U(a, b),\ \mathrm{supp}(T) \subseteq S} \sum_{ij} T_{ij}
        \bigl(\lVert x^1_i - x^2_j \rVert^2 + \lambda \bar C\, [l^1_i \ne l^2_j]\bigr)
        - \varepsilon \bar C H(T)

    with :math:`\bar C` the mean same-label cost (so ``epsilon`` and ``label_penalty`` =
    :math:`\lambda` are relative to it) and the marginals of :func:`labeled_ot` (every cell of a
    shared label carries its block's share). A cell whose label is right has its partners in its
    block and pays nothing; a cell whose state sits in another label's cloud, at least
    :math:`\lambda \bar C` closer to it than to its own label's cells, sends its mass there. As
    :math:`\lambda \to \infty` this is :func:`labeled_ot`. Memory: the block sizes plus
    ``2 n_candidates`` entries per cell (matrix scaling on a CSR kernel, float64).

    Parameters
    ----------
    x1, x2
        ``(n1, d)`` and ``(n2, d)`` coordinates in one shared space (e.g. GROOVE latents).
    labels1, labels2
        Each cell's perturbation label.
    epsilon
        Entropic regularisation, relative to :math:`\bar C`.
    label_penalty
        :math:`\lambda`, the extra cost of a pair across labels, relative to :math:`\bar C`. The
        default 0.25 was the best of 0.1-2 on the screen-scale simulation at 0-30% wrong labels
        and 0-60% escapers (``benchmarks/label_noise.py``); 0.1 lets too much mass leave labels
        that are right.
    n_candidates
        Most off-label partners offered to each cell (0: this is :func:`labeled_ot`).
    max_iter, tol
        Sinkhorn iterations and the L1 error of the row marginal at which it stops. The few
        off-label pairs couple the blocks weakly, so matrix scaling needs more iterations than
        inside independent blocks (thousands at a low ``label_penalty``); each costs two sparse
        products.
    block_mass, max_block_cells
        As in :func:`labeled_ot`: with ``max_block_cells`` a label larger than that (the control)
        is matched within random parts, so its pairs grow linearly with its size.

    Returns
    -------
    :class:`~scgroove.align.Coupling` with one sparse block; ``info["off_label_mass"]`` is the
    mass that crossed labels. :meth:`Coupling.off_label_share
    <scgroove.align.Coupling.off_label_share>` gives it per cell: a high share flags a cell whose
    label is unlikely given its state.
    """
    if label_penalty < 0:
        raise ValueError(f"label_penalty must be >= 0, got {label_penalty}.")
    if n_candidates < 0:
        raise ValueError(f"n_candidates must be >= 0, got {n_candidates}.")
    t1 = as_tensor(x1)
    t2 = as_tensor(x2, t1.device)
    blocks = label_blocks(labels1, labels2, block_mass, max_block_cells)
    mean_cost = max(mean_block_cost(t1, t2, blocks), 1e-12)
    x1, x2 = t1.double().cpu().numpy(), t2.double().cpu().numpy()
    n1, n2 = len(x1), len(x2)
    a, b = np.zeros(n1), np.zeros(n2)
    for rows, cols, mass in zip(blocks.rows, blocks.cols, blocks.mass, strict=True):
        a[rows] = mass / len(rows)
        b[cols] = mass / len(cols)
    code1, code2 = _label_codes(labels1, labels2)
    in_rows, in_cols = _block_pairs(blocks)
    off_rows, off_cols = _off_label_candidates(x1, x2, code1, code2, a > 0, b > 0, n_candidates)
    rows = np.concatenate([in_rows, off_rows])
    cols = np.concatenate([in_cols, off_cols])
    cost = _pair_sq_dist(x1, x2, rows, cols)
    cost[len(in_rows) :] += label_penalty * mean_cost
    reg = epsilon * mean_cost
    plan, n_iter, error = _sparse_sinkhorn(rows, cols, cost, a, b, reg, max_iter, tol)
    off_label_mass = float(plan.data[len(in_rows) :].sum()) if plan.nnz else 0.0
    csr = sp.csr_matrix((plan.data, (rows, cols)), shape=(n1, n2))
    info = {
        "n_iter": n_iter,
        "marginal_error": error,
        "reg": reg,
        "mean_block_cost": mean_cost,
        "n_blocks": len(blocks.labels),
        "off_label_candidates": len(off_rows),
        "off_label_mass": off_label_mass,
    }
    params = {
        "epsilon": epsilon,
        "label_penalty": label_penalty,
        "n_candidates": n_candidates,
        "max_iter": max_iter,
        "tol": tol,
        "block_mass": block_mass,
    }
    if max_block_cells is not None:
        params["max_block_cells"] = max_block_cells
    return Coupling(
        n1,
        n2,
        [CouplingBlock(np.arange(n1), np.arange(n2), csr)],
        "soft_labeled_ot",
        params,
        info,
        converged=bool(error < tol),
        cost=float(plan.data @ cost),
    )


def _label_codes(labels1, labels2) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of both modalities' labels over one category list."""
    labels1, labels2 = np.asarray(labels1).astype(str), np.asarray(labels2).astype(str)
    codes, _ = pd.factorize(np.concatenate([labels1, labels2]))
    return codes[: len(labels1)], codes[len(labels1) :]


def _block_pairs(blocks) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of every same-label pair, block after block."""
    rows = [np.repeat(r, len(c)) for r, c in zip(blocks.rows, blocks.cols, strict=True)]
    cols = [np.tile(c, len(r)) for r, c in zip(blocks.rows, blocks.cols, strict=True)]
    return np.concatenate(rows).astype(np.int64), np.concatenate(cols).astype(np.int64)


def _nearest_other_label(query, pool, query_codes, pool_codes, k: int) -> tuple[np.ndarray, np.ndarray]:
    """For each query point, its ``k`` nearest pool points of another label (fewer if the pool lacks them)."""
    if k == 0 or len(query) == 0 or len(pool) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    # a cell's nearest neighbours are mostly of its own label; ask for enough to keep k of others
    n_ask = min(len(pool), 3 * k)
    neighbours = NearestNeighbors(n_neighbors=n_ask).fit(pool).kneighbors(query, return_distance=False)
    other = pool_codes[neighbours] != query_codes[:, None]
    rank = np.cumsum(other, axis=1)
    keep = other & (rank <= k)
    query_index = np.repeat(np.arange(len(query)), n_ask).reshape(neighbours.shape)
    return query_index[keep], neighbours[keep]


def _off_label_candidates(x1, x2, code1, code2, active1, active2, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Unique off-label pairs: each active cell's ``k`` nearest active cells of other labels, both ways."""
    idx1, idx2 = np.flatnonzero(active1), np.flatnonzero(active2)
    q1, p2 = _nearest_other_label(x1[idx1], x2[idx2], code1[idx1], code2[idx2], k)
    q2, p1 = _nearest_other_label(x2[idx2], x1[idx1], code2[idx2], code1[idx1], k)
    rows = np.concatenate([idx1[q1], idx1[p1]])
    cols = np.concatenate([idx2[p2], idx2[q2]])
    pair = np.unique(rows * np.int64(len(x2)) + cols)
    return pair // len(x2), pair % len(x2)


def _pair_sq_dist(x1: np.ndarray, x2: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Squared distances of the listed pairs, in chunks (no pairs x d temporary beyond a chunk)."""
    out = np.empty(len(rows))
    for start in range(0, len(rows), 2**20):
        r, c = rows[start : start + 2**20], cols[start : start + 2**20]
        out[start : start + 2**20] = ((x1[r] - x2[c]) ** 2).sum(1)
    return out


def _sparse_sinkhorn(rows, cols, cost, a, b, reg, max_iter, tol):
    """Matrix scaling on a sparse support; returns the plan's values (in the order of ``cost``).

    Each row's kernel is shifted by its smallest cost (absorbed by the row scaling), and exponents
    are clamped at ``_MAX_EXPONENT`` so the support never underflows.
    """
    n1, n2 = len(a), len(b)
    row_min = np.full(n1, np.inf)
    np.minimum.at(row_min, rows, cost)
    exponent = np.minimum((cost - row_min[rows]) / reg, _MAX_EXPONENT)
    kernel = sp.csr_matrix((np.exp(-exponent), (rows, cols)), shape=(n1, n2))
    kernel_t = kernel.T.tocsr()
    u, v = np.zeros(n1), (b > 0).astype(float)
    error, n_iter = np.inf, 0
    for n_iter in range(1, max_iter + 1):
        kv = kernel @ v
        u = np.divide(a, kv, out=np.zeros(n1), where=kv > 0)
        ktu = kernel_t @ u
        v = np.divide(b, ktu, out=np.zeros(n2), where=ktu > 0)
        if n_iter % 10 == 0 or n_iter == max_iter:
            error = float(np.abs(u * (kernel @ v) - a).sum())
            if not np.isfinite(error):
                raise FloatingPointError(
                    "soft_labeled_ot: the scaling overflowed; raise epsilon (a cell lies far from every candidate)."
                )
            if error < tol:
                break
    values = u[rows] * np.exp(-exponent) * v[cols]
    return sp.coo_matrix((values, (rows, cols)), shape=(n1, n2)), n_iter, error

"""Aligners in one shared space: entropic OT, labeled OT, kNN, labeled kNN."""

from __future__ import annotations

import numpy as np
import ot
import scipy.sparse as sp
import torch
from sklearn.neighbors import NearestNeighbors

from scgroove._ray import check_backend, ray_session
from scgroove._tensor import as_tensor
from scgroove.align._blocks import BlockMass, label_blocks, size_buckets
from scgroove.align._coupling import Coupling, CouplingBlock
from scgroove.align._memory import check_dense_budget
from scgroove.align._sinkhorn import (
    BUCKET_ELEMENTS,
    SinkhornReport,
    gather_rows,
    merge_reports,
    solve_bucket,
    to_coupling_blocks,
)


def _sq_dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances (batched or not), clamped at 0: one matrix product, no temporary."""
    squares = (a * a).sum(-1)[..., :, None] + (b * b).sum(-1)[..., None, :]
    if squares.dim() == 3:
        return torch.baddbmm(squares, a, b.transpose(-1, -2), alpha=-2).clamp_min_(0)
    return torch.addmm(squares, a, b.transpose(-1, -2), alpha=-2).clamp_min_(0)


def mean_block_cost(x1: torch.Tensor, x2: torch.Tensor, blocks) -> float:
    r"""Mean squared distance between same-label cells, exactly, in O(n d) (no per-label loop).

    Per label, the sum over its pairs is :math:`n_2 \sum_i |a_i|^2 + n_1 \sum_j |b_j|^2 - 2
    (\sum_i a_i) \cdot (\sum_j b_j)`; the sums come from one scatter-add per modality.
    """
    n_blocks = len(blocks.labels)
    sums = []
    for x, members in ((x1, blocks.rows), (x2, blocks.cols)):
        # each cell's block (cells in none go to an extra row), summed in float64 chunk by chunk
        block_of = np.full(len(x), n_blocks, dtype=np.int64)
        block_of[np.concatenate(members)] = np.repeat(np.arange(n_blocks), [len(m) for m in members])
        block_of = torch.as_tensor(block_of, device=x.device)
        vector = torch.zeros((n_blocks + 1, x.shape[1]), dtype=torch.float64, device=x.device)
        square = torch.zeros(n_blocks + 1, dtype=torch.float64, device=x.device)
        for start in range(0, len(x), 2**15):
            values = x[start : start + 2**15].double()
            index = block_of[start : start + 2**15]
            vector.index_add_(0, index, values)
            square.index_add_(0, index, (values * values).sum(1))
        sums.append((vector[:n_blocks], square[:n_blocks]))
    n1, n2 = (torch.as_tensor(size, dtype=torch.float64, device=x1.device) for size in blocks.sizes)
    (vector1, square1), (vector2, square2) = sums
    totals = n2 * square1 + n1 * square2 - 2 * (vector1 * vector2).sum(1)
    return float(totals.sum() / (n1 * n2).sum())


def entropic_ot(
    x1, x2, epsilon: float = 0.05, max_iter: int = 3000, tol: float = 1e-4, max_dense_bytes: int | None = None
) -> Coupling:
    r"""Entropic OT between all cells on squared Euclidean cost (POT, log-domain Sinkhorn).

    .. math::

        \min_{T \in U(a, b)} \langle C, T \rangle - \varepsilon \bar C H(T),
        \quad C_{ij} = \lVert x^1_i - x^2_j \rVert^2

    with uniform marginals and :math:`\bar C` the mean cost, so ``epsilon`` is relative to the
    cost scale. Builds the dense ``n1 x n2`` plan: refused beyond ``max_dense_bytes``.
    """
    x1 = as_tensor(x1)
    x2 = as_tensor(x2, x1.device)
    check_dense_budget("ot", [(x1.shape[0], x2.shape[0])], max_dense_bytes)
    cost = _sq_dist(x1, x2)
    reg = epsilon * float(cost.mean())
    n1, n2 = cost.shape
    a = torch.full((n1,), 1.0 / n1, dtype=cost.dtype, device=cost.device)
    b = torch.full((n2,), 1.0 / n2, dtype=cost.dtype, device=cost.device)
    plan, log = ot.sinkhorn(a, b, cost, reg, method="sinkhorn_log", numItermax=max_iter, stopThr=tol, log=True)
    error = float(log["err"][-1]) if len(log["err"]) else float("nan")
    info = {"n_iter": int(log["niter"]), "marginal_error": error, "reg": reg}
    block = CouplingBlock(np.arange(n1), np.arange(n2), plan.cpu().numpy())
    params = {"epsilon": epsilon, "max_iter": max_iter, "tol": tol}
    return Coupling(n1, n2, [block], "ot", params, info, converged=bool(error < tol), cost=float((cost * plan).sum()))


def labeled_ot(
    x1,
    x2,
    labels1,
    labels2,
    epsilon: float = 0.05,
    max_iter: int = 3000,
    tol: float = 1e-4,
    block_mass: BlockMass = "source",
    max_block_cells: int | None = None,
    *,
    backend: str = "local",
    ray_address: str | None = None,
) -> Coupling:
    r"""Entropic OT inside each label, all labels solved together (batched log-domain Sinkhorn).

    For each label :math:`l` present in both modalities,

    .. math:: T^{(l)} = \arg\min_{T \in U(a^{(l)}, b^{(l)})} \langle C^{(l)}, T \rangle - \varepsilon \bar C H(T)

    on squared Euclidean costs between the label's cells, with :math:`\bar C` the mean
    same-label cost (``epsilon`` is relative). Marginals are uniform inside a block; with
    ``block_mass="source"`` every modality-1 cell of a shared label carries mass ``1/N1`` (the block
    mass is the label's share of modality-1 cells). Cells of labels absent from the other modality
    get no mass. The coupling is block sparse: memory is the sum of the block sizes.

    ``max_block_cells`` (default: exact) splits labels larger than that into random sub-blocks,
    so a control group that is a fixed share of the cells costs time and memory linear in its
    size; each of its cells is then matched within a random part of its label.

    ``backend="ray"`` solves the label blocks as Ray tasks, one per bucket of blocks of similar
    shape (the unit the local solver batches), on the running Ray session or one started with
    ``ray.init(address=ray_address)`` (``None``: a local Ray; ``"auto"``: the cluster this machine
    belongs to). Only ``epsilon``'s scale is computed here; each task receives the latents once
    through Ray's object store and returns its blocks' plans: the coupling is the one the local
    run returns, bit for bit (tested). Worth it when the blocks are many and large (a genome-wide
    screen on a cluster); on one machine the local solver already uses every core.
    """
    check_backend(backend)
    x1 = as_tensor(x1)
    x2 = as_tensor(x2, x1.device)
    blocks = label_blocks(labels1, labels2, block_mass, max_block_cells)
    reg = epsilon * max(mean_block_cost(x1, x2, blocks), 1e-12)
    n_rows, n_cols = blocks.sizes
    buckets = list(size_buckets(n_rows, n_cols, max_elements=BUCKET_ELEMENTS))
    tasks = [
        {
            "rows": [blocks.rows[k] for k in bucket],
            "cols": [blocks.cols[k] for k in bucket],
            "mass": blocks.mass[bucket],
        }
        for bucket in buckets
    ]
    settings = {"reg": reg, "max_iter": max_iter, "tol": tol}
    if backend == "ray":
        ray = ray_session(ray_address)
        shared = {"x1": ray.put(x1.cpu()), "x2": ray.put(x2.cpu())}
        remote = ray.remote(_labeled_ot_bucket)
        solved = ray.get([remote.remote(**shared, **task, **settings) for task in tasks])
    else:
        solved = [_labeled_ot_bucket(x1, x2, **task, **settings) for task in tasks]
    plans: list[np.ndarray | None] = [None] * len(blocks.labels)
    for bucket, (bucket_plans, _) in zip(buckets, solved, strict=True):
        for index, plan in zip(bucket, bucket_plans, strict=True):
            plans[index] = plan
    report = merge_reports([bucket_report for _, bucket_report in solved])
    info = {
        "n_iter": report.n_iter,
        "marginal_error": report.marginal_error,
        "reg": reg,
        "n_blocks": len(blocks.labels),
    }
    params = {"epsilon": epsilon, "max_iter": max_iter, "tol": tol, "block_mass": block_mass}
    if max_block_cells is not None:
        params["max_block_cells"] = max_block_cells
    out = to_coupling_blocks(blocks, plans)
    return Coupling(len(x1), len(x2), out, "labeled_ot", params, info, converged=report.converged, cost=report.cost)


def _labeled_ot_bucket(
    x1: torch.Tensor,
    x2: torch.Tensor,
    rows: list[np.ndarray],
    cols: list[np.ndarray],
    mass: np.ndarray,
    reg: float,
    max_iter: int,
    tol: float,
) -> tuple[list[np.ndarray], SinkhornReport]:
    """One bucket of :func:`labeled_ot`'s blocks: costs built from the latents, solved, plans as arrays.

    The same function runs in this process and as a Ray task, so both return the same plans.
    """
    n_rows, n_cols = np.array([len(r) for r in rows]), np.array([len(c) for c in cols])
    m1, m2 = int(n_rows.max()), int(n_cols.max())
    cost = _sq_dist(gather_rows(x1, rows, m1), gather_rows(x2, cols, m2))
    plan, report, _ = solve_bucket(cost, n_rows, n_cols, mass, reg, max_iter, tol, kernel_first=True)
    del cost
    report.block_errors = None  # per-block errors stay here; the plans carry the result
    plans = [plan[k, : n_rows[k], : n_cols[k]].detach().cpu().numpy() for k in range(len(rows))]
    return plans, report


def _knn_block(x1: np.ndarray, x2: np.ndarray, n_neighbors: int, row_mass: float) -> sp.csr_matrix:
    k = min(n_neighbors, len(x2))
    neighbours = NearestNeighbors(n_neighbors=k).fit(x2).kneighbors(x1, return_distance=False)
    data = np.full(neighbours.size, row_mass / k)
    return sp.csr_matrix((data, (np.repeat(np.arange(len(x1)), k), neighbours.ravel())), shape=(len(x1), len(x2)))


def knn(x1, x2, n_neighbors: int = 10) -> Coupling:
    """Each modality-1 cell spreads mass ``1/n1`` equally over its ``n_neighbors`` nearest modality-2 cells.

    Not a transport plan (column sums are not uniform); a sparse baseline.
    """
    x1, x2 = np.asarray(x1, dtype=np.float64), np.asarray(x2, dtype=np.float64)
    plan = _knn_block(x1, x2, n_neighbors, 1.0 / len(x1))
    return Coupling(
        len(x1),
        len(x2),
        [CouplingBlock(np.arange(len(x1)), np.arange(len(x2)), plan)],
        "knn",
        {"n_neighbors": n_neighbors},
    )


def labeled_knn(x1, x2, labels1, labels2, n_neighbors: int = 10, block_mass: BlockMass = "source") -> Coupling:
    """KNN restricted to the cells of the same label; block masses as in :func:`labeled_ot`."""
    x1, x2 = np.asarray(x1, dtype=np.float64), np.asarray(x2, dtype=np.float64)
    blocks = label_blocks(labels1, labels2, block_mass)
    out = [
        CouplingBlock(rows, cols, _knn_block(x1[rows], x2[cols], n_neighbors, mass / len(rows)), label)
        for label, rows, cols, mass in zip(blocks.labels, blocks.rows, blocks.cols, blocks.mass, strict=True)
    ]
    params = {"n_neighbors": n_neighbors, "block_mass": block_mass}
    return Coupling(len(x1), len(x2), out, "labeled_knn", params, {"n_blocks": len(out)})

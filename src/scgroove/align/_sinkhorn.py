"""Batched, masked, log-domain Sinkhorn for many small OT problems of different sizes.

POT's batched solvers (``ot.batch``) need problems of one shape; per-label blocks are ragged. Here
blocks of similar shape are padded into one tensor, padded rows/columns get zero mass (``-inf``
log-marginal), and all blocks are solved at once on the tensors' device (CPU or GPU). Tests check
each block against POT's ``ot.sinkhorn``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from scgroove.align._blocks import LabelBlocks, size_buckets
from scgroove.align._coupling import CouplingBlock


@dataclass
class SinkhornReport:
    n_iter: int
    marginal_error: float
    converged: bool
    #: transport cost <C, T> of the plans (summed over the blocks of a :func:`solve_blocks` call)
    cost: float = float("nan")
    #: ``(B,)`` final marginal error of each problem of the batch, where the solver tracks it
    block_errors: torch.Tensor | None = None


def pad_rows(arrays: Sequence[torch.Tensor], length: int) -> torch.Tensor:
    """Stack 2-d tensors of different row counts into ``(B, length, d)``, zero padded."""
    out = arrays[0].new_zeros((len(arrays), length, arrays[0].shape[1]))
    for k, a in enumerate(arrays):
        out[k, : a.shape[0]] = a
    return out


def gather_rows(x: torch.Tensor, members: Sequence[np.ndarray], length: int) -> torch.Tensor:
    """``(B, length, d)``: the rows ``members[k]`` of ``x`` for each block ``k``, zero padded.

    One gather for the whole bucket (what :func:`pad_rows` does for rows already gathered).
    """
    sizes = np.array([len(m) for m in members])
    flat = np.concatenate(members) if len(members) else np.empty(0, dtype=np.int64)
    block = np.repeat(np.arange(len(members)), sizes)
    slot = np.arange(len(flat)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    index = np.zeros((len(members), length), dtype=np.int64)
    index[block, slot] = flat
    inside = np.zeros((len(members), length), dtype=bool)
    inside[block, slot] = True
    out = x[torch.as_tensor(index, device=x.device)]
    return out.masked_fill_(~torch.as_tensor(inside, device=x.device)[:, :, None], 0.0)


def log_marginals(sizes: np.ndarray, masses: np.ndarray, length: int, like: torch.Tensor) -> torch.Tensor:
    """``(B, length)`` log of uniform within-block marginals (block mass / size), ``-inf`` on pads."""
    sizes = np.asarray(sizes)
    values = torch.as_tensor(np.log(np.asarray(masses, dtype=np.float64) / sizes), dtype=like.dtype, device=like.device)
    inside = torch.arange(length, device=like.device)[None, :] < torch.as_tensor(sizes, device=like.device)[:, None]
    return torch.where(inside, values[:, None], float("-inf"))


def _sinkhorn_at(cost, log_a, log_b, reg, f, g, max_iter, tol, check_every):
    """Dual iterations at one regularisation; returns potentials, iterations and the worst error.

    Blocks that have converged are dropped from the working set at each check, so a few hard
    blocks do not keep hundreds of easy ones iterating.
    """
    f, g = f.clone(), g.clone()
    active = torch.arange(cost.shape[0], device=cost.device)
    c, la, lb, fa, ga = cost, log_a, log_b, f, g
    mass = torch.logsumexp(la, dim=1).exp()
    worst_done, error, n_iter = 0.0, float("inf"), 0
    for n_iter in range(1, max_iter + 1):
        fa = reg * la - reg * torch.logsumexp((ga[:, None, :] - c) / reg, dim=2)
        ga = reg * lb - reg * torch.logsumexp((fa[:, :, None] - c) / reg, dim=1)
        if n_iter % check_every == 0 or n_iter == max_iter:
            row_log = torch.logsumexp((fa[:, :, None] + ga[:, None, :] - c) / reg, dim=2)
            errors = (row_log.exp() - la.exp()).abs().sum(dim=1) / mass
            done = errors < tol
            if done.any():
                f[active[done]], g[active[done]] = fa[done], ga[done]
                worst_done = max(worst_done, float(errors[done].max()))
                keep = ~done
                active, c, la, lb, fa, ga, mass = (t[keep] for t in (active, c, la, lb, fa, ga, mass))
            error = max(worst_done, float(errors[~done].max()) if (~done).any() else 0.0)
            if len(active) == 0:
                break
    if len(active):
        f[active], g[active] = fa, ga
    return f, g, n_iter, error


def batched_log_sinkhorn(
    cost: torch.Tensor,
    log_a: torch.Tensor,
    log_b: torch.Tensor,
    reg: float,
    max_iter: int = 1000,
    tol: float = 1e-6,
    check_every: int = 10,
    init: tuple[torch.Tensor, torch.Tensor] | None = None,
    scaling_steps: int = 3,
    scaling_factor: float = 4.0,
) -> tuple[torch.Tensor, SinkhornReport, tuple[torch.Tensor, torch.Tensor]]:
    r"""Entropic OT for a batch of problems, in log space.

    .. math::

        T^{(k)} = \arg\min_{T 1 = a^{(k)},\, T^\top 1 = b^{(k)}} \langle C^{(k)}, T \rangle - \varepsilon H(T)

    solved by alternating dual updates :math:`f = \varepsilon \log a - \varepsilon\,
    \mathrm{LSE}_j((g_j - C_{ij})/\varepsilon)` (and the same for :math:`g`), the plan being
    :math:`T_{ij} = \exp((f_i + g_j - C_{ij})/\varepsilon)` (Cuturi 2013; Peyré & Cuturi 2019).

    Parameters
    ----------
    cost
        ``(B, m1, m2)`` costs (finite everywhere, padding included).
    log_a, log_b
        ``(B, m1)``, ``(B, m2)`` log marginals, ``-inf`` for padded entries.
    reg
        Entropic regularisation :math:`\varepsilon` (absolute).
    max_iter, tol
        Stop when the largest row-marginal L1 error of any block is below ``tol`` (relative to the
        block's mass), or after ``max_iter`` iterations.
    check_every
        Iterations between convergence checks.
    init
        Dual potentials ``(f, g)`` to start from (warm start), e.g. from a previous, similar problem.
    scaling_steps, scaling_factor
        Epsilon scaling (Schmitzer 2019), used without ``init``: first solve loosely at
        ``reg * scaling_factor**k`` for ``k = scaling_steps, ..., 1``, carrying the potentials, then
        at ``reg``. Small regularisations converge many times faster this way.

    Returns
    -------
    ``(plan, report, (f, g))``, plan of shape ``(B, m1, m2)`` and the final dual potentials.
    """
    # exp() of very negative log-domain values yields denormal floats, which CPUs process up to 10x
    # slower; flushing them to zero changes no plan entry above ~1e-308
    flush = cost.device.type == "cpu" and torch.set_flush_denormal(True)
    try:
        return _solve(cost, log_a, log_b, reg, max_iter, tol, check_every, init, scaling_steps, scaling_factor)
    finally:
        if flush:
            torch.set_flush_denormal(False)


def _solve(cost, log_a, log_b, reg, max_iter, tol, check_every, init, scaling_steps, scaling_factor):
    f = torch.zeros_like(log_a) if init is None else init[0].clone()
    g = torch.zeros_like(log_b) if init is None else init[1].clone()
    f = torch.where(torch.isfinite(log_a), f, log_a)
    g = torch.where(torch.isfinite(log_b), g, log_b)
    total = 0
    for k in range(scaling_steps if init is None else 0, 0, -1):
        f, g, n_iter, _ = _sinkhorn_at(cost, log_a, log_b, reg * scaling_factor**k, f, g, max_iter, 1e-2, check_every)
        total += n_iter
    f, g, n_iter, error = _sinkhorn_at(cost, log_a, log_b, reg, f, g, max_iter, tol, check_every)
    plan = torch.exp((f[:, :, None] + g[:, None, :] - cost) / reg)
    return plan, SinkhornReport(total + n_iter, error, error < tol), (f, g)


#: Largest ``(C_ij - min_k C_ik) / eps`` that matrix scaling tries (exp(-600) ~ 1e-261 in float64).
KERNEL_MAX_EXPONENT = 600.0
#: Entries of one sub-batch of :func:`batched_kernel_sinkhorn`: its kernel stays in the CPU cache
#: across iterations (matrix scaling is memory bound).
KERNEL_CHUNK_ELEMENTS = 2**20


def batched_kernel_sinkhorn(
    cost: torch.Tensor,
    log_a: torch.Tensor,
    log_b: torch.Tensor,
    reg: float,
    max_iter: int = 1000,
    tol: float = 1e-6,
    check_every: int = 10,
    init: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, SinkhornReport, tuple[torch.Tensor, torch.Tensor]]:
    r"""The same batch of problems as :func:`batched_log_sinkhorn`, by matrix scaling.

    :math:`u = a / (K v)`, :math:`v = b / (K^\top u)` with :math:`K_{ij} = \exp(-(C_{ij} - \min_k
    C_{ik}) / \varepsilon)` (the row shift is absorbed into :math:`u`, so no row of :math:`K`
    underflows): two batched matrix-vector products per iteration instead of two log-sum-exps
    over every entry, several times faster at the relative epsilons of labeled OT. The batch is
    solved in sub-batches small enough to stay in the CPU cache; the kernel is float32 when its
    smallest entry is far from float32's underflow and ``tol`` far from its precision, float64
    otherwise. It cannot represent every
    problem (a column whose kernel underflows entirely, a very small epsilon): the report then
    says it did not converge, and :func:`solve_blocks` finishes in the log domain, warm-started
    from these potentials. ``init`` potentials (e.g. from the previous outer iteration of GW)
    start the scaling vectors.

    Returns
    -------
    ``(plan, report, (f, g))`` as :func:`batched_log_sinkhorn`, with each problem's error in
    ``report.block_errors``. Problems whose kernel would underflow (``(C_ij - min_k C_ik) / eps``
    above :data:`KERNEL_MAX_EXPONENT`) are not iterated (error ``inf``, potentials NaN);
    ``(None, report, None)`` when that is every problem.
    """
    valid_a, valid_b = torch.isfinite(log_a), torch.isfinite(log_b)
    # each pass below is over every entry of the batch: done in place where possible, and the masks
    # only where blocks are padded (a bucket of blocks of one shape has no padding)
    padded = not (bool(valid_a.all()) and bool(valid_b.all()))
    blocked = ~(valid_a[:, :, None] & valid_b[:, None, :]) if padded else None
    exponent = cost.masked_fill(blocked, torch.inf) if padded else cost.clone()
    row_min = exponent.amin(dim=2, keepdim=True)
    row_min = torch.where(torch.isfinite(row_min), row_min, 0.0)
    exponent.sub_(row_min).div_(reg)
    if padded:
        exponent.masked_fill_(blocked, 0.0)
    largest = exponent.flatten(1).amax(dim=1)
    # blocks whose kernel would underflow are left to the log domain (error inf, potentials NaN)
    index = (largest < KERNEL_MAX_EXPONENT).nonzero().flatten()
    if len(index) == 0:
        return None, SinkhornReport(0, float("inf"), False), None
    every_block = len(index) == cost.shape[0]
    if not every_block:
        exponent = exponent[index]
        blocked = blocked[index] if padded else None
    # float32 halves the memory traffic, but cannot represent exp(-80) nor reach a tolerance near its precision
    dtype = torch.float32 if float(largest[index].max()) < 80 and tol >= 1e-5 else torch.float64
    # padded entries of the kernel are exp(0) = 1 and never count: u is 0 on padded rows, v on padded columns
    kernel = exponent.to(dtype).neg_().exp_()
    del exponent, blocked
    a = torch.where(valid_a[index], log_a[index].to(dtype).exp(), 0.0)
    b = torch.where(valid_b[index], log_b[index].to(dtype).exp(), 0.0)
    u, v = torch.zeros_like(a), torch.zeros_like(b)
    start_v = None
    if init is not None:  # g = reg log v: start from the previous solution's column scaling
        # v is defined up to a factor per block (u absorbs it): shift log v so its largest entry is 0
        log_v = torch.where(valid_b[index], init[1][index] / reg, float("-inf"))
        log_v = log_v - log_v.amax(dim=1, keepdim=True).nan_to_num(0.0, neginf=0.0)
        start_v = torch.exp(log_v).to(dtype)
    step = max(1, KERNEL_CHUNK_ELEMENTS // max(1, cost.shape[1] * cost.shape[2]))
    sub_errors = torch.empty(len(index), dtype=torch.float64, device=cost.device)
    most = 0
    for start in range(0, len(index), step):
        part = slice(start, start + step)
        first_v = None if start_v is None else start_v[part]
        u[part], v[part], n_iter, sub_errors[part] = _scale(
            kernel[part], a[part], b[part], max_iter, tol, check_every, first_v
        )
        most = max(most, n_iter)
    # the plan u K v, written over the kernel (not needed after this)
    solved_plan = kernel.mul_(u[:, :, None]).mul_(v[:, None, :]).to(cost.dtype)
    if every_block:
        plan = solved_plan
    else:
        plan = torch.zeros_like(cost)
        plan[index] = solved_plan
    del kernel, solved_plan
    f = torch.full_like(log_a, float("nan"))
    g = torch.full_like(log_b, float("nan"))
    f[index] = reg * torch.log(u.to(cost.dtype)) + row_min[index, :, 0]
    g[index] = reg * torch.log(v.to(cost.dtype))
    f, g = torch.where(valid_a, f, log_a), torch.where(valid_b, g, log_b)
    errors = torch.full((cost.shape[0],), float("inf"), dtype=torch.float64, device=cost.device)
    errors[index] = sub_errors
    # the kernel is finite (exp of a non-positive number), so the plan is finite where u and v are
    scaling_finite = torch.zeros(cost.shape[0], dtype=torch.bool, device=cost.device)
    scaling_finite[index] = torch.isfinite(u).all(1) & torch.isfinite(v).all(1)
    finite = (
        scaling_finite
        & torch.where(valid_a, torch.isfinite(f), True).all(1)
        & torch.where(valid_b, torch.isfinite(g), True).all(1)
    )
    errors = torch.where(finite, errors, float("inf"))
    worst = float(errors.max())
    return plan, SinkhornReport(most, worst, worst < tol, block_errors=errors), (f, g)


#: Entries of one problem above which :func:`_kernel_times` uses a matrix product: below it,
#: multiply-and-sum is several times faster on CPU (no per-problem dispatch), above it the
#: product's temporary of the kernel's size costs more than the call.
MATVEC_MIN_ELEMENTS = 2**16


def _kernel_times(kernel: torch.Tensor, vector: torch.Tensor, transpose: bool = False) -> torch.Tensor:
    """``K v`` (or ``K^T u`` with ``transpose``) for each problem of the batch."""
    if kernel.shape[1] * kernel.shape[2] >= MATVEC_MIN_ELEMENTS:
        if transpose:
            return torch.bmm(vector[:, None, :], kernel)[:, 0, :]
        return torch.bmm(kernel, vector[:, :, None])[:, :, 0]
    if transpose:
        return (kernel * vector[:, :, None]).sum(1)
    return (kernel * vector[:, None, :]).sum(2)


def _scale(kernel, a, b, max_iter, tol, check_every, v=None):
    """Matrix scaling of one sub-batch; returns ``u``, ``v``, the iterations and each problem's error.

    Problems whose row marginals are within ``tol`` are dropped from the working set at each
    check (a few slow blocks do not keep the others iterating); a problem whose error is not
    finite stops there (its kernel cannot represent it). The batched matrix-vector products are
    multiply-and-sum for small problems and ``bmm`` for large ones (:func:`_kernel_times`).
    """
    v = (b > 0).to(a.dtype) if v is None else v.clone()
    u = torch.zeros_like(a)
    errors = torch.full((len(a),), float("inf"), dtype=torch.float64, device=a.device)
    active = torch.arange(len(a), device=a.device)
    k, aa, bb, vv, uu = kernel, a, b, v, u
    mass = aa.sum(dim=1)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        uu = torch.where(aa > 0, aa / _kernel_times(k, vv), 0.0)
        vv = torch.where(bb > 0, bb / _kernel_times(k, uu, transpose=True), 0.0)
        if n_iter % check_every == 0 or n_iter == max_iter:
            rows = uu * _kernel_times(k, vv)
            step_errors = ((rows - aa).abs().sum(dim=1) / mass).double()
            stop = (step_errors < tol) | ~torch.isfinite(step_errors)
            if n_iter == max_iter:
                stop[:] = True
            if stop.any():
                u[active[stop]], v[active[stop]] = uu[stop], vv[stop]
                errors[active[stop]] = torch.where(torch.isfinite(step_errors[stop]), step_errors[stop], float("inf"))
                keep = ~stop
                if not keep.any():
                    break
                active, k, aa, bb, vv, uu, mass = (t[keep] for t in (active, k, aa, bb, vv, uu, mass))
    return u, v, n_iter, errors


#: Entries of one padded bucket of label blocks (the unit solved at once, and one Ray task).
BUCKET_ELEMENTS = 2**22


def solve_blocks(
    blocks: LabelBlocks,
    block_cost: Callable[[np.ndarray, int, int], torch.Tensor],
    reg: float,
    max_iter: int = 1000,
    tol: float = 1e-6,
    max_elements: int = BUCKET_ELEMENTS,
    warm_start: list | None = None,
    kernel_first: bool = False,
) -> tuple[list[torch.Tensor], SinkhornReport, list]:
    """Solve every label block's entropic OT problem, bucket by bucket.

    Parameters
    ----------
    blocks
        The label blocks and their masses.
    block_cost
        ``block_cost(bucket, m1, m2)`` returns the ``(len(bucket), m1, m2)`` padded costs of the
        blocks ``bucket`` (indices into ``blocks``).
    reg
        Absolute entropic regularisation.
    max_iter, tol
        Sinkhorn stopping rule.
    max_elements
        Size bound of one padded bucket.
    warm_start
        Potentials returned by an earlier call on the same blocks (outer loops of GW/COOT).
    kernel_first
        Try :func:`batched_kernel_sinkhorn` first (from ``warm_start`` if given); blocks its kernel
        cannot represent (a non-finite error) are finished by the log-domain solver from its
        potentials. Blocks that it represents but that reach ``max_iter`` before ``tol`` keep
        their kernel solution and its error (the report says not converged): the log domain runs
        the same iterations, only several times slower, and on such blocks it was measured to end
        at the same error.

    Returns
    -------
    ``(plans, report, potentials)``: one ``(n1_l, n2_l)`` plan per block (unpadded), the worst
    report, and the padded dual potentials of each bucket (for ``warm_start``).
    """
    n_rows, n_cols = blocks.sizes
    plans: list[torch.Tensor | None] = [None] * len(blocks.labels)
    reports, potentials = [], []
    for position, bucket in enumerate(size_buckets(n_rows, n_cols, max_elements=max_elements)):
        m1, m2 = int(n_rows[bucket].max()), int(n_cols[bucket].max())
        init = warm_start[position] if warm_start is not None else None
        plan, report, duals = solve_bucket(
            block_cost(bucket, m1, m2),
            n_rows[bucket],
            n_cols[bucket],
            blocks.mass[bucket],
            reg,
            max_iter,
            tol,
            init=init,
            kernel_first=kernel_first,
        )
        potentials.append(duals)
        for k, index in enumerate(bucket):
            plans[index] = plan[k, : n_rows[index], : n_cols[index]]
        reports.append(report)
    return plans, merge_reports(reports), potentials


def solve_bucket(
    cost: torch.Tensor,
    n_rows: np.ndarray,
    n_cols: np.ndarray,
    mass: np.ndarray,
    reg: float,
    max_iter: int,
    tol: float,
    *,
    init: tuple[torch.Tensor, torch.Tensor] | None = None,
    kernel_first: bool = False,
) -> tuple[torch.Tensor, SinkhornReport, tuple[torch.Tensor, torch.Tensor]]:
    """One bucket of :func:`solve_blocks`: its padded ``(B, m1, m2)`` costs solved at once.

    ``n_rows``/``n_cols`` are each block's sizes and ``mass`` its mass (uniform marginals inside
    a block); ``init`` and ``kernel_first`` as in :func:`solve_blocks`. The report's ``cost`` is
    the bucket's transport cost. Returns the padded plans, the report and the dual potentials.
    """
    m1, m2 = cost.shape[1], cost.shape[2]
    log_a = log_marginals(n_rows, mass, m1, cost)
    log_b = log_marginals(n_cols, mass, m2, cost)
    duals = None
    if kernel_first:
        plan, report, duals = batched_kernel_sinkhorn(cost, log_a, log_b, reg, max_iter, tol, init=init)
        if duals is not None and not bool(torch.isfinite(report.block_errors).all()):
            plan, report, duals = _finish_in_log_domain(
                cost, log_a, log_b, reg, max_iter, tol, plan, report, duals, init
            )
    if duals is None:
        plan, report, duals = batched_log_sinkhorn(cost, log_a, log_b, reg, max_iter, tol, init=init)
    # per-row sums first, then numpy's pairwise sum: the same float whatever the thread count (a Ray
    # worker has one thread), where one dot product over the bucket is split differently per thread count
    row_costs = (plan * cost).sum(dim=2, dtype=torch.float64)
    report.cost = float(row_costs.cpu().numpy().sum())
    return plan, report, duals


def merge_reports(reports: Sequence[SinkhornReport]) -> SinkhornReport:
    """The worst of several buckets' reports: most iterations, largest error, summed cost."""
    merged = SinkhornReport(0, 0.0, True, 0.0)
    for report in reports:
        merged = SinkhornReport(
            max(merged.n_iter, report.n_iter),
            max(merged.marginal_error, report.marginal_error),
            merged.converged and report.converged,
            merged.cost + report.cost,
        )
    return merged


def _finish_in_log_domain(cost, log_a, log_b, reg, max_iter, tol, plan, report, duals, init):
    """Re-solve in the log domain only the problems that matrix scaling could not represent.

    Each starts from its matrix-scaling potentials when they are finite, else from ``init``
    (or cold, with epsilon scaling, when there is no ``init``).
    """
    unsolved = ~torch.isfinite(report.block_errors)
    index = unsolved.nonzero().flatten()
    f, g = duals
    sub_a, sub_b = log_a[index], log_b[index]
    sub_f, sub_g = f[index], g[index]
    usable = torch.where(torch.isfinite(sub_a), torch.isfinite(sub_f), True).all(1) & torch.where(
        torch.isfinite(sub_b), torch.isfinite(sub_g), True
    ).all(1)
    if bool(usable.all()):
        start = (sub_f, sub_g)
    elif init is not None:  # blocks matrix scaling could not represent start from init
        keep = usable[:, None]
        start = (torch.where(keep, sub_f, init[0][index]), torch.where(keep, sub_g, init[1][index]))
    else:  # cold, with epsilon scaling
        start = None
    sub_plan, sub_report, (sub_f, sub_g) = batched_log_sinkhorn(
        cost[index], sub_a, sub_b, reg, max_iter, tol, init=start
    )
    plan, f, g = plan.clone(), f.clone(), g.clone()
    plan[index], f[index], g[index] = sub_plan, sub_f, sub_g
    solved_error = float(report.block_errors[~unsolved].max()) if bool((~unsolved).any()) else 0.0
    error = max(solved_error, sub_report.marginal_error)
    merged = SinkhornReport(report.n_iter + sub_report.n_iter, error, error < tol)
    return plan, merged, (f, g)


def product_plans(blocks: LabelBlocks, like: torch.Tensor) -> list[torch.Tensor]:
    """Starting plans of outer loops: each block's mass spread uniformly (the independent coupling)."""
    return [
        torch.full((len(r), len(c)), m / (len(r) * len(c)), dtype=like.dtype, device=like.device)
        for r, c, m in zip(blocks.rows, blocks.cols, blocks.mass, strict=True)
    ]


def plan_change(new: Sequence[torch.Tensor], old: Sequence[torch.Tensor]) -> float:
    """L1 distance between two lists of block plans (the outer loops' stopping rule)."""
    return float(sum((n - o).abs().sum() for n, o in zip(new, old, strict=True)))


def to_coupling_blocks(blocks: LabelBlocks, plans: Sequence[torch.Tensor | np.ndarray]) -> list[CouplingBlock]:
    """One :class:`CouplingBlock` per label block, its plan as a numpy array (tensors are moved to the CPU)."""
    return [
        CouplingBlock(rows, cols, plan.detach().cpu().numpy() if isinstance(plan, torch.Tensor) else plan, label)
        for label, rows, cols, plan in zip(blocks.labels, blocks.rows, blocks.cols, plans, strict=True)
    ]

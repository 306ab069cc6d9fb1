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


def pad_rows(arrays: Sequence[torch.Tensor], length: int) -> torch.Tensor:
    """Stack 2-d tensors of different row counts into ``(B, length, d)``, zero padded."""
    out = arrays[0].new_zeros((len(arrays), length, arrays[0].shape[1]))
    for k, a in enumerate(arrays):
        out[k, : a.shape[0]] = a
    return out


def log_marginals(sizes: np.ndarray, masses: np.ndarray, length: int, like: torch.Tensor) -> torch.Tensor:
    """``(B, length)`` log of uniform within-block marginals (block mass / size), ``-inf`` on pads."""
    out = torch.full((len(sizes), length), float("-inf"), dtype=like.dtype, device=like.device)
    for k, (n, mass) in enumerate(zip(sizes, masses, strict=True)):
        out[k, :n] = float(np.log(mass / n))
    return out


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


def solve_blocks(
    blocks: LabelBlocks,
    block_cost: Callable[[np.ndarray, int, int], torch.Tensor],
    reg: float,
    like: torch.Tensor,
    max_iter: int = 1000,
    tol: float = 1e-6,
    max_elements: int = 2**24,
    warm_start: list | None = None,
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
    like
        Tensor giving the dtype and device.
    max_iter, tol
        Sinkhorn stopping rule.
    max_elements
        Size bound of one padded bucket.
    warm_start
        Potentials returned by an earlier call on the same blocks (outer loops of GW/COOT).

    Returns
    -------
    ``(plans, report, potentials)``: one ``(n1_l, n2_l)`` plan per block (unpadded), the worst
    report, and the padded dual potentials of each bucket (for ``warm_start``).
    """
    n_rows, n_cols = blocks.sizes
    plans: list[torch.Tensor | None] = [None] * len(blocks.labels)
    worst = SinkhornReport(0, 0.0, True)
    potentials = []
    for position, bucket in enumerate(size_buckets(n_rows, n_cols, max_elements=max_elements)):
        m1, m2 = int(n_rows[bucket].max()), int(n_cols[bucket].max())
        cost = block_cost(bucket, m1, m2)
        log_a = log_marginals(n_rows[bucket], blocks.mass[bucket], m1, like)
        log_b = log_marginals(n_cols[bucket], blocks.mass[bucket], m2, like)
        init = warm_start[position] if warm_start is not None else None
        plan, report, duals = batched_log_sinkhorn(cost, log_a, log_b, reg, max_iter, tol, init=init)
        potentials.append(duals)
        for k, index in enumerate(bucket):
            plans[index] = plan[k, : n_rows[index], : n_cols[index]]
        worst = SinkhornReport(
            max(worst.n_iter, report.n_iter),
            max(worst.marginal_error, report.marginal_error),
            worst.converged and report.converged,
        )
    return plans, worst, potentials


def product_plans(blocks: LabelBlocks, like: torch.Tensor) -> list[torch.Tensor]:
    """Starting plans of outer loops: each block's mass spread uniformly (the independent coupling)."""
    return [
        torch.full((len(r), len(c)), m / (len(r) * len(c)), dtype=like.dtype, device=like.device)
        for r, c, m in zip(blocks.rows, blocks.cols, blocks.mass, strict=True)
    ]


def plan_change(new: Sequence[torch.Tensor], old: Sequence[torch.Tensor]) -> float:
    """L1 distance between two lists of block plans (the outer loops' stopping rule)."""
    return float(sum((n - o).abs().sum() for n, o in zip(new, old, strict=True)))


def to_coupling_blocks(blocks: LabelBlocks, plans: Sequence[torch.Tensor]) -> list[CouplingBlock]:
    return [
        CouplingBlock(rows, cols, plan.detach().cpu().numpy(), label)
        for label, rows, cols, plan in zip(blocks.labels, blocks.rows, blocks.cols, plans, strict=True)
    ]

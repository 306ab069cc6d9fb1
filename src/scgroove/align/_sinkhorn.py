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


def batched_log_sinkhorn(
    cost: torch.Tensor,
    log_a: torch.Tensor,
    log_b: torch.Tensor,
    reg: float,
    max_iter: int = 1000,
    tol: float = 1e-6,
    check_every: int = 10,
    init: tuple[torch.Tensor, torch.Tensor] | None = None,
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

    Returns
    -------
    ``(plan, report, (f, g))``, plan of shape ``(B, m1, m2)`` and the final dual potentials.
    """
    f = torch.zeros_like(log_a) if init is None else init[0].clone()
    g = torch.zeros_like(log_b) if init is None else init[1].clone()
    f = torch.where(torch.isfinite(log_a), f, log_a)
    g = torch.where(torch.isfinite(log_b), g, log_b)
    block_mass = torch.logsumexp(log_a, dim=1).exp()
    error = float("inf")
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        f = reg * log_a - reg * torch.logsumexp((g[:, None, :] - cost) / reg, dim=2)
        g = reg * log_b - reg * torch.logsumexp((f[:, :, None] - cost) / reg, dim=1)
        if n_iter % check_every == 0 or n_iter == max_iter:
            row_log = torch.logsumexp((f[:, :, None] + g[:, None, :] - cost) / reg, dim=2)
            gap = (row_log.exp() - log_a.exp()).abs().sum(dim=1) / block_mass
            error = float(gap.max())
            if error < tol:
                break
    plan = torch.exp((f[:, :, None] + g[:, None, :] - cost) / reg)
    return plan, SinkhornReport(n_iter, error, error < tol), (f, g)


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


def to_coupling_blocks(blocks: LabelBlocks, plans: Sequence[torch.Tensor]) -> list[CouplingBlock]:
    return [
        CouplingBlock(rows, cols, plan.detach().cpu().numpy(), label)
        for label, rows, cols, plan in zip(blocks.labels, blocks.rows, blocks.cols, plans, strict=True)
    ]

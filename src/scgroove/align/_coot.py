"""CO-Optimal Transport: couple samples and features at once."""

from __future__ import annotations

import numpy as np
import ot
import torch
from ot.coot import co_optimal_transport

from scgroove._tensor import as_tensor
from scgroove.align._blocks import BlockMass, label_blocks
from scgroove.align._coupling import Coupling, CouplingBlock
from scgroove.align._memory import check_dense_budget
from scgroove.align._sinkhorn import gather_rows, plan_change, product_plans, solve_blocks, to_coupling_blocks


def _standardise(x: torch.Tensor) -> torch.Tensor:
    std = x.std(0, unbiased=False)
    return (x - x.mean(0)) / torch.where(std > 1e-12, std, torch.ones_like(std))


def coot(
    x1, x2, epsilon: float = 0.05, max_iter: int = 100, tol: float = 1e-6, max_dense_bytes: int | None = None
) -> Coupling:
    r"""CO-Optimal Transport (Redko et al. 2020) between all cells, via POT.

    .. math:: \min_{P, Q} \sum_{ijkl} (X_{ik} - Y_{jl})^2 P_{ij} Q_{kl} + \varepsilon(\mathrm{KL}(P) + \mathrm{KL}(Q))

    on standardised features of each modality; ``info["feature_coupling"]`` holds :math:`Q`.
    Dense ``n1 x n2`` sample coupling, refused beyond ``max_dense_bytes``.
    """
    x = _standardise(as_tensor(x1).double())
    y = _standardise(as_tensor(x2, x.device).double())
    check_dense_budget("coot", [(len(x), len(y)), (len(x), len(y))], max_dense_bytes)
    plan, feature_plan, log = co_optimal_transport(
        x, y, epsilon=epsilon, nits_bcd=max_iter, tol_bcd=tol, method_sinkhorn="sinkhorn_log", log=True
    )
    n1, n2 = plan.shape
    # POT stops early when the plan or the cost stops changing; max_iter passes mean it did not
    n_iter = len(log["distances"])
    info = {"n_iter": n_iter, "feature_coupling": feature_plan.cpu().numpy()}
    block = CouplingBlock(np.arange(n1), np.arange(n2), plan.cpu().numpy())
    params = {"epsilon": epsilon, "max_iter": max_iter, "tol": tol}
    cost = float(log["distances"][-1])
    return Coupling(n1, n2, [block], "coot", params, info, converged=n_iter < max_iter, cost=cost)


def labeled_coot(
    x1,
    x2,
    labels1,
    labels2,
    epsilon: float = 0.05,
    max_iter: int = 50,
    tol: float = 1e-5,
    sinkhorn_max_iter: int = 1000,
    block_mass: BlockMass = "source",
) -> Coupling:
    r"""Labeled COOT: one sample coupling per label, one feature coupling shared by all labels.

    Block coordinate descent on :math:`\sum_{ijkl} (X_{ik} - Y_{jl})^2 P_{ij} Q_{kl}` with
    :math:`P` restricted to same-label blocks (marginals as in :func:`labeled_ot`) and :math:`Q`
    with uniform feature marginals; each step is entropic OT (samples: batched over labels,
    features: POT). Features are standardised; ``info["feature_coupling"]`` holds :math:`Q`.
    """
    x = _standardise(as_tensor(x1).double())
    y = _standardise(as_tensor(x2, x.device).double())
    blocks = label_blocks(labels1, labels2, block_mass)
    p1, p2 = x.shape[1], y.shape[1]
    wf1 = torch.full((p1,), 1.0 / p1, dtype=x.dtype, device=x.device)
    wf2 = torch.full((p2,), 1.0 / p2, dtype=x.dtype, device=x.device)
    feature_plan = wf1[:, None] * wf2[None, :]
    plans = product_plans(blocks, x)
    change, n_iter, potentials = float("inf"), 0, None
    for n_iter in range(1, max_iter + 1):  # noqa: B007 (n_iter is reported)
        # sample step: separable terms of the cost drop out under fixed marginals
        def block_cost(bucket, m1, m2, q=feature_plan):
            u = gather_rows(x, [blocks.rows[k] for k in bucket], m1)
            v = gather_rows(y, [blocks.cols[k] for k in bucket], m2)
            return -2 * u @ q @ v.transpose(1, 2)

        new_plans, _, potentials = solve_blocks(
            blocks, block_cost, epsilon, sinkhorn_max_iter, tol=1e-4, warm_start=potentials
        )
        feature_cost = -2 * sum(x[r].T @ p @ y[c] for r, c, p in zip(blocks.rows, blocks.cols, new_plans, strict=True))
        feature_cost = feature_cost - feature_cost.min()
        feature_plan = ot.sinkhorn(wf1, wf2, feature_cost, epsilon, method="sinkhorn_log", numItermax=sinkhorn_max_iter)
        change = plan_change(new_plans, plans)
        plans = new_plans
        if change < tol:
            break
    info = {
        "n_iter": n_iter,
        "change": change,
        "n_blocks": len(blocks.labels),
        "feature_coupling": feature_plan.cpu().numpy(),
    }
    params = {"epsilon": epsilon, "max_iter": max_iter, "tol": tol, "block_mass": block_mass}
    blocks_out = to_coupling_blocks(blocks, plans)
    return Coupling(len(x), len(y), blocks_out, "labeled_coot", params, info, converged=bool(change < tol))

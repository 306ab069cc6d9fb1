"""Chunked nearest-partner ranks: O(n * chunk) memory, numpy or torch (GPU) arrays."""

from __future__ import annotations

import numpy as np
import torch

from scgroove._tensor import as_tensor

DEFAULT_MEMORY_BYTES = 256 * 2**20
#: Distances that differ by less than this many machine epsilons (of the input's precision) times
#: the squared norms involved are a tie: the rounding of the stored values cannot tell them apart.
TIE_ULPS = 8


def chunk_rows(n_reference: int, memory_bytes: int = DEFAULT_MEMORY_BYTES) -> int:
    """How many query rows fit in ``memory_bytes`` of an (chunk x n_reference) distance block."""
    return int(max(1, min(65536, memory_bytes // max(1, 8 * n_reference))))


def fraction_closer(
    query,
    reference,
    partner: np.ndarray,
    exclude_self: bool = True,
    memory_bytes: int = DEFAULT_MEMORY_BYTES,
) -> np.ndarray:
    """For each query row, the fraction of reference rows closer than its partner.

    Ties count one half, and tied distances are recognised as ties (float64, with a relative
    tolerance of :data:`TIE_ULPS` epsilons of the input's precision). Distances are squared
    Euclidean, computed block by block so memory stays O(n_reference * chunk).

    Parameters
    ----------
    query, reference
        ``(n_q, d)`` and ``(n_r, d)`` arrays (numpy or torch; torch stays on its device).
    partner
        ``(n_q,)`` row of ``reference`` that is each query row's partner.
    exclude_self
        Leave the partner out of the competitors (the denominator is ``n_r - 1``).
    memory_bytes
        Budget of one distance block.

    Returns
    -------
    ``(n_q,)`` float array.
    """
    # float64 and a relative tolerance make true ties ties: the expansion |q|^2 + |r|^2 - 2 q.r,
    # and the storage of rounded values in float32, round two equally distant rows differently,
    # which would otherwise break ties at random
    q, r = as_tensor(query), as_tensor(reference)
    precision = TIE_ULPS * max(torch.finfo(q.dtype).eps, torch.finfo(r.dtype).eps)
    q, r = q.double(), r.to(q.device).double()
    partner_t = torch.as_tensor(np.asarray(partner), device=q.device, dtype=torch.long)
    r_sq = (r * r).sum(1)
    n_other = r.shape[0] - (1 if exclude_self else 0)
    out = torch.empty(q.shape[0], dtype=torch.float64, device=q.device)
    step = chunk_rows(r.shape[0], memory_bytes)
    for start in range(0, q.shape[0], step):
        block = q[start : start + step]
        q_sq = (block * block).sum(1, keepdim=True)
        dist = q_sq + r_sq[None, :] - 2 * block @ r.T
        own = dist.gather(1, partner_t[start : start + step, None])
        tolerance = precision * (q_sq + r_sq[partner_t[start : start + step]][:, None] + r_sq[None, :])
        tied = (dist - own).abs() <= tolerance
        closer = ((dist < own) & ~tied).sum(1)
        ties = tied.sum(1) - (1 if exclude_self else 0)
        out[start : start + step] = (closer + 0.5 * ties).double() / max(n_other, 1)
    return out.cpu().numpy()

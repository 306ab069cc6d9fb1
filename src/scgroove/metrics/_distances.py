"""Chunked nearest-partner ranks: O(n * chunk) memory, numpy or torch (GPU) arrays."""

from __future__ import annotations

import numpy as np
import torch

DEFAULT_MEMORY_BYTES = 256 * 2**20


def as_tensor(x, device: torch.device | str | None = None) -> torch.Tensor:
    """Float tensor view of a numpy array or tensor (kept on its device unless one is given)."""
    # a copy only when needed: torch refuses negative strides (e.g. x[::-1], some AnnData views)
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.ascontiguousarray(x))
    t = t.to(dtype=torch.float64 if t.dtype == torch.float64 else torch.float32)
    return t if device is None else t.to(device)


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

    Ties count one half. Distances are squared Euclidean, computed block by block so memory stays
    O(n_reference * chunk).

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
    q = as_tensor(query)
    r = as_tensor(reference, q.device)
    dtype = torch.promote_types(q.dtype, r.dtype)
    q, r = q.to(dtype), r.to(dtype)
    partner_t = torch.as_tensor(np.asarray(partner), device=q.device, dtype=torch.long)
    r_sq = (r * r).sum(1)
    n_other = r.shape[0] - (1 if exclude_self else 0)
    out = torch.empty(q.shape[0], dtype=torch.float64, device=q.device)
    step = chunk_rows(r.shape[0], memory_bytes)
    for start in range(0, q.shape[0], step):
        block = q[start : start + step]
        dist = (block * block).sum(1, keepdim=True) + r_sq[None, :] - 2 * block @ r.T
        own = dist.gather(1, partner_t[start : start + step, None])
        closer = (dist < own).sum(1)
        ties = (dist == own).sum(1) - (1 if exclude_self else 0)
        out[start : start + step] = (closer + 0.5 * ties).double() / max(n_other, 1)
    return out.cpu().numpy()

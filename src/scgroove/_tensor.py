"""The one numpy/torch bridge shared by the aligners, the losses and the metrics."""

from __future__ import annotations

import numpy as np
import torch


def as_tensor(x, device: torch.device | str | None = None) -> torch.Tensor:
    """Float tensor view of a numpy array or tensor (kept on its device unless one is given).

    float64 stays float64; every other dtype becomes float32.
    """
    # a copy only when needed: torch refuses negative strides (e.g. x[::-1], some AnnData views)
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.ascontiguousarray(x))
    t = t.to(dtype=torch.float64 if t.dtype == torch.float64 else torch.float32)
    return t if device is None else t.to(device)

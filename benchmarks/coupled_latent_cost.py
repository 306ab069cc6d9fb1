"""What the coupled latent costs a user: first call in a fresh process, whole-process peak RSS.

Labeled OT between two latents (the reference: what a user runs before it), then, with ``with``,
``Coupling.coupled_latents`` on the same cells. Run both modes, each in its own fresh process, to
compare peak RSS:

    python benchmarks/coupled_latent_cost.py without
    python benchmarks/coupled_latent_cost.py with
"""

from __future__ import annotations

import resource
import sys
import time

import numpy as np

import scgroove as sg

CELLS, LABELS, DIMS = 50_000, 500, 32

if __name__ == "__main__":
    rng = np.random.default_rng(0)
    labels1, labels2 = (rng.integers(0, LABELS, CELLS).astype(str) for _ in range(2))
    z1 = rng.normal(size=(CELLS, DIMS)).astype(np.float32)
    z2 = (z1[rng.permutation(CELLS)] + 1).astype(np.float32)
    start = time.perf_counter()
    coupling = sg.align.align(z1, z2, labels1, labels2, method="labeled_ot")
    report = f"labeled OT {time.perf_counter() - start:.2f} s"
    if sys.argv[1:] == ["with"]:
        start = time.perf_counter()
        coupling.coupled_latents(z1, z2)
        report += f", coupled_latents {time.perf_counter() - start:.2f} s"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{CELLS} cells, {LABELS} labels: {report}; whole-process peak RSS {peak:.0f} MiB")

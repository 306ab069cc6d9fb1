"""Labeled OT against a plain loop of POT solves, in one process; peak memory at screen scale.

Usage: python benchmarks/labeled_ot_speed.py [--cells 8000] [--labels 100] [--repeats 7]

Part 1 (one process, same problem, same relative epsilon 0.05 and tolerance 1e-4): the median
wall time of ``sg.align.labeled_ot`` against a Python loop that calls ``ot.sinkhorn`` once per
label (POT's default matrix-scaling solver, and its log-domain one), and the ratio loop / ours
(> 1: ours is faster). Part 2 (fresh processes): time and peak memory of labeled OT at 50,000
cells / 500 labels and of labeled GW at 20,000 cells / 100 labels.
"""

from __future__ import annotations

import argparse
import statistics
import time


def _loop(z1, z2, l1, l2, method):
    import numpy as np
    import ot

    plans = []
    for label in np.intersect1d(l1, l2):
        rows, cols = np.flatnonzero(l1 == label), np.flatnonzero(l2 == label)
        cost = ot.dist(z1[rows], z2[cols])
        a, b = np.full(len(rows), 1 / len(rows)), np.full(len(cols), 1 / len(cols))
        plans.append(ot.sinkhorn(a, b, cost, 0.05 * cost.mean(), method=method, stopThr=1e-4, numItermax=3000))
    return plans


def compare(cells: int, labels: int, repeats: int) -> dict:
    import torch
    from ot_scaling import _problem

    import scgroove as sg

    z1, z2, _, _, l1, l2 = _problem(cells, labels)
    candidates = {
        "scgroove labeled_ot": lambda: sg.align.labeled_ot(z1, z2, l1, l2),
        "POT loop (sinkhorn)": lambda: _loop(z1, z2, l1, l2, "sinkhorn"),
        "POT loop (sinkhorn_log)": lambda: _loop(z1, z2, l1, l2, "sinkhorn_log"),
    }
    times = {}
    for name, run in candidates.items():
        run()  # warm-up
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            samples.append(time.perf_counter() - start)
        times[name] = statistics.median(samples)
    ours = times["scgroove labeled_ot"]
    return {
        "torch_threads": torch.get_num_threads(),
        **{f"{name} s": round(t, 4) for name, t in times.items()},
        **{f"ratio {name} / ours": round(t / ours, 2) for name, t in times.items() if name != "scgroove labeled_ot"},
    }


def at_scale(method: str, cells: int, labels: int) -> dict:
    from _common import peak_rss_mib, reset_peak_rss
    from ot_scaling import _problem, solve_labeled

    problem = _problem(cells, labels)
    reset_peak_rss()
    from _common import current_peak_rss_mib

    before = current_peak_rss_mib()
    coupling, seconds = solve_labeled(method, problem)
    return {
        "method": method,
        "cells": cells,
        "labels": labels,
        "seconds": round(seconds, 2),
        "peak_rss_mib": round(current_peak_rss_mib()),
        "extra_over_inputs_mib": round(current_peak_rss_mib() - before),
        "process_peak_mib": round(peak_rss_mib()),
        "converged": coupling.converged,
    }


def main() -> None:
    from _common import in_fresh_process

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=8000)
    parser.add_argument("--labels", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(in_fresh_process("labeled_ot_speed", "compare", cells=args.cells, labels=args.labels, repeats=args.repeats))
    print(in_fresh_process("labeled_ot_speed", "at_scale", method="labeled_ot", cells=50000, labels=500))
    print(in_fresh_process("labeled_ot_speed", "at_scale", method="labeled_gw", cells=20000, labels=100))


if __name__ == "__main__":
    main()

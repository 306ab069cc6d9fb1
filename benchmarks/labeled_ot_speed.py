"""Labeled OT as a user runs it: the first call in a fresh process, against a plain per-label POT loop.

Usage: python benchmarks/labeled_ot_speed.py [--repeats 3] [--cases small screen ragged large]
    [--routes scgroove soft ray pot_loop]

Each measurement is a new Python process that builds the problem (numpy only), imports what the
route needs, then times ONE call: ``sg.align.labeled_ot(...)`` followed by ``.to_sparse()`` (the
coupling as a user stores it), or a loop that calls POT's ``ot.sinkhorn`` (matrix scaling, the
fastest POT solver here) once per label with the same relative epsilon (0.05 of the mean
same-label cost) and tolerance (1e-4); the loop's dense per-label plans are not even assembled
into one matrix, which favours it. Reported: the median wall time of that call over ``--repeats``
processes, the ratio loop / scgroove (> 1: scgroove is faster), and the peak resident memory of
the whole process (``ru_maxrss``: imports, inputs and solve together), with the memory after the
imports for scale. Labels are uniform, or drawn from a Dirichlet(0.5) distribution over labels
("ragged": blocks from a few cells to ~1,400, as in a screen with strong and weak guides).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from _common import print_table

CASES = {
    "small": (8_000, 100, None),
    "screen": (50_000, 500, None),
    "ragged": (50_000, 500, 0.5),
    "large": (100_000, 1_000, None),
}
EPSILON, TOL = 0.05, 1e-4

_CHILD = r"""
import json, resource, sys, time
import numpy as np

def rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

EPSILON, TOL = float(sys.argv[5]), float(sys.argv[6])
route, cells, n_labels, concentration = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rng = np.random.default_rng(0)
if concentration == "None":
    weights = np.full(n_labels, 1 / n_labels)
else:
    weights = rng.dirichlet(np.full(n_labels, float(concentration)))
labels1, labels2 = (rng.choice(n_labels, cells, p=weights).astype(str) for _ in range(2))
centres = rng.normal(0, 3, (n_labels, 32))
z1 = (centres[labels1.astype(int)] + rng.normal(size=(cells, 32))).astype(np.float32)
z2 = (centres[labels2.astype(int)] + rng.normal(size=(cells, 32))).astype(np.float32)
inputs = rss_mib()
setup = 0.0
if route in ("scgroove", "soft", "ray"):
    import scgroove as sg
    options = {}
    if route == "ray":
        import ray
        start = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        setup = time.perf_counter() - start
        options = {"backend": "ray"}
    imported = rss_mib()
    solve = sg.align.soft_labeled_ot if route == "soft" else sg.align.labeled_ot
    start = time.perf_counter()
    matrix = solve(z1, z2, labels1, labels2, epsilon=EPSILON, tol=TOL, **options).to_sparse()
    seconds = time.perf_counter() - start
    entries = int(matrix.nnz)
else:
    import ot
    imported = rss_mib()
    start = time.perf_counter()
    entries = 0
    for label in np.intersect1d(labels1, labels2):
        rows, cols = np.flatnonzero(labels1 == label), np.flatnonzero(labels2 == label)
        cost = ot.dist(z1[rows], z2[cols])
        a, b = np.full(len(rows), 1 / len(rows)), np.full(len(cols), 1 / len(cols))
        plan = ot.sinkhorn(a, b, cost, EPSILON * cost.mean(), method="sinkhorn", stopThr=TOL, numItermax=3000)
        entries += int(np.count_nonzero(plan))
    seconds = time.perf_counter() - start
result = {"seconds": seconds, "setup_seconds": setup, "peak_rss_mib": rss_mib(), "after_imports_mib": imported}
result["entries"] = entries
print("RESULT", json.dumps(result))
"""


def first_call(route: str, cells: int, labels: int, concentration: float | None) -> dict:
    """One fresh process: the route's first call and the process's peak memory."""
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, route, str(cells), str(labels), str(concentration), str(EPSILON), str(TOL)],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    line = next(line for line in out.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[7:])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per route and case")
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument(
        "--routes",
        nargs="*",
        default=["scgroove", "pot_loop"],
        choices=["scgroove", "soft", "ray", "pot_loop"],
        help="soft: sg.align.soft_labeled_ot (default penalty) instead of labeled_ot; ray: labeled_ot with "
        "backend='ray' on a local Ray of 2 CPUs (its start-up timed apart, 'setup s'; peak RSS is the driver's)",
    )
    args = parser.parse_args(argv)
    rows = []
    for case in args.cases:
        cells, labels, concentration = CASES[case]
        runs = {
            route: [first_call(route, cells, labels, concentration) for _ in range(args.repeats)]
            for route in args.routes
        }
        median = {route: statistics.median(r["seconds"] for r in results) for route, results in runs.items()}
        for route, results in runs.items():
            rows.append(
                {
                    "case": case,
                    "cells": cells,
                    "labels": labels,
                    "route": route,
                    "first call s (median)": round(median[route], 3),
                    "setup s": round(statistics.median(r["setup_seconds"] for r in results), 2),
                    "each run s": " ".join(f"{r['seconds']:.3f}" for r in results),
                    "loop / route": round(median["pot_loop"] / median[route], 2)
                    if route != "pot_loop" and "pot_loop" in median
                    else None,
                    "peak RSS MiB (max)": round(max(r["peak_rss_mib"] for r in results)),
                    "after imports MiB": round(statistics.median(r["after_imports_mib"] for r in results)),
                    "stored entries": results[0]["entries"],
                }
            )
    print_table(rows, list(rows[0]))


if __name__ == "__main__":
    main()

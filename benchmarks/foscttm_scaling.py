"""Time and peak memory of scgroove.metrics.foscttm at 10k, 50k and 100k cells per modality.

Usage: python benchmarks/foscttm_scaling.py [--sizes 10000 50000 100000] [--dim 32]

Each size runs in a fresh process (peak RSS is its own). The reference, measured in the same run
where it fits, is the dense brute force: scipy's full n x n distance matrix, then ranks.
Also writes the time-vs-cells curve with its fitted exponent to benchmarks/results/foscttm_scaling.png.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def chunked(n: int, dim: int) -> dict:
    from _common import peak_rss_mib

    import scgroove as sg

    rng = np.random.default_rng(0)
    x1 = rng.normal(size=(n, dim)).astype(np.float32)
    x2 = (x1 + rng.normal(size=(n, dim)).astype(np.float32)).astype(np.float32)
    base = peak_rss_mib()
    start = time.perf_counter()
    value = sg.metrics.foscttm(x1, x2)
    return {
        "seconds": time.perf_counter() - start,
        "foscttm": value,
        "peak_rss_mib": peak_rss_mib(),
        "extra_rss_mib": peak_rss_mib() - base,
    }


def dense(n: int, dim: int) -> dict:
    from _common import peak_rss_mib
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(0)
    x1 = rng.normal(size=(n, dim)).astype(np.float32)
    x2 = (x1 + rng.normal(size=(n, dim)).astype(np.float32)).astype(np.float32)
    base = peak_rss_mib()
    start = time.perf_counter()
    d = cdist(x1, x2, "sqeuclidean")
    own = np.diag(d)
    f12 = ((d < own[:, None]).sum(1) + 0.5 * ((d == own[:, None]).sum(1) - 1)) / (n - 1)
    f21 = ((d < own[None, :]).sum(0) + 0.5 * ((d == own[None, :]).sum(0) - 1)) / (n - 1)
    value = float(0.5 * (f12.mean() + f21.mean()))
    return {
        "seconds": time.perf_counter() - start,
        "foscttm": value,
        "peak_rss_mib": peak_rss_mib(),
        "extra_rss_mib": peak_rss_mib() - base,
    }


def main() -> None:
    from _common import in_fresh_process, print_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 100_000])
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--dense-max", type=int, default=20_000, help="largest n for the dense reference")
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        ours = in_fresh_process("foscttm_scaling", "chunked", n=n, dim=args.dim)
        row = {
            "n_per_modality": n,
            "chunked_s": ours.get("seconds"),
            "chunked_extra_mib": ours.get("extra_rss_mib"),
            "foscttm": ours.get("foscttm"),
        }
        if n <= args.dense_max:
            ref = in_fresh_process("foscttm_scaling", "dense", n=n, dim=args.dim)
            row.update(
                {
                    "dense_s": ref.get("seconds"),
                    "dense_extra_mib": ref.get("extra_rss_mib"),
                    "time_ratio": ours["seconds"] / ref["seconds"],
                    "same_value": abs(ref["foscttm"] - ours["foscttm"]) < 1e-6,
                }
            )
        rows.append(row)
    print(f"dim {args.dim}, float32, CPU threads {__import__('torch').get_num_threads()}")
    print_table(
        rows,
        [
            "n_per_modality",
            "chunked_s",
            "chunked_extra_mib",
            "dense_s",
            "dense_extra_mib",
            "time_ratio",
            "same_value",
            "foscttm",
        ],
    )
    sizes = np.array([r["n_per_modality"] for r in rows], dtype=float)
    times = np.array([r["chunked_s"] for r in rows], dtype=float)
    if len(rows) >= 2:
        exponent = np.polyfit(np.log(sizes), np.log(times), 1)[0]
        print(f"fitted exponent: time ~ n^{exponent:.2f}")
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        out = Path(__file__).parent / "results"
        out.mkdir(exist_ok=True)
        fig, ax = plt.subplots(figsize=(4, 3.5))
        ax.loglog(sizes, times, "o-", label=f"chunked foscttm (n^{exponent:.2f})")
        ax.set_xlabel("cells per modality"), ax.set_ylabel("seconds"), ax.legend()
        fig.tight_layout()
        fig.savefig(out / "foscttm_scaling.png", dpi=120)


if __name__ == "__main__":
    main()

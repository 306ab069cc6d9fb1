"""Time and peak memory of labeled_ot and labeled_gw vs POT's dense solvers on the same problem.

Usage: python benchmarks/ot_scaling.py [--sizes 2000 20000 100000] [--labels 100 1000] [--dense-max 20000]

Problem: n cells per modality in L labels (uniform at random), 32-d shared latents (labeled OT) and
30-d / 20-d per-modality spaces (labeled GW). POT has no label-constrained solver, so its dense
solvers get the same problem with a prohibitive cost on cross-label pairs and our block marginals:
``ot.sinkhorn(method="sinkhorn_log")`` for OT, ``ot.gromov.entropic_fused_gromov_wasserstein`` (the
cross-label cost as the linear term, alpha = 1 - 1e-3) for GW. Each run is a fresh process (own
peak RSS). Dense runs are skipped above --dense-max (OT) and 2000 (GW: O(n^3) per iteration).
Writes the time-vs-cells curves with fitted exponents to benchmarks/results/ot_scaling.png.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def _problem(n: int, n_labels: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels1 = rng.integers(0, n_labels, n).astype(str)
    labels2 = rng.integers(0, n_labels, n).astype(str)
    centres = rng.normal(0, 3, (n_labels, 32))
    z1 = (centres[labels1.astype(int)] + rng.normal(size=(n, 32))).astype(np.float32)
    z2 = (centres[labels2.astype(int)] + rng.normal(size=(n, 32))).astype(np.float32)
    s1 = np.tanh(z1[:, :30] @ rng.normal(size=(30, 30)) / 5).astype(np.float32)
    s2 = np.tanh(z2[:, :20] @ rng.normal(size=(20, 20)) / 5).astype(np.float32)
    return z1, z2, s1, s2, labels1, labels2


def solve_labeled(method: str, problem) -> tuple:
    """``(coupling, seconds)`` of scgroove's labeled OT (on the shared latents) or labeled GW (on
    each modality's structure) for a problem made by :func:`_problem`."""
    import scgroove as sg

    z1, z2, s1, s2, l1, l2 = problem
    start = time.perf_counter()
    if method == "labeled_ot":
        coupling = sg.align.labeled_ot(z1, z2, l1, l2)
    else:
        coupling = sg.align.labeled_gw(s1, s2, l1, l2)
    return coupling, time.perf_counter() - start


def ours(method: str, n: int, n_labels: int) -> dict:
    from _common import peak_rss_mib

    problem = _problem(n, n_labels)
    base = peak_rss_mib()
    coupling, seconds = solve_labeled(method, problem)
    dense = coupling.to_sparse().toarray() if n <= 2000 else None
    if dense is not None:
        np.save(f"/tmp/scgroove_bench_{method}_{n}_{n_labels}.npy", dense)
    return {
        "seconds": seconds,
        "extra_rss_mib": peak_rss_mib() - base,
        "converged": bool(coupling.converged),
        "n_iter": coupling.info["n_iter"],
    }


def pot_dense(method: str, n: int, n_labels: int) -> dict:
    import ot
    from _common import peak_rss_mib

    z1, z2, s1, s2, l1, l2 = _problem(n, n_labels)
    shared = np.intersect1d(l1, l2)
    base = peak_rss_mib()
    start = time.perf_counter()
    same = l1[:, None] == l2[None, :]
    rows = np.isin(l1, shared)
    size1 = {k: (l1 == k).sum() for k in shared}
    size2 = {k: (l2 == k).sum() for k in shared}
    a = np.where(rows, 1.0 / rows.sum(), 0.0)
    b = np.array([size1.get(k, 0) / rows.sum() / size2[k] if k in size1 else 0.0 for k in l2])
    keep1, keep2 = a > 0, b > 0
    if method == "labeled_ot":
        cost = ot.dist(z1[keep1], z2[keep2]).astype(np.float32)
        within = cost[same[np.ix_(keep1, keep2)]]
        reg = 0.05 * float(within.mean())
        cost[~same[np.ix_(keep1, keep2)]] = 1e6
        plan = ot.sinkhorn(a[keep1], b[keep2], cost, reg, method="sinkhorn_log", stopThr=1e-4, numItermax=3000)
    else:
        import torch

        from scgroove.align._quadratic import normalise_structure

        x1 = normalise_structure(torch.tensor(s1[keep1], dtype=torch.float64)).numpy()
        x2 = normalise_structure(torch.tensor(s2[keep2], dtype=torch.float64)).numpy()
        c1, c2 = ot.dist(x1, x1), ot.dist(x2, x2)
        penalty = np.where(same[np.ix_(keep1, keep2)], 0.0, 1e6)
        plan = ot.gromov.entropic_fused_gromov_wasserstein(
            penalty, c1, c2, a[keep1], b[keep2], "square_loss", epsilon=0.01, alpha=1 - 1e-3, max_iter=50, tol=1e-5
        )
    seconds = time.perf_counter() - start
    result = {"seconds": seconds, "extra_rss_mib": peak_rss_mib() - base}
    try:
        ref = np.load(f"/tmp/scgroove_bench_{method}_{n}_{n_labels}.npy")[np.ix_(keep1, keep2)]
        result["max_abs_plan_diff"] = float(np.abs(ref - plan).max())
        result["plan_max"] = float(plan.max())
    except FileNotFoundError:
        pass
    return result


def main() -> None:
    from _common import in_fresh_process, print_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000, 100000])
    parser.add_argument("--labels", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--methods", nargs="+", default=["labeled_ot", "labeled_gw"])
    parser.add_argument("--dense-max", type=int, default=20000)
    parser.add_argument("--gw-max", type=int, default=100000, help="largest n for labeled_gw")
    args = parser.parse_args()
    rows = []
    for method in args.methods:
        for n_labels in args.labels:
            for n in args.sizes:
                if method == "labeled_gw" and n > args.gw_max:
                    continue
                row = {"method": method, "labels": n_labels, "n_per_modality": n}
                result = in_fresh_process("ot_scaling", "ours", method=method, n=n, n_labels=n_labels)
                row.update(
                    {
                        "ours_s": result.get("seconds"),
                        "ours_extra_mib": result.get("extra_rss_mib"),
                        "converged": result.get("converged"),
                        "n_iter": result.get("n_iter"),
                        "error": result.get("error"),
                    }
                )
                dense_limit = args.dense_max if method == "labeled_ot" else 2000
                if n <= dense_limit:
                    ref = in_fresh_process("ot_scaling", "pot_dense", method=method, n=n, n_labels=n_labels)
                    row.update(
                        {
                            "pot_dense_s": ref.get("seconds"),
                            "pot_extra_mib": ref.get("extra_rss_mib"),
                            "speedup": (ref.get("seconds") or np.nan) / (result.get("seconds") or np.nan),
                            "memory_ratio": (ref.get("extra_rss_mib") or np.nan)
                            / max(result.get("extra_rss_mib") or np.nan, 1.0),
                            "max_abs_plan_diff": ref.get("max_abs_plan_diff"),
                            "pot_error": ref.get("error"),
                        }
                    )
                else:
                    row["pot_error"] = f"dense {n}x{n} not run (above limit)"
                rows.append(row)
                print_table([row], list(row))  # progress
    print(f"\n== summary (CPU threads {__import__('torch').get_num_threads()}) ==")
    print_table(
        rows,
        [
            "method",
            "labels",
            "n_per_modality",
            "ours_s",
            "ours_extra_mib",
            "converged",
            "n_iter",
            "pot_dense_s",
            "pot_extra_mib",
            "speedup",
            "memory_ratio",
            "max_abs_plan_diff",
            "pot_error",
        ],
    )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    for method in args.methods:
        for n_labels in args.labels:
            sel = [r for r in rows if r["method"] == method and r["labels"] == n_labels and r.get("ours_s")]
            if len(sel) >= 2:
                x = np.array([r["n_per_modality"] for r in sel], float)
                y = np.array([r["ours_s"] for r in sel], float)
                k = np.polyfit(np.log(x), np.log(y), 1)[0]
                print(f"fitted exponent {method}, {n_labels} labels: time ~ n^{k:.2f}")
                ax.loglog(x, y, "o-", label=f"{method}, {n_labels} labels (n^{k:.2f})")
    ax.set_xlabel("cells per modality"), ax.set_ylabel("seconds"), ax.legend(fontsize=7)
    fig.tight_layout()
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    fig.savefig(out / f"ot_scaling_{'_'.join(args.methods)}.png", dpi=120)


if __name__ == "__main__":
    main()

"""Does the held-out label resolution rule pick the best within-group option? (issue 8)

For every dataset and seed: train each candidate learner on the real labels and score it against
the hidden truth (barycentric FOSCTTM after labeled OT; lower is better), and let the rule choose
among the same candidates without the truth (:func:`scgroove.benchmark.select_learner`). Prints
the chosen learner's score next to the oracle's (the best candidate per seed) and the default's.

    python benchmarks/within_group_selection.py --datasets sim_rho0.8 sim_rho0.5 --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from scgroove.benchmark import evaluate_representation, make_dataset, select_learner
from scgroove.benchmark._learners import LEARNERS
from scgroove.benchmark._runner import quiet_libraries

SIM = {"n_perturbations": 8, "cells_per_perturbation": 30}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets", nargs="+", default=["sim_rho1.0", "sim_rho0.8", "sim_rho0.5", "sim_heterogeneous"]
    )
    parser.add_argument("--learners", nargs="+", default=["groove", "groove_geometry", "groove_ot_refined"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", default=None, help="CSV of every score")
    args = parser.parse_args()
    rows = []
    for dataset in args.datasets:
        for seed in args.seeds:
            start = time.perf_counter()
            data = make_dataset(dataset, seed, SIM)
            truth = {}
            for learner in args.learners:
                with quiet_libraries():
                    rep = LEARNERS[learner](data.mdata, data.key, data.modalities, seed, args.epochs)
                    scores = evaluate_representation(data, rep, ["labeled_ot"], {"labeled_ot": [0.05]})
                truth[learner] = next(v for a, _, m, v in scores if a == "labeled_ot" and m == "bary_foscttm")
            selection = select_learner(data, args.learners, seed=seed, epochs=args.epochs, epsilon=0.05)
            resolution = selection.scores.groupby("learner")["resolution"].mean()
            chosen, oracle = selection.best["learner"], min(truth, key=truth.get)
            rows.append(
                {
                    "dataset": dataset,
                    "seed": seed,
                    "chosen": chosen,
                    "oracle": oracle,
                    "chosen_score": truth[chosen],
                    "oracle_score": truth[oracle],
                    "default_score": truth[args.learners[0]],
                    **{f"truth_{k}": v for k, v in truth.items()},
                    **{f"resolution_{k}": v for k, v in resolution.items()},
                }
            )
            print(
                f"{dataset} seed {seed}: chose {chosen} ({truth[chosen]:.3f}), oracle {oracle} ({truth[oracle]:.3f}), "
                f"default {truth[args.learners[0]]:.3f}  [{time.perf_counter() - start:.0f} s]",
                flush=True,
            )
    table = pd.DataFrame(rows)
    if args.out:
        table.to_csv(args.out, index=False)
    summary = table.groupby("dataset")[["chosen_score", "oracle_score", "default_score"]].agg(["mean", "sem"])
    print(summary.round(3).to_string())
    print("rule picked the oracle in", int((table.chosen == table.oracle).sum()), "of", len(table), "runs")


if __name__ == "__main__":
    main()

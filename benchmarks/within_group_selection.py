"""Does the held-out label resolution rule pick the best pipeline?

For every dataset and seed: train each candidate (learner, aligner) pipeline on the real labels and
score it against the hidden truth (barycentric FOSCTTM; lower is better), and let the rule choose
among the same candidates without the truth (:func:`scgroove.benchmark.select_pipeline`). Prints
the chosen pipeline's score next to the oracle's (the best candidate of that seed) and to each
fixed choice.

    python benchmarks/within_group_selection.py --datasets sim_rho0.8 sim_rho0.5 --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from scgroove.benchmark import DEFAULT_EPSILON, evaluate_representation, make_dataset, select_pipeline
from scgroove.benchmark._learners import LEARNERS
from scgroove.benchmark._runner import quiet_libraries
from scgroove.benchmark._truth import DatasetTruth

SIM = {"n_perturbations": 8, "cells_per_perturbation": 30}
PIPELINES = [
    ("groove", "labeled_ot"),
    ("groove_ot_refined", "labeled_ot"),
    ("groove_geometry", "labeled_gw"),
    ("pca", "labeled_gw"),
]


def truth_scores(data, seed: int, epochs: int) -> dict[str, float]:
    scores, dataset_truth = {}, DatasetTruth.of(data)
    for learner in dict.fromkeys(learner for learner, _ in PIPELINES):
        with quiet_libraries():
            rep = LEARNERS[learner](data.mdata, data.key, data.modalities, seed, epochs)
            aligners = [a for name, a in PIPELINES if name == learner]
            rows = evaluate_representation(
                data, rep, aligners, {a: [DEFAULT_EPSILON[a]] for a in aligners}, dataset_truth
            )
        for aligner, _, metric, value in rows:
            if metric == "bary_foscttm":
                scores[f"{learner}+{aligner}"] = value
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets", nargs="+", default=["sim_rho1.0", "sim_rho0.8", "sim_rho0.5", "sim_heterogeneous"]
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", default=None, help="CSV of every score")
    args = parser.parse_args()
    rows = []
    for dataset in args.datasets:
        for seed in args.seeds:
            start = time.perf_counter()
            data = make_dataset(dataset, seed, SIM)
            truth = truth_scores(data, seed, args.epochs)
            selection = select_pipeline(data, PIPELINES, seed=seed, epochs=args.epochs)
            chosen, oracle = selection.best["pipeline"], min(truth, key=truth.get)
            resolution = selection.scores.groupby("pipeline")["resolution"].mean()
            rows.append(
                {
                    "dataset": dataset,
                    "seed": seed,
                    "chosen": chosen,
                    "oracle": oracle,
                    "chosen_score": truth[chosen],
                    "oracle_score": truth[oracle],
                    **{f"truth {k}": v for k, v in truth.items()},
                    **{f"resolution {k}": v for k, v in resolution.items()},
                }
            )
            print(
                f"{dataset} seed {seed}: chose {chosen} ({truth[chosen]:.3f}), oracle {oracle} "
                f"({truth[oracle]:.3f})  [{time.perf_counter() - start:.0f} s]",
                flush=True,
            )
    table = pd.DataFrame(rows)
    if args.out:
        table.to_csv(args.out, index=False)
    columns = ["chosen_score", "oracle_score", *[c for c in table if c.startswith("truth ")]]
    print(table.groupby("dataset")[columns].mean().round(3).T.to_string())
    print("rule picked the oracle in", int((table.chosen == table.oracle).sum()), "of", len(table), "runs")
    print(table.groupby("dataset")["chosen"].value_counts().to_string())


if __name__ == "__main__":
    main()

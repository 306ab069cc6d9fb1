"""Tables of ``within_group_screen.py`` results: mean +- s.e. over seeds, references, paired tests.

    python benchmarks/within_group_screen_report.py benchmarks/results/within_group_screen/results.csv
    # pipelines and peers side by side (several result files are pooled):
    python benchmarks/within_group_screen_report.py benchmarks/results/within_group_screen/results.csv \
        benchmarks/results/pipelines_and_peers/results.csv --rank
    # the same ranking as one table, pipelines x datasets:
    python benchmarks/within_group_screen_report.py ... --rank --compact

"PCA + labeled GW (best eps)" and "PCA + per-label GW (best eps)" take, for every seed, the epsilon
of their grid that scored best on that seed (an oracle choice that favours the references).
p-values: one-sided paired Wilcoxon signed-rank tests over seeds (with 5 seeds the smallest possible p is 1/32 = 0.031).
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from scipy import stats

REFERENCE_GW = "pca+labeled_gw (best eps)"
REFERENCE_PER_LABEL = "pca+per_label_gw (best eps)"
#: Each epsilon grid of a reference, and the row of its best epsilon per seed.
EPSILON_GRIDS = {"pca+labeled_gw@": REFERENCE_GW, "pca+per_label_gw@": REFERENCE_PER_LABEL}
LOWER_IS_BETTER = {"bary_foscttm", "within_label_foscttm", "mse"}


def tidy(paths) -> pd.DataFrame:
    table = pd.concat([pd.read_csv(path) for path in ([paths] if isinstance(paths, str) else paths)])
    # a job run twice keeps its last values
    table = table.groupby(["dataset", "seed", "pipeline", "metric"], as_index=False).last()
    wide = table.pivot_table(index=["dataset", "seed", "pipeline"], columns="metric", values="value").reset_index()
    rows = [wide]
    for prefix, name in EPSILON_GRIDS.items():
        grid = wide[wide.pipeline.str.startswith(prefix)]
        if not len(grid):
            continue
        best = grid.loc[grid.groupby(["dataset", "seed"])["bary_foscttm"].idxmin()].copy()
        best["best_epsilon"] = best.pipeline.str.split("@").str[1].astype(float)
        best["pipeline"] = name
        rows.append(best)
    # decoder imputation as its own pipeline rows
    decoded = wide.dropna(subset=["decoder_cell_pearson"]).copy() if "decoder_cell_pearson" in wide else None
    if decoded is not None and len(decoded):
        imputation = ("cell_pearson", "feature_pearson", "mse")
        decoded = decoded[["dataset", "seed", "pipeline"]].assign(
            **{metric: decoded[f"decoder_{metric}"] for metric in imputation},
            pipeline=decoded.pipeline + " (decoder)",
        )  # only the imputation scores: the decoder is no coupling and no other latent
        rows.append(decoded)
    return pd.concat(rows, ignore_index=True)


def summary(wide: pd.DataFrame, metric: str) -> pd.DataFrame:
    grouped = wide.dropna(subset=[metric]).groupby(["pipeline", "dataset"])[metric]
    mean, se, n = grouped.mean(), grouped.sem(), grouped.count()
    cells = mean.map("{:.4f}".format) + " ± " + se.map("{:.4f}".format) + " (n=" + n.astype(str) + ")"
    return cells.unstack("dataset")


def paired(wide: pd.DataFrame, metric: str, pipeline: str, references: list[str]) -> pd.DataFrame:
    out = []
    lower = metric in LOWER_IS_BETTER
    for dataset, rows in wide.groupby("dataset"):
        values = rows.pivot_table(index="seed", columns="pipeline", values=metric)
        if pipeline not in values:
            continue
        present = [r for r in references if r in values]
        if not present:
            continue
        means = values[present].mean()
        best = means.idxmin() if lower else means.idxmax()
        both = values[[pipeline, best]].dropna()
        diff = both[pipeline] - both[best]
        alternative = "less" if lower else "greater"
        p = stats.wilcoxon(diff, alternative=alternative).pvalue if len(diff) >= 2 and diff.abs().sum() > 0 else np.nan
        out.append(
            {
                "dataset": dataset,
                "metric": metric,
                "pipeline": pipeline,
                "value": both[pipeline].mean(),
                "best_reference": best,
                "reference": both[best].mean(),
                "ratio": both[pipeline].mean() / both[best].mean(),
                "seeds_better": int((diff < 0).sum() if lower else (diff > 0).sum()),
                "n": len(diff),
                "p_one_sided": p,
            }
        )
    return pd.DataFrame(out)


def head_to_head(wide: pd.DataFrame, new: str, old: str) -> pd.DataFrame:
    """Two pipelines on the same seeds: mean of each, their difference and a two-sided paired test."""
    metrics = ("bary_foscttm", "cell_pearson", "feature_pearson", "decoder_cell_pearson", "decoder_feature_pearson")
    metrics += ("modality_mixing", "leiden_largest_modality_share", "state_transfer_accuracy", "epochs")
    out = []
    for dataset, rows in wide[wide.pipeline.isin([new, old])].groupby("dataset"):
        for metric in metrics:
            if metric not in rows:
                continue
            values = rows.pivot_table(index="seed", columns="pipeline", values=metric).dropna()
            if new not in values or old not in values or not len(values):
                continue
            diff = values[new] - values[old]
            p = stats.wilcoxon(diff).pvalue if len(diff) >= 2 and diff.abs().sum() > 0 else np.nan
            out.append(
                {
                    "dataset": dataset,
                    "metric": metric,
                    new: values[new].mean(),
                    old: values[old].mean(),
                    "difference": diff.mean(),
                    "n": len(diff),
                    "p_two_sided": p,
                }
            )
    return pd.DataFrame(out)


#: How the script's pipeline names read as (learner, aligner, epsilon) of the benchmark grid.
AS_GRID = {
    "guided_projection": ("groove", "labeled_ot", 0.05),
    "groupclip": ("groupclip", "labeled_ot", 0.05),
    "label_only+labeled_ot": ("label_only", "labeled_ot", 0.05),
    "scconfluence": ("scconfluence", "labeled_ot", 0.05),
    "scglue": ("scglue", "labeled_ot", 0.05),
    "uniport": ("uniport", "labeled_ot", 0.05),
    **{f"moscot_{mode}": ("pca", f"moscot_{mode}", 0.01) for mode in ("gw", "fgw_labels", "per_label")},
}
#: Metrics renamed to the benchmark's names (the rest keep theirs).
GRID_METRICS = {"cell_pearson": "imputation_cell_pearson", "feature_pearson": "imputation_feature_pearson"}


def as_grid_table(paths) -> pd.DataFrame:
    """The script's results as a benchmark table (dataset, seed, learner, aligner, epsilon, metric, value).

    Times of a learnt pipeline (its ``seconds``, GROOVE's ``train_seconds``) become the learner's
    ``train_seconds``; a solver's on PCA (PCA + labeled GW, moscot) its ``align_seconds``. CPU
    times likewise (``train_cpu_seconds``, ``align_cpu_seconds``).
    """
    table = pd.concat([pd.read_csv(path) for path in ([paths] if isinstance(paths, str) else paths)])
    table = table.groupby(["dataset", "seed", "pipeline", "metric"], as_index=False).last()
    rows = []
    for row in table.itertuples(index=False):
        if row.pipeline.startswith("pca+labeled_gw@"):
            learner, aligner, epsilon = "pca", "labeled_gw", float(row.pipeline.split("@")[1])
        elif row.pipeline in AS_GRID:
            learner, aligner, epsilon = AS_GRID[row.pipeline]
        else:
            continue
        metric = row.metric
        if metric.startswith("decoder_"):
            continue  # decoder imputation is no coupling
        if metric.startswith("fgw0.5_"):  # the same latents matched by labeled FGW (alpha 0.5, epsilon 0.03)
            aligner, epsilon, metric = "labeled_fgw", 0.03, metric.removeprefix("fgw0.5_")
        metric = GRID_METRICS.get(metric, metric)
        if metric in ("seconds", "train_seconds", "cpu_seconds", "train_cpu_seconds"):
            kind = "cpu_seconds" if "cpu" in metric else "seconds"
            if learner == "pca":
                metric = f"align_{kind}"
            else:
                metric, aligner, epsilon = f"train_{kind}", "", np.nan
        rows.append((row.dataset, row.seed, learner, aligner, epsilon, metric, row.value))
    return pd.DataFrame(rows, columns=["dataset", "seed", "learner", "aligner", "epsilon", "metric", "value"])


def ranked(paths, metric: str = "bary_foscttm") -> pd.DataFrame:
    """Per dataset, pipelines and peers ranked by :func:`scgroove.benchmark.rank_pipelines`.

    Each also gets its CPU seconds where recorded (the process's CPU time, which other jobs on
    the cores do not inflate as they do wall time).
    """
    from scgroove.benchmark import rank_pipelines

    grid = as_grid_table(paths)
    ranking = rank_pipelines(grid, metric)
    cpu = grid[grid.metric.isin(["train_cpu_seconds", "align_cpu_seconds"])]
    cpu = cpu.groupby(["dataset", "seed", "learner", "aligner"], dropna=False)["value"].sum().reset_index()
    learnt = cpu[cpu.aligner == ""].groupby(["dataset", "learner"])["value"].mean()
    solved = cpu[cpu.aligner != ""].groupby(["dataset", "learner", "aligner"])["value"].mean()
    ranking["cpu_seconds"] = [
        learnt.get((d, learner), solved.get((d, learner, aligner), np.nan))
        for d, learner, aligner in zip(ranking.dataset, ranking.learner, ranking.aligner, strict=True)
    ]
    return ranking


def compact(ranking: pd.DataFrame) -> pd.DataFrame:
    """The ranking as one table: a row per pipeline, a column per dataset.

    Each cell: barycentric FOSCTTM / trace / imputation cell Pearson, the median seconds, then
    the rank, the number of seeds and the paired test's p against the best of that dataset.
    Pipelines are ordered by their mean rank.
    """
    from within_group_screen import REAL, SIMULATIONS  # the screen's datasets, in its order (imports torch)

    ranking = ranking.assign(pipeline=ranking.learner + " + " + ranking.aligner)
    datasets = [d for d in (*SIMULATIONS, *REAL) if d in set(ranking.dataset)]
    datasets += sorted(set(ranking.dataset) - set(datasets))
    order = ranking.groupby("pipeline")["rank"].mean().sort_values().index

    def cell(row) -> str:
        if row["rank"] == 1:
            p_value = "best"
        else:
            p_value = "no test" if np.isnan(row.p_worse_than_best) else f"p={row.p_worse_than_best:.3f}"
        seconds = "" if np.isnan(row.seconds) else f", {row.seconds:.3g} s"
        return (
            f"{row.bary_foscttm:.4f} / {row.trace:.3f} / {row.imputation_cell_pearson:.3f}{seconds} "
            f"(#{int(row['rank'])}, n={int(row.n)}, {p_value})"
        )

    cells = {(row.pipeline, row.dataset): cell(row) for _, row in ranking.iterrows()}
    return pd.DataFrame(
        [[cells.get((pipeline, d), "not run") for d in datasets] for pipeline in order],
        index=pd.Index(order, name="pipeline"),
        columns=datasets,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+")
    parser.add_argument("--pipeline", nargs="+", default=["guided_projection"], help="pipelines tested")
    parser.add_argument(
        "--compare", nargs=2, metavar=("NEW", "OLD"), help="also test NEW against OLD (paired, two-sided), per metric"
    )
    parser.add_argument("--rank", action="store_true", help="only the ranked table of pipelines and peers")
    parser.add_argument(
        "--compact", action="store_true", help="with --rank: one row per pipeline, a column per dataset"
    )
    args = parser.parse_args(argv)
    pd.set_option("display.width", 250)
    if args.rank:
        ranking = ranked(args.results)
        print((compact(ranking) if args.compact else ranking.round(4)).to_markdown(index=args.compact))
        return
    wide = tidy(args.results)
    joint = ("modality_mixing", "state_transfer_accuracy", "leiden_largest_modality_share", "leiden_state_ari")
    for metric in ("bary_foscttm", "within_label_foscttm", "trace", "cell_pearson", "feature_pearson", *joint):
        if metric not in wide:
            continue
        print(f"\n## {metric} (mean ± s.e. over seeds)\n")
        print(summary(wide, metric).to_markdown())
    if "best_epsilon" in wide:
        for name in EPSILON_GRIDS.values():
            print(f"\nbest epsilon of {name} per dataset:")
            print(wide[wide.pipeline == name].groupby("dataset").best_epsilon.value_counts().to_string())
    matching = [REFERENCE_GW, REFERENCE_PER_LABEL, "label_only+labeled_ot"]
    imputing = [REFERENCE_GW, REFERENCE_PER_LABEL, "label_mean"]
    for pipeline in args.pipeline:
        tests = [
            paired(wide, "bary_foscttm", pipeline, matching),
            paired(wide, "cell_pearson", pipeline, imputing),
            paired(wide, "feature_pearson", pipeline, imputing),
            paired(wide, "cell_pearson", f"{pipeline} (decoder)", imputing),
            paired(wide, "feature_pearson", f"{pipeline} (decoder)", imputing),
        ]
        print(f"\n## {pipeline} against the best reference (paired, one-sided Wilcoxon)\n")
        print(pd.concat(tests, ignore_index=True).round(4).to_markdown(index=False))
    if args.compare:
        print(f"\n## {args.compare[0]} against {args.compare[1]} (paired, two-sided Wilcoxon)\n")
        print(head_to_head(wide, *args.compare).round(4).to_markdown(index=False))


if __name__ == "__main__":
    main()

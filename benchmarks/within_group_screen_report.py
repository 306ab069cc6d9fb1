"""Tables of ``within_group_screen.py`` results: mean +- s.e. over seeds, references, paired tests.

    python benchmarks/within_group_screen_report.py benchmarks/results/within_group_screen/results.csv
    # pipelines and peers side by side (several result files are pooled):
    python benchmarks/within_group_screen_report.py benchmarks/results/within_group_screen/results.csv \
        benchmarks/results/pipelines_and_peers/results.csv --rank

"PCA + labeled GW (best eps)" takes, for every seed, the epsilon of the grid that scored best on
that seed (an oracle choice that favours the reference). p-values: one-sided paired Wilcoxon
signed-rank tests over seeds (with 5 seeds the smallest possible p is 1/32 = 0.031).
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from scipy import stats

REFERENCE_GW = "pca+labeled_gw (best eps)"
LOWER_IS_BETTER = {"bary_foscttm", "within_label_foscttm", "mse"}


def tidy(paths) -> pd.DataFrame:
    table = pd.concat([pd.read_csv(path) for path in ([paths] if isinstance(paths, str) else paths)])
    # a job run twice keeps its last values
    table = table.groupby(["dataset", "seed", "pipeline", "metric"], as_index=False).last()
    wide = table.pivot_table(index=["dataset", "seed", "pipeline"], columns="metric", values="value").reset_index()
    gw = wide[wide.pipeline.str.startswith("pca+labeled_gw@")]
    best = gw.loc[gw.groupby(["dataset", "seed"])["bary_foscttm"].idxmin()].copy()
    best["best_epsilon"] = best.pipeline.str.split("@").str[1].astype(float)
    best["pipeline"] = REFERENCE_GW
    rows = [wide, best]
    # decoder imputation as its own pipeline rows
    decoded = wide.dropna(subset=["decoder_cell_pearson"]).copy() if "decoder_cell_pearson" in wide else None
    if decoded is not None and len(decoded):
        for metric in ("cell_pearson", "feature_pearson", "mse"):
            decoded[metric] = decoded[f"decoder_{metric}"]
        decoded["pipeline"] = decoded.pipeline + " (decoder)"
        decoded[["bary_foscttm", "trace"]] = np.nan
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


#: The pipelines of ``sg.tl.match`` / ``scgroove run --pipeline`` under their result names.
PIPELINE_NAMES = {
    "guided_projection": "groove",
    REFERENCE_GW: "pca_gw (best eps)",
    "pca+labeled_gw@0.01": "pca_gw (default eps 0.01)",
    "label_only+labeled_ot": "label_only",
}


def ranked(wide: pd.DataFrame, metric: str = "bary_foscttm") -> pd.DataFrame:
    """Per dataset: pipelines and peers by mean ``metric``, with trace, imputation, seconds and a
    one-sided paired Wilcoxon test of each against the best."""
    wide = wide.copy()
    wide["seconds"] = wide["seconds"].fillna(wide.get("train_seconds")) if "seconds" in wide else np.nan
    peers = [p for p in wide.pipeline.unique() if "moscot" in p or p == "scconfluence"]
    keep = wide[wide.pipeline.isin([*PIPELINE_NAMES, *peers])].copy()
    keep["pipeline"] = keep.pipeline.replace(PIPELINE_NAMES)
    lower = metric in LOWER_IS_BETTER
    out = []
    for dataset, rows in keep.groupby("dataset"):
        values = rows.pivot_table(index="seed", columns="pipeline", values=metric)
        means = values.mean().sort_values(ascending=lower)
        best = means.index[0]
        for rank, pipeline in enumerate(means.index, start=1):
            both = values[[pipeline, best]].dropna()
            diff = both[pipeline] - both[best]
            p = np.nan
            if pipeline != best and len(diff) >= 2 and diff.abs().sum() > 0:
                p = stats.wilcoxon(diff, alternative="greater" if lower else "less").pvalue
            mine = rows[rows.pipeline == pipeline]
            out.append(
                {
                    "dataset": dataset,
                    "rank": rank,
                    "pipeline": pipeline,
                    metric: means[pipeline],
                    "trace": mine["trace"].mean(),
                    "cell_pearson": mine["cell_pearson"].mean(),
                    "seconds": mine["seconds"].mean(),
                    "n": int(values[pipeline].notna().sum()),
                    "p_worse_than_best": p,
                }
            )
    return pd.DataFrame(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+")
    parser.add_argument("--pipeline", default="guided_projection")
    parser.add_argument("--rank", action="store_true", help="only the ranked table of pipelines and peers")
    args = parser.parse_args(argv)
    wide = tidy(args.results)
    pd.set_option("display.width", 250)
    if args.rank:
        print(ranked(wide).round(4).to_markdown(index=False))
        return
    for metric in ("bary_foscttm", "within_label_foscttm", "trace", "cell_pearson", "feature_pearson"):
        print(f"\n## {metric} (mean ± s.e. over seeds)\n")
        print(summary(wide, metric).to_markdown())
    if "best_epsilon" in wide:
        print("\nbest epsilon of PCA + labeled GW per dataset:")
        print(wide[wide.pipeline == REFERENCE_GW].groupby("dataset").best_epsilon.value_counts().to_string())
    matching = [REFERENCE_GW, "label_only+labeled_ot"]
    imputing = [REFERENCE_GW, "label_mean"]
    tests = [
        paired(wide, "bary_foscttm", args.pipeline, matching),
        paired(wide, "cell_pearson", args.pipeline, imputing),
        paired(wide, "feature_pearson", args.pipeline, imputing),
        paired(wide, "cell_pearson", f"{args.pipeline} (decoder)", imputing),
        paired(wide, "feature_pearson", f"{args.pipeline} (decoder)", imputing),
    ]
    print(f"\n## {args.pipeline} against the best reference (paired, one-sided Wilcoxon)\n")
    print(pd.concat(tests, ignore_index=True).round(4).to_markdown(index=False))


if __name__ == "__main__":
    main()

"""Table of ``screen_design.py`` / ``screen_real.py`` results: mean +- s.d. over seeds and paired tests.

    python benchmarks/screen_design_report.py benchmarks/results/screen_design/results_seed*.csv

"PCA + labeled GW (best eps)" takes, per seed, the epsilon that scored best on that seed (an
oracle choice that favours the reference), separately for the plain and the ``+batch`` variant.
p-values: two-sided paired t-tests over seeds of each row against ``--against`` (default
``groove_full``), on the seeds both have.
"""

from __future__ import annotations

import argparse

import pandas as pd
from scipy import stats

METRICS = (
    "bary_foscttm",
    "trace",
    "cell_pearson",
    "decoder_cell_pearson",
    "within_label_foscttm",
    "null_separation_rna",
    "active_separation_rna",
    "epochs",
)


def tidy(paths) -> pd.DataFrame:
    table = pd.concat([pd.read_csv(path) for path in paths])
    table = table.groupby(["dataset", "seed", "pipeline", "metric"], as_index=False).last()
    wide = table.pivot_table(index=["dataset", "seed", "pipeline"], columns="metric", values="value").reset_index()
    rows = [wide]
    for suffix in ("", "+batch"):
        gw = wide[wide.pipeline.str.startswith("pca+labeled_gw@") & wide.pipeline.str.endswith(suffix)]
        if suffix == "":
            gw = gw[~gw.pipeline.str.endswith("+batch")]
        if len(gw):
            best = gw.loc[gw.groupby(["dataset", "seed"])["bary_foscttm"].idxmin()].copy()
            best["pipeline"] = f"pca+labeled_gw (best eps){suffix}"
            rows.append(best)
    return pd.concat(rows, ignore_index=True)


def report(wide: pd.DataFrame, against: str) -> str:
    lines = []
    for dataset, rows in wide.groupby("dataset"):
        lines.append(f"\n### {dataset} (seeds: {sorted(rows.seed.unique().tolist())})\n")
        metrics = [m for m in METRICS if m in rows]
        header = "| pipeline | " + " | ".join(metrics) + " |"
        lines += [header, "|" + "---|" * (len(metrics) + 1)]
        reference = rows[rows.pipeline == against].set_index("seed")
        for pipeline, group in rows.groupby("pipeline"):
            if "@" in pipeline:
                continue
            group = group.set_index("seed")
            cells = []
            for metric in metrics:
                values = group[metric].dropna()
                if values.empty:
                    cells.append("")
                    continue
                cell = f"{values.mean():.4f} ± {values.std(ddof=1) if len(values) > 1 else 0:.4f}"
                seeds = (
                    values.index.intersection(reference.index[reference[metric].notna()]) if metric in reference else []
                )
                if pipeline != against and len(seeds) >= 2 and metric != "epochs":
                    p = stats.ttest_rel(values[seeds], reference.loc[seeds, metric]).pvalue
                    cell += f" (p={p:.3f})"
                cells.append(cell)
            lines.append(f"| {pipeline} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+")
    parser.add_argument("--against", default="groove_full")
    args = parser.parse_args(argv)
    print(report(tidy(args.results), args.against))


if __name__ == "__main__":
    main()

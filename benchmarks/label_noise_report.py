"""Degradation curves of ``label_noise.py``: each pipeline against wrong labels, escapers and droplets, with references.

Reads the tidy CSV, takes each reference at its best epsilon per seed (on the truth: this
flatters the references), and prints per setting x pipeline the mean +- s.e. over seeds of
barycentric FOSCTTM, trace and imputation on the cells whose label is right, and the share of a
wrongly labelled cell's mass that reaches its true partner's block; then paired two-sided
Wilcoxon tests of the named comparisons, and draws the curves.

    python benchmarks/label_noise_report.py benchmarks/results/label_noise/results.csv \\
        benchmarks/results/label_noise/matchers.csv --figure benchmarks/results/label_noise/curves.png
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from scipy.stats import wilcoxon

METRICS = (
    "bary_foscttm",
    "trace",
    "cell_pearson",
    "feature_pearson",
    "wrong_to_true_block",
    "multiplet_trace",
    "flag_auroc",
)
#: Reference families: each is reported at the epsilon that scores best on each seed.
FAMILIES = {"pca+labeled_gw": "PCA + labeled GW", "pca+per_label_gw": "PCA + per-label GW"}
SHOWN = {
    "groove": "GROOVE default (labeled OT)",
    "groove+soft_labeled_ot@0.25": "GROOVE + soft labeled OT (penalty 0.25)",
    "groove+soft_labeled_ot@0.5": "GROOVE + soft labeled OT (penalty 0.5)",
    "groove_robust": "GROOVE robust (labeled OT)",
    "groove_robust+soft_labeled_ot@0.25": "GROOVE robust + soft labeled OT (0.25)",
    "groove_multiplets_unlabeled": "GROOVE, two-guide droplets unlabeled",
    "pca+labeled_gw": "PCA + labeled GW (best eps)",
    "pca+per_label_gw": "PCA + per-label GW (best eps)",
    "label_only+labeled_ot": "labels alone",
    "label_mean": "label-mean imputation",
}


#: The three kinds of label noise and what their share is a share of.
NOISE = {
    "wrong": "share of wrong labels",
    "escapers": "share of escapers per perturbation",
    "multiplets": "share of two-cell droplets",
}


def best_epsilon(table: pd.DataFrame) -> pd.DataFrame:
    """Each reference family as one pipeline: per (setting, seed) the epsilon with the lowest bary FOSCTTM."""
    out = [table[~table["pipeline"].str.contains("@") | table["pipeline"].str.startswith("groove")]]
    for family in FAMILIES:
        rows = table[table["pipeline"].str.startswith(family + "@")]
        if rows.empty:
            continue
        score = rows[rows["metric"] == "bary_foscttm"]
        best = score.loc[score.groupby(["setting", "seed"])["value"].idxmin(), ["setting", "seed", "pipeline"]]
        chosen = rows.merge(best, on=["setting", "seed", "pipeline"])
        out.append(chosen.assign(pipeline=family))
    return pd.concat(out, ignore_index=True)


def noise_level(setting: str) -> tuple[float, float, float]:
    """Wrong-label, escaper and droplet shares of a setting named by ``label_noise.setting_name``."""
    wrong, rest = setting.removeprefix("wrong").split("_escapers")
    escapers, _, multiplets = rest.partition("_multiplets")
    return float(wrong), float(escapers), float(multiplets or 0)


def summary(table: pd.DataFrame) -> pd.DataFrame:
    grouped = table[table["metric"].isin(METRICS)].groupby(["setting", "pipeline", "metric"])["value"]
    frame = pd.DataFrame({"mean": grouped.mean(), "se": grouped.sem(), "n": grouped.count()}).reset_index()
    return frame


def paired(table: pd.DataFrame, new: str, old: str, metric: str) -> pd.DataFrame:
    rows = []
    for setting, part in table[table["metric"] == metric].groupby("setting"):
        wide = part.pivot_table(index="seed", columns="pipeline", values="value")
        if new not in wide or old not in wide:
            continue
        both = wide[[new, old]].dropna()
        if len(both) < 2:
            continue
        difference = both[new] - both[old]
        p = wilcoxon(both[new], both[old]).pvalue if (difference != 0).any() else 1.0
        lower_better = metric == "bary_foscttm"
        better = (difference < 0).sum() if lower_better else (difference > 0).sum()
        rows.append(
            {
                "setting": setting,
                "metric": metric,
                "new": new,
                "old": old,
                "new_mean": both[new].mean(),
                "old_mean": both[old].mean(),
                "ratio": both[new].mean() / both[old].mean(),
                "seeds_better": f"{better}/{len(both)}",
                "p": p,
            }
        )
    return pd.DataFrame(rows)


def draw(frame: pd.DataFrame, path: str) -> None:
    frame = frame.copy()
    frame = frame[~frame["setting"].str.startswith("papalexi")]
    frame[list(NOISE)] = frame["setting"].apply(lambda s: pd.Series(noise_level(s)))
    panels = [
        ("wrong", "bary_foscttm", "barycentric FOSCTTM, right-label cells\n(lower is better)"),
        ("wrong", "wrong_to_true_block", "mass of a wrong-label cell\nreaching its true partner's block"),
        ("wrong", "cell_pearson", "imputation cell Pearson,\nright-label cells"),
        ("escapers", "bary_foscttm", "barycentric FOSCTTM\n(lower is better)"),
        ("escapers", "cell_pearson", "imputation cell Pearson"),
        ("multiplets", "bary_foscttm", "barycentric FOSCTTM, singlets\n(lower is better)"),
    ]
    panels = [panel for panel in panels if panel[0] == "wrong" or (frame[panel[0]] > 0).any()]
    n_rows = -(-len(panels) // 3)
    fig, grid = plt.subplots(n_rows, 3, figsize=(13, 3.6 * n_rows + 0.9), squeeze=False)
    axes = grid.ravel()
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    axes = axes[: len(panels)]
    for ax, (axis, metric, title) in zip(axes, panels, strict=True):
        others = [kind for kind in NOISE if kind != axis]
        part = frame[(frame["metric"] == metric) & (frame[others] == 0).all(axis=1)]
        for index, (pipeline, label) in enumerate(SHOWN.items()):  # one colour per pipeline in every panel
            line = part[part["pipeline"] == pipeline].sort_values(axis)
            if line.empty:
                continue
            color = plt.get_cmap("tab10")(index % 10)
            ax.errorbar(line[axis], line["mean"], yerr=line["se"], marker="o", capsize=3, label=label, color=color)
        if metric == "bary_foscttm":
            ax.set_yscale("log")  # the references sit an order of magnitude apart
        ax.set_xlabel(NOISE[axis])
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes[1:]:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.9 / (3.6 * n_rows + 0.9) + 0.04, 1, 1))
    fig.savefig(path, dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="+", help="label_noise.py's CSV, and label_noise_matchers.py's on the same runs")
    parser.add_argument("--figure")
    parser.add_argument(
        "--compare",
        nargs=2,
        action="append",
        metavar=("NEW", "OLD"),
        default=None,
        help="paired test of NEW against OLD per setting (default: soft vs hard, GROOVE vs PCA + labeled GW)",
    )
    args = parser.parse_args(argv)
    table = pd.concat([pd.read_csv(path) for path in args.csv], ignore_index=True)
    table = best_epsilon(table.drop_duplicates(["setting", "seed", "pipeline", "metric"]))  # first file wins
    frame = summary(table)
    pd.set_option("display.width", 250)
    for metric in METRICS:
        part = frame[frame["metric"] == metric]
        if part.empty:
            continue
        cell = part.assign(text=part["mean"].map("{:.4f}".format) + " ± " + part["se"].map("{:.4f}".format))
        wide = cell.pivot_table(index="pipeline", columns="setting", values="text", aggfunc="first")
        print(f"\n## {metric} (mean ± s.e., n = {int(part['n'].max())} seeds)\n")
        print(wide.fillna("").to_markdown())
    comparisons = args.compare or [
        ("groove+soft_labeled_ot@0.25", "groove"),
        ("groove+soft_labeled_ot@0.5", "groove"),
        ("groove", "pca+labeled_gw"),
        ("groove_robust", "groove"),
        ("groove_robust+soft_labeled_ot@0.25", "groove+soft_labeled_ot@0.25"),
        ("groove_multiplets_unlabeled", "groove"),
    ]
    tests = pd.concat(
        [paired(table, new, old, metric) for new, old in comparisons for metric in ("bary_foscttm", "cell_pearson")],
        ignore_index=True,
    )
    if not tests.empty:
        print("\n## paired two-sided Wilcoxon tests over seeds\n")
        print(tests.round(4).to_markdown(index=False))
    if args.figure:
        draw(frame, args.figure)
        print(f"\nfigure: {args.figure}")


if __name__ == "__main__":
    main()

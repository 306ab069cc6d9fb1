"""Summaries and paired tests of benchmark tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from scgroove.benchmark._aligners import DEFAULT_EPSILON, PEER_ALIGNERS
from scgroove.benchmark._learners import BASELINES, PEER_LEARNERS

#: Whether a lower value is better, per metric (every other metric: lower is better).
LOWER_IS_BETTER = {
    "bary_foscttm": True,
    "latent_foscttm": True,
    "within_label_foscttm": True,
    "trace": False,
    "label_transfer_accuracy": False,
    "modality_mixing": False,
    "coupled_modality_mixing": False,
    "imputation_feature_pearson": False,
    "imputation_cell_pearson": False,
}


def _with_choice(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Rows of ``metric`` at the default epsilon and at the best epsilon (best mean over seeds)."""
    rows = table[table["metric"] == metric].copy()
    default = rows[rows["epsilon"].isna() | (rows["epsilon"] == rows["aligner"].map(DEFAULT_EPSILON))]
    keys = ["dataset", "learner", "aligner"]
    means = rows.groupby([*keys, "epsilon"], dropna=False)["value"].mean().reset_index()
    sign = 1.0 if LOWER_IS_BETTER.get(metric, True) else -1.0
    best_eps = means.loc[(sign * means["value"]).groupby([means[k] for k in keys], dropna=False).idxmin()]
    best = rows.merge(
        best_eps[["dataset", "learner", "aligner", "epsilon"]], on=["dataset", "learner", "aligner", "epsilon"]
    )
    return pd.concat([default.assign(epsilon_choice="default"), best.assign(epsilon_choice="best")], ignore_index=True)


def summarize(table: pd.DataFrame, metric: str = "bary_foscttm") -> pd.DataFrame:
    """Mean, standard error and count over seeds, per dataset/learner/aligner, at default and best epsilon."""
    rows = _with_choice(table, metric)
    grouped = rows.groupby(["dataset", "learner", "aligner", "epsilon_choice"], dropna=False)["value"]
    out = grouped.agg(mean="mean", se=lambda v: v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else np.nan, n="count")
    return out.reset_index()


def paired_tests(
    table: pd.DataFrame,
    metric: str = "bary_foscttm",
    learner: str = "groove",
    baselines: tuple[str, ...] = BASELINES,
    epsilon_choice: str = "default",
) -> pd.DataFrame:
    """Wilcoxon signed-rank test of ``learner`` against the best baseline, per dataset and aligner.

    The best baseline is the one with the best mean over seeds on that dataset and aligner. Pairs
    are seeds (same data, same split). The test is one-sided (``learner`` better); with 5 seeds
    its smallest possible p-value is 1/32 = 0.031 (two-sided it would be 0.0625, never < 0.05).
    ``pooled`` rows pool all datasets of one aligner (pairs: dataset x seed).
    """
    rows = _with_choice(table, metric)
    rows = rows[rows["epsilon_choice"] == epsilon_choice]
    lower = LOWER_IS_BETTER.get(metric, True)
    results = []
    for aligner, by_aligner in rows.groupby("aligner"):
        pooled_ours, pooled_base = [], []
        for dataset, group in by_aligner.groupby("dataset"):
            wide = group.pivot_table(index="seed", columns="learner", values="value")
            candidates = [b for b in baselines if b in wide]
            if learner not in wide or not candidates:
                continue
            means = wide[candidates].mean()
            best = means.idxmin() if lower else means.idxmax()
            pair = wide[[learner, best]].dropna()
            ours, base = pair[learner].to_numpy(), pair[best].to_numpy()
            pooled_ours += list(ours)
            pooled_base += list(base)
            results.append(_test(dataset, aligner, learner, best, ours, base, lower))
        if pooled_ours:
            results.append(
                _test(
                    "pooled", aligner, learner, "best per dataset", np.array(pooled_ours), np.array(pooled_base), lower
                )
            )
    results += _against_best_pipeline(rows, learner, baselines, lower)
    return pd.DataFrame(results)


def _against_best_pipeline(rows: pd.DataFrame, learner: str, baselines, lower: bool) -> list[dict]:
    """``learner`` with each aligner against the best baseline *pipeline* (any baseline x any aligner)."""
    results = []
    for dataset, group in rows.groupby("dataset"):
        wide = group.pivot_table(index="seed", columns=["learner", "aligner"], values="value")
        pipelines = [c for c in wide.columns if c[0] in baselines]
        if not pipelines:
            continue
        means = wide[pipelines].mean()
        best = means.idxmin() if lower else means.idxmax()
        for column in [c for c in wide.columns if c[0] == learner]:
            pair = wide[[column, best]].dropna()
            results.append(
                _test(
                    dataset,
                    f"{column[1]} vs best pipeline",
                    learner,
                    f"{best[0]} + {best[1]}",
                    pair[column].to_numpy(),
                    pair[best].to_numpy(),
                    lower,
                )
            )
    return results


def _test(dataset, aligner, learner, baseline, ours, base, lower) -> dict:
    difference = ours - base if lower else base - ours  # negative: ours better
    if len(difference) < 2 or np.allclose(difference, 0):
        p_value = np.nan
    else:
        p_value = float(stats.wilcoxon(difference, alternative="less").pvalue)
    return {
        "dataset": dataset,
        "aligner": aligner,
        "learner": learner,
        "best_baseline": baseline,
        "learner_mean": float(np.mean(ours)),
        "baseline_mean": float(np.mean(base)),
        "n_pairs": len(ours),
        "p_value_one_sided": p_value,
        "learner_better": bool(np.mean(difference) < 0),
        "significant_0.05": bool(p_value < 0.05) if np.isfinite(p_value) else False,
    }


#: What :func:`rank_pipelines` reports beside the ranked metric, when the table has it.
RANK_COLUMNS = ("bary_foscttm", "trace", "imputation_cell_pearson", "coupled_modality_mixing")
#: Learners whose pipelines are the references every score is read against.
REFERENCE_LEARNERS = ("pca", "label_only")


def pipeline_kind(learner: str, aligner: str) -> str:
    """``"peer"`` (a published tool), ``"reference"``, ``"baseline"`` or ``"groove"`` (GROOVE or a variant)."""
    if learner in PEER_LEARNERS or aligner in PEER_ALIGNERS:
        return "peer"
    if learner in REFERENCE_LEARNERS:
        return "reference"
    return "baseline" if learner in BASELINES else "groove"


def rank_pipelines(table: pd.DataFrame, metric: str = "bary_foscttm") -> pd.DataFrame:
    """Every pipeline (learner x aligner) of a benchmark table ranked per dataset, with time.

    Each pipeline is taken at its best epsilon (best mean ``metric`` over seeds: the same
    oracle choice for every pipeline). Columns: the rank, the pipeline's kind
    (:func:`pipeline_kind`), the means over seeds of ``bary_foscttm``, ``trace`` and
    ``imputation_cell_pearson`` (where the table has them), ``modality_mixing`` of the learner's
    joint latent (its mean over seeds; NaN for a learner without a shared latent),
    ``coupled_modality_mixing`` (of the latent moved halfway to the pipeline's coupling partners, where
    the table has it), ``seconds`` (the learner's
    ``train_seconds`` plus the aligner's ``align_seconds``, per seed; the median over seeds, so
    one run slowed by other jobs on the machine does not set a pipeline's time), the number of
    seeds and a one-sided paired Wilcoxon test of the pipeline against the best one on that
    dataset (pairs: seeds; with 5 seeds the smallest possible p is 1/32). Seconds missing on
    one side (a learner that trains nothing) count as 0; ``seconds`` is NaN when neither the
    learner nor the aligner was timed.
    """
    lower = LOWER_IS_BETTER.get(metric, True)
    coupled = table[table["aligner"].fillna("") != ""]
    chosen = _with_choice(coupled, metric)
    chosen = chosen[chosen["epsilon_choice"] == "best"]
    keys = ["dataset", "seed", "learner", "aligner", "epsilon"]
    picked = chosen[keys].drop_duplicates()
    wide = coupled.merge(picked, on=keys).pivot_table(index=keys, columns="metric", values="value")
    wide = wide.reset_index()
    train = table[table["metric"] == "train_seconds"].groupby(["dataset", "seed", "learner"])["value"].mean()
    train = train.reindex(pd.MultiIndex.from_frame(wide[["dataset", "seed", "learner"]])).to_numpy()
    align_seconds = wide["align_seconds"].to_numpy() if "align_seconds" in wide else np.full(len(wide), np.nan)
    # a learner that trains nothing, or an aligner not timed, adds nothing; NaN when neither was timed
    wide["seconds"] = np.where(
        np.isnan(train) & np.isnan(align_seconds), np.nan, np.nan_to_num(train) + np.nan_to_num(align_seconds)
    )
    # a latent's own score (no aligner): its learner's mean over seeds, NaN for learners without a shared latent
    mixing = table[table["metric"] == "modality_mixing"].groupby(["dataset", "learner"])["value"].mean()
    out = []
    for dataset, rows in wide.groupby("dataset"):
        by_seed = rows.pivot_table(index="seed", columns=["learner", "aligner"], values=metric)
        means = by_seed.mean().sort_values(ascending=lower)
        best = means.index[0]
        for rank, pipeline in enumerate(means.index, start=1):
            mine = rows[(rows["learner"] == pipeline[0]) & (rows["aligner"] == pipeline[1])]
            pair = by_seed[[pipeline, best]].dropna()
            worse = pair[pipeline] - pair[best] if lower else pair[best] - pair[pipeline]
            p_value = np.nan
            if pipeline != best and len(worse) >= 2 and not np.allclose(worse, 0):
                p_value = float(stats.wilcoxon(worse, alternative="greater").pvalue)
            record = {
                "dataset": dataset,
                "rank": rank,
                "learner": pipeline[0],
                "aligner": pipeline[1],
                "kind": pipeline_kind(*pipeline),
                "epsilon": mine["epsilon"].iloc[0],
            }
            record.update({name: mine[name].mean() for name in RANK_COLUMNS if name in mine})
            record["modality_mixing"] = mixing.get((dataset, pipeline[0]), np.nan)
            record["seconds"] = mine["seconds"].median() if mine["seconds"].notna().any() else np.nan
            record["n"] = int(by_seed[pipeline].notna().sum())
            record["p_worse_than_best"] = p_value
            out.append(record)
    return pd.DataFrame(out)

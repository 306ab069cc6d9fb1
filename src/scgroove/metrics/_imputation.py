"""Imputation scores: imputed features of a cell against its true partner's measured features."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats


def _rowwise_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    denominator = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    return np.divide((a * b).sum(1), denominator, out=np.full(len(a), np.nan), where=denominator > 0)


def _rowwise_spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _rowwise_pearson(stats.rankdata(a, axis=1), stats.rankdata(b, axis=1))


def imputation_scores(imputed, observed, labels=None) -> pd.Series:
    """Agreement between imputed and measured features of the same (true) cells.

    Parameters
    ----------
    imputed, observed
        ``(n_cells, n_features)`` arrays or DataFrames, row ``i`` of both describing the same cell
        (e.g. imputed protein of an RNA cell vs the protein measured in its hidden partner).
    labels
        Group label of each cell, for the per-perturbation mean-effect correlation.

    Returns
    -------
    Series with ``cell_pearson``, ``cell_spearman`` (mean over cells of the correlation across
    features), ``feature_pearson``, ``feature_spearman`` (mean over features of the correlation
    across cells), ``mse``, and with labels ``perturbation_effect_pearson``: the Pearson
    correlation, over all (label, feature) pairs, of the label's mean minus the overall mean,
    imputed vs observed. Constant rows/columns are ignored in the means.
    """
    a = np.asarray(imputed, dtype=np.float64)
    b = np.asarray(observed, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"imputed and observed must have the same shape, got {a.shape} and {b.shape}.")
    scores = {
        "cell_pearson": np.nanmean(_rowwise_pearson(a, b)),
        "cell_spearman": np.nanmean(_rowwise_spearman(a, b)),
        "feature_pearson": np.nanmean(_rowwise_pearson(a.T, b.T)),
        "feature_spearman": np.nanmean(_rowwise_spearman(a.T, b.T)),
        "mse": float(np.mean((a - b) ** 2)),
    }
    if labels is not None:
        labels = np.asarray(labels).astype(str)
        if len(labels) != len(a):
            raise ValueError(f"labels has {len(labels)} entries for {len(a)} cells.")
        effect_a = pd.DataFrame(a).groupby(labels).mean().to_numpy() - a.mean(0)
        effect_b = pd.DataFrame(b).groupby(labels).mean().to_numpy() - b.mean(0)
        scores["perturbation_effect_pearson"] = float(np.corrcoef(effect_a.ravel(), effect_b.ravel())[0, 1])
    return pd.Series(scores, dtype=float)

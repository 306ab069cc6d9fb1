"""Reference imputations that every learned imputation must beat."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp


def label_mean_imputation(target_values, target_labels, source_labels) -> np.ndarray:
    """Impute every source cell as the mean target profile of its label: no model, no transport.

    A learned imputation that does not beat this knows only each cell's group. Source cells whose
    label has no target cell get NaN rows.

    Parameters
    ----------
    target_values
        ``(n_target_cells, n_features)`` measured features of the target modality (dense or
        scipy sparse).
    target_labels
        Label of each target cell.
    source_labels
        Label of each source cell (the cells to impute).

    Returns
    -------
    ``(n_source_cells, n_features)`` float array.
    """
    target_labels = np.asarray(target_labels).astype(str)
    source_labels = np.asarray(source_labels).astype(str)
    if len(target_labels) != target_values.shape[0]:
        raise ValueError(f"target_labels has {len(target_labels)} entries for {target_values.shape[0]} target cells.")
    codes, categories = pd.factorize(target_labels)
    # labels x cells averaging matrix, sparse: one entry per cell, never labels x cells dense
    weights = 1.0 / np.bincount(codes)[codes]
    averaging = sp.csr_matrix((weights, (codes, np.arange(len(codes)))), shape=(len(categories), len(codes)))
    means = averaging @ target_values
    means = means.toarray() if sp.issparse(means) else np.asarray(means)
    lookup = pd.Index(categories).get_indexer(source_labels)
    imputed = np.full((len(source_labels), means.shape[1]), np.nan)
    known = lookup >= 0
    imputed[known] = means[lookup[known]]
    return imputed

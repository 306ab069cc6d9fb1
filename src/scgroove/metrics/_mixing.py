"""Is the joint latent one space? Modality mixing, joint clusters and cross-modal label transfer.

Labeled OT inside a label ignores a shift of one modality, so matching scores cannot see a latent
whose two modalities sit side by side. These scores read the concatenated latent as a scanpy user
does (a kNN graph, Leiden clusters, neighbours across modalities). None needs a hidden pairing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors


def _joint(x1, x2, labels1, labels2):
    x1, x2 = np.asarray(x1, dtype=np.float64), np.asarray(x2, dtype=np.float64)
    if x1.ndim != 2 or x2.ndim != 2 or x1.shape[1] != x2.shape[1]:
        raise ValueError(f"x1 and x2 must share one space; got shapes {x1.shape} and {x2.shape}.")
    labels1, labels2 = np.asarray(labels1).astype(str), np.asarray(labels2).astype(str)
    if len(labels1) != len(x1) or len(labels2) != len(x2):
        raise ValueError(
            f"labels1/labels2 must have one entry per cell: got {len(labels1)}/{len(labels2)} for "
            f"{len(x1)}/{len(x2)} cells."
        )
    modality = np.concatenate([np.zeros(len(x1), dtype=np.int8), np.ones(len(x2), dtype=np.int8)])
    return np.vstack([x1, x2]), np.concatenate([labels1, labels2]), modality


def modality_mixing(x1, x2, labels1, labels2, *, n_neighbors: int = 15) -> pd.DataFrame:
    r"""How well the two modalities mix in the joint latent, inside each label.

    For each cell of a label holding both modalities, its ``n_neighbors`` nearest cells of the same
    label (both modalities, itself left out) are found; the share :math:`o` of them from the other
    modality is compared with the share expected if the modality did not matter,
    :math:`e = n_\mathrm{other} / (n_\mathrm{label} - 1)`. A label's mixing is
    :math:`\min(1, \bar o / e)`: 1 when the modalities are as mixed as chance allows inside the label,
    0 when no cell has a neighbour of the other modality.

    Parameters
    ----------
    x1, x2
        Latents of the two modalities in one space (``(n1, d)``, ``(n2, d)``).
    labels1, labels2
        Group labels (a perturbation, or a cell state).
    n_neighbors
        Neighbours per cell (capped by the label's size minus one).

    Returns
    -------
    One row per label present in both modalities: ``label``, ``n_cells``, ``observed`` (mean
    share of other-modality neighbours), ``expected`` and ``mixing``. The data-wide score is the
    cell-weighted mean, ``np.average(table.mixing, weights=table.n_cells)``
    (:func:`mean_modality_mixing`).
    """
    if n_neighbors < 1:
        raise ValueError(f"n_neighbors must be >= 1, got {n_neighbors}.")
    x, labels, modality = _joint(x1, x2, labels1, labels2)
    rows = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        n_first = int((modality[members] == 0).sum())
        n_second = len(members) - n_first
        if n_first == 0 or n_second == 0:
            continue
        k = min(n_neighbors, len(members) - 1)
        # kneighbors() without a query leaves each cell out of its own neighbours
        neighbours = NearestNeighbors(n_neighbors=k).fit(x[members]).kneighbors(return_distance=False)
        other = modality[members][neighbours] != modality[members][:, None]
        expected_share = np.where(modality[members] == 0, n_second, n_first) / (len(members) - 1)
        observed, expected = float(other.mean()), float(expected_share.mean())
        rows.append(
            {
                "label": label,
                "n_cells": len(members),
                "observed": observed,
                "expected": expected,
                "mixing": min(1.0, observed / expected),
            }
        )
    if not rows:
        raise ValueError("No label holds cells of both modalities: mixing is undefined.")
    return pd.DataFrame(rows)


def mean_modality_mixing(x1, x2, labels1, labels2, *, n_neighbors: int = 15) -> float:
    """Cell-weighted mean of :func:`modality_mixing` over labels (1: ideal mixing, 0: none)."""
    table = modality_mixing(x1, x2, labels1, labels2, n_neighbors=n_neighbors)
    return float(np.average(table["mixing"], weights=table["n_cells"]))


def cross_modal_transfer_accuracy(x1, x2, states1, states2, *, n_neighbors: int = 15) -> float:
    """Accuracy of a label carried across modalities by nearest neighbours in the joint latent.

    Each cell of modality 1 takes the majority state of its ``n_neighbors`` nearest cells of
    modality 2 (ties: the first state in sorted order), and the other way round; the score is the
    mean accuracy of the two directions. With cell states that the labels do not give (a
    simulation's cell types, a real set's fine types inside lineages) it says whether a cell's
    neighbours across modalities are cells of its kind.
    """
    if n_neighbors < 1:
        raise ValueError(f"n_neighbors must be >= 1, got {n_neighbors}.")
    x, states, modality = _joint(x1, x2, states1, states2)
    categories, codes = np.unique(states, return_inverse=True)
    accuracies = []
    for source in (0, 1):
        query, reference = np.flatnonzero(modality == source), np.flatnonzero(modality != source)
        k = min(n_neighbors, len(reference))
        neighbours = NearestNeighbors(n_neighbors=k).fit(x[reference]).kneighbors(x[query], return_distance=False)
        votes = np.zeros((len(query), len(categories)))
        np.add.at(votes, (np.repeat(np.arange(len(query)), k), codes[reference][neighbours].ravel()), 1)
        accuracies.append(float((votes.argmax(1) == codes[query]).mean()))
    return float(np.mean(accuracies))


def joint_cluster_scores(
    x1, x2, states1, states2, *, n_neighbors: int = 15, resolution: float = 1.0, seed: int = 0
) -> dict[str, float]:
    """Leiden clusters of the concatenated latent, as ``sc.pp.neighbors`` + ``sc.tl.leiden`` make them.

    Returns
    -------
    ``ari``: adjusted Rand index of the clusters with ``states1``/``states2`` (labels or cell
    states); ``largest_modality_share``: the highest share of one modality in any cluster of at
    least 10 cells; ``composition_distance``: the cell-weighted mean absolute difference between
    a cluster's share of modality 1 and the data's (0: every cluster mixes as the data does);
    ``n_clusters``.
    """
    import anndata as ad
    import scanpy as sc
    from sklearn.metrics import adjusted_rand_score

    x, states, modality = _joint(x1, x2, states1, states2)
    adata = ad.AnnData(np.zeros((len(x), 1), dtype=np.float32))
    adata.obsm["X_joint"] = x
    sc.pp.neighbors(adata, n_neighbors=n_neighbors, use_rep="X_joint", random_state=seed)
    sc.tl.leiden(adata, resolution=resolution, random_state=seed, flavor="igraph", n_iterations=2, directed=False)
    clusters = adata.obs["leiden"].to_numpy()
    frame = pd.DataFrame({"cluster": clusters, "first": modality == 0})
    share = frame.groupby("cluster")["first"].agg(["mean", "size"])
    overall = float((modality == 0).mean())
    sizable = share[share["size"] >= 10]
    largest = np.maximum(sizable["mean"], 1 - sizable["mean"]).max() if len(sizable) else float("nan")
    return {
        "ari": float(adjusted_rand_score(states, clusters)),
        "largest_modality_share": float(largest),
        "composition_distance": float(np.average((share["mean"] - overall).abs(), weights=share["size"])),
        "n_clusters": float(len(share)),
    }

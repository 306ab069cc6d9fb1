"""Scores of a coupling against the true pairing, and label transfer."""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors

from scgroove.metrics._foscttm import _check_match, as_coupling


def trace(coupling, match) -> float:
    r"""Mean fraction of a cell's coupling mass that lands on its true partner.

    .. math:: \mathrm{trace} = \frac{1}{|S|} \sum_{i \in S} \frac{T_{i,\pi(i)}}{\sum_j T_{ij}}

    over source cells :math:`S` with a true partner :math:`\pi(i)`; a row with no mass scores 0.
    1 is perfect; compare with :func:`trace_chance`.

    Parameters
    ----------
    coupling
        ``(n1, n2)`` coupling (:class:`scgroove.align.Coupling`, scipy sparse or dense).
    match
        True partner row in modality 2 of each row of modality 1, or -1.
    """
    T = as_coupling(coupling).to_sparse()
    match = _check_match(match, T.shape[0], T.shape[1])
    scored = np.flatnonzero(match >= 0)
    mass = np.asarray(T.sum(axis=1)).ravel()[scored]
    on_partner = np.asarray(T[scored, match[scored]]).ravel()
    fraction = np.divide(on_partner, mass, out=np.zeros_like(on_partner, dtype=float), where=mass > 0)
    return float(fraction.mean())


def trace_chance(labels1, labels2, match) -> float:
    """Trace of the coupling that spreads each cell uniformly over the other modality's cells of its label.

    A cell whose label is absent from modality 2, or whose partner has another label, scores 0.
    """
    labels1, labels2 = np.asarray(labels1).astype(str), np.asarray(labels2).astype(str)
    match = _check_match(match, len(labels1), len(labels2))
    values, counts = np.unique(labels2, return_counts=True)
    size = dict(zip(values, counts, strict=True))
    scored = np.flatnonzero(match >= 0)
    same = labels1[scored] == labels2[match[scored]]
    return float(np.mean([1.0 / size[lab] if ok else 0.0 for lab, ok in zip(labels1[scored], same, strict=True)]))


def label_transfer_accuracy(x1, x2, labels1, labels2, n_neighbors: int = 15) -> float:
    """Accuracy of predicting each modality-1 cell's label by majority vote of its nearest modality-2 cells.

    Parameters
    ----------
    x1, x2
        Coordinates in one space.
    labels1, labels2
        Labels of the rows of ``x1`` and ``x2``.
    n_neighbors
        Neighbours in ``x2`` that vote.
    """
    labels1, labels2 = np.asarray(labels1).astype(str), np.asarray(labels2).astype(str)
    k = min(n_neighbors, len(x2))
    neighbours = NearestNeighbors(n_neighbors=k).fit(np.asarray(x2)).kneighbors(np.asarray(x1), return_distance=False)
    categories, codes = np.unique(labels2, return_inverse=True)
    votes = np.zeros((len(x1), len(categories)))
    np.add.at(votes, (np.repeat(np.arange(len(x1)), k), codes[neighbours].ravel()), 1)
    return float(np.mean(categories[votes.argmax(1)] == labels1))

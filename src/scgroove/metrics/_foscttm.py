"""FOSCTTM and its within-label and barycentric variants."""

from __future__ import annotations

import numpy as np

from scgroove.align import Coupling
from scgroove.metrics._distances import DEFAULT_MEMORY_BYTES, fraction_closer


def _check_match(match, n1: int, n2: int) -> np.ndarray:
    match = np.arange(n1) if match is None else np.asarray(match, dtype=np.int64)
    if match.shape != (n1,):
        raise ValueError(f"match must have one entry per row of x1 ({n1}), got shape {match.shape}.")
    if match.max(initial=-1) >= n2:
        raise ValueError(f"match points past the end of x2 (max {match.max()}, n2 = {n2}).")
    scored = match >= 0
    if len(np.unique(match[scored])) != scored.sum():
        raise ValueError("match must be one-to-one: a row of x2 is the partner of several rows of x1.")
    if not scored.any():
        raise ValueError("match has no true pair (all -1): nothing to score.")
    return match


def foscttm_per_cell(x1, x2, match=None, memory_bytes: int = DEFAULT_MEMORY_BYTES) -> tuple[np.ndarray, np.ndarray]:
    """FOSCTTM of each true pair in each direction.

    Returns
    -------
    ``(f12, f21)``: for each scored row ``i`` of ``x1`` (``match[i] >= 0``, in order), the fraction
    of the other rows of ``x2`` closer to ``x1[i]`` than its partner; and for each partner in
    ``x2`` the fraction of the other rows of ``x1`` closer to it than ``x1[i]``.
    """
    n1, n2 = len(x1), len(x2)
    if np.shape(x1)[1:] != np.shape(x2)[1:]:
        raise ValueError(f"x1 and x2 must share one space; got {np.shape(x1)} and {np.shape(x2)}.")
    match = _check_match(match, n1, n2)
    scored = np.flatnonzero(match >= 0)
    f12 = fraction_closer(x1[scored], x2, match[scored], memory_bytes=memory_bytes)
    f21 = fraction_closer(x2[match[scored]], x1, scored, memory_bytes=memory_bytes)
    return f12, f21


def foscttm(x1, x2, match=None, memory_bytes: int = DEFAULT_MEMORY_BYTES) -> float:
    r"""Fraction Of Samples Closer Than the True Match (lower is better; ~0.5 is random).

    For each true pair :math:`(i, i')`, the fraction of the :math:`n_2 - 1` other cells of
    modality 2 closer (squared Euclidean) to :math:`x^1_i` than :math:`x^2_{i'}` is, and vice versa
    with the :math:`n_1 - 1` other cells of modality 1; ties count one half. The score is the mean
    of the two directions' means (Liu et al. 2019, Demetci et al. 2022). Cells without a partner
    are not scored but still compete as "other cells". Memory is O(n * chunk).

    Parameters
    ----------
    x1, x2
        ``(n1, d)`` and ``(n2, d)`` coordinates in one space (numpy or torch, CPU or GPU).
    match
        ``match[i]`` = row of ``x2`` that is the true partner of row ``i`` of ``x1``, or -1;
        default the identity (``n1 == n2`` paired rows).
    memory_bytes
        Budget of one block of the distance matrix.

    Returns
    -------
    FOSCTTM in [0, 1].
    """
    f12, f21 = foscttm_per_cell(x1, x2, match, memory_bytes)
    return float(0.5 * (f12.mean() + f21.mean()))


def within_label_foscttm(x1, x2, labels1, labels2, match=None, memory_bytes: int = DEFAULT_MEMORY_BYTES) -> float:
    """FOSCTTM where the competitors are only the other cells of the same label.

    This scores matching *inside* perturbation groups, the part that group-level supervision does
    not resolve; chance is ~0.5 whatever the number of labels. Pairs whose partner has another
    label, and singleton labels, are left out.

    Parameters
    ----------
    x1, x2
        Coordinates in one space.
    labels1, labels2
        Group label of each row of ``x1`` and ``x2``.
    match
        True partners as in :func:`foscttm`.
    memory_bytes
        Budget of one distance block.
    """
    labels1, labels2 = np.asarray(labels1).astype(str), np.asarray(labels2).astype(str)
    match = _check_match(match, len(x1), len(x2))
    scores = []
    for label in np.intersect1d(labels1, labels2):
        rows1, rows2 = np.flatnonzero(labels1 == label), np.flatnonzero(labels2 == label)
        local = np.full(len(rows1), -1)
        position = {r: k for k, r in enumerate(rows2)}
        for k, r in enumerate(rows1):
            local[k] = position.get(match[r], -1)
        if (local >= 0).sum() == 0 or len(rows1) < 2 or len(rows2) < 2:
            continue
        f12, f21 = foscttm_per_cell(x1[rows1], x2[rows2], local, memory_bytes)
        scores.append((f12, f21))
    if not scores:
        raise ValueError("No label has a true pair with at least two cells per modality to score.")
    f12 = np.concatenate([s[0] for s in scores])
    f21 = np.concatenate([s[1] for s in scores])
    return float(0.5 * (f12.mean() + f21.mean()))


def as_coupling(coupling) -> Coupling:
    """A :class:`~scgroove.align.Coupling` as it is; a scipy sparse or dense matrix as one block."""
    return coupling if isinstance(coupling, Coupling) else Coupling.from_matrix(coupling)


def barycentric_foscttm(coupling, x2, match, memory_bytes: int = DEFAULT_MEMORY_BYTES) -> float:
    r"""FOSCTTM of the barycentric projection of modality 1 onto modality 2's space.

    :math:`\hat x^1_i = \sum_j T_{ij} x^2_j / \sum_j T_{ij}`
    (:meth:`Coupling.barycentric_projection <scgroove.align.Coupling.barycentric_projection>`), then :func:`foscttm` of
    :math:`\hat x^1` against ``x2``. Rows of ``T`` with no mass have no projection and are left
    out, as anchors and as competitors.

    Parameters
    ----------
    coupling
        ``(n1, n2)`` coupling: a :class:`scgroove.align.Coupling`, scipy sparse or dense array.
    x2
        ``(n2, d)`` coordinates of modality 2 (e.g. its PCA).
    match
        True partners, as in :func:`foscttm`.
    memory_bytes
        Budget of one distance block.
    """
    coupling = as_coupling(coupling)
    has_mass = coupling.row_mass > 0
    projection = coupling.barycentric_projection(np.asarray(x2))[has_mass]
    return foscttm(projection, np.asarray(x2), np.asarray(match)[has_mass], memory_bytes)

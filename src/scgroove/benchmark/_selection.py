"""Choosing a pipeline (learner + aligner) for a dataset without ground truth."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from scgroove._mudata import relabelled_copy
from scgroove.align import SHARED_SPACE, Selection, align, select_by_label_resolution
from scgroove.benchmark._aligners import DEFAULT_EPSILON
from scgroove.benchmark._datasets import BenchmarkData
from scgroove.benchmark._learners import LEARNERS
from scgroove.benchmark._runner import quiet_libraries


def select_pipeline(
    data: BenchmarkData,
    pipelines: Sequence[tuple[str, str]],
    seed: int = 0,
    epochs: int = 20,
    n_repeats: int = 2,
    epsilons: dict[str, float] | None = None,
) -> Selection:
    """Pick a ``(learner, aligner)`` pipeline by the held-out label resolution rule (no ground truth).

    For each of ``n_repeats`` random merges of label pairs, every candidate learner is trained on
    the merged labels only, its representation is aligned with its aligner under the merged
    labels, and the coupling mass landing on pairs that share their original label is measured
    (:func:`scgroove.align.label_resolution`). The pipeline that resolves the hidden labels best
    is chosen: the one that carries the most cross-modal structure *inside* the groups it was
    given. Each learner is trained once per merge, whatever the number of its aligners.

    Parameters
    ----------
    data
        A benchmark dataset (its truth is not used).
    pipelines
        ``(learner, aligner)`` pairs: names of :data:`scgroove.benchmark.LEARNERS` and labeled
        aligners of :func:`scgroove.align.align`, e.g. ``[("groove", "labeled_ot"),
        ("pca", "labeled_gw")]``.
    seed, epochs
        Training seed and epochs of every candidate.
    n_repeats
        Random merges per candidate.
    epsilons
        Epsilon per aligner (default: :data:`scgroove.benchmark.DEFAULT_EPSILON`).

    Returns
    -------
    :class:`scgroove.align.Selection`; ``best["pipeline"]`` is the chosen ``"learner+aligner"``.
    """
    m1, m2 = data.modalities
    labels1 = data.mdata.mod[m1].obs[data.key].astype(str).to_numpy()
    labels2 = data.mdata.mod[m2].obs[data.key].astype(str).to_numpy()
    epsilons = {**DEFAULT_EPSILON, **(epsilons or {})}
    cache: dict[tuple, object] = {}

    def align_with_labels(coarse1: np.ndarray, coarse2: np.ndarray, pipeline: str):
        learner, aligner = pipeline.split("+")
        key = (learner, hash((tuple(coarse1), tuple(coarse2))))
        if key not in cache:
            with quiet_libraries():
                relabelled = relabelled_copy(data.mdata, data.key, data.modalities, coarse1, coarse2)
                cache[key] = LEARNERS[learner](relabelled, data.key, data.modalities, seed, epochs)
        rep = cache[key]
        if aligner in SHARED_SPACE and not rep.shared:
            raise ValueError(f"Learner {learner!r} has no shared space; aligner {aligner!r} needs one.")
        return align(rep.x1, rep.x2, coarse1, coarse2, method=aligner, epsilon=epsilons[aligner])

    names = [f"{learner}+{aligner}" for learner, aligner in pipelines]
    return select_by_label_resolution(
        align_with_labels, labels1, labels2, {"pipeline": names}, n_repeats=n_repeats, seed=seed
    )

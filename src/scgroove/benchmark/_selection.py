"""Choosing a learner (a GROOVE option) for a dataset without ground truth."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from scgroove.align import Selection, align, select_by_label_resolution
from scgroove.benchmark._datasets import BenchmarkData
from scgroove.benchmark._learners import LEARNERS, relabelled_copy
from scgroove.benchmark._runner import quiet_libraries


def select_learner(
    data: BenchmarkData,
    learners: Sequence[str],
    seed: int = 0,
    epochs: int = 20,
    aligner: str = "labeled_ot",
    n_repeats: int = 2,
    **aligner_params,
) -> Selection:
    """Pick among ``learners`` by the held-out label resolution rule (no ground truth used).

    For each of ``n_repeats`` random merges of label pairs, every candidate learner is trained on
    the merged labels only, its latents are aligned with ``aligner`` under the merged labels, and
    the coupling mass landing on pairs that share their original label is measured
    (:func:`scgroove.align.label_resolution`). The learner that resolves the hidden labels best
    is chosen: it is the one whose latent carries the most cross-modal structure *inside* the
    groups it was trained on.

    Parameters
    ----------
    data
        A benchmark dataset (its truth is not used).
    learners
        Names of :data:`scgroove.benchmark.LEARNERS` with a shared latent space.
    seed, epochs
        Training seed and epochs of every candidate.
    aligner, **aligner_params
        The shared-space aligner used for the rule.
    n_repeats
        Random merges per candidate.

    Returns
    -------
    :class:`scgroove.align.Selection`; ``best["learner"]`` is the choice.
    """
    m1, m2 = data.modalities
    labels1 = data.mdata.mod[m1].obs[data.key].astype(str).to_numpy()
    labels2 = data.mdata.mod[m2].obs[data.key].astype(str).to_numpy()

    def align_with_labels(coarse1: np.ndarray, coarse2: np.ndarray, learner: str):
        relabelled = relabelled_copy(data.mdata, data.key, data.modalities, coarse1, coarse2)
        with quiet_libraries():
            rep = LEARNERS[learner](relabelled, data.key, data.modalities, seed, epochs)
        if not rep.shared:
            raise ValueError(f"Learner {learner!r} has no shared latent space; the rule needs one.")
        return align(rep.x1, rep.x2, coarse1, coarse2, method=aligner, **aligner_params)

    return select_by_label_resolution(
        align_with_labels, labels1, labels2, {"learner": list(learners)}, n_repeats=n_repeats, seed=seed
    )

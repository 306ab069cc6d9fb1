"""Scores against a hidden true pairing: one definition for the benchmark and the command line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from mudata import MuData

from scgroove import metrics
from scgroove._matrix import take_rows
from scgroove.datasets import true_matching
from scgroove.datasets._simulate import TRUTH_KEY
from scgroove.model._guide import pca_per_modality


@dataclass
class DatasetTruth:
    """What scoring needs of a dataset with a hidden pairing, computed once.

    Attributes
    ----------
    match
        Row of modality 2 holding each modality-1 cell's true partner (-1: none).
    labels1, labels2
        Each cell's label.
    source_space, target_space
        Each modality's own PCA (:func:`pca_per_modality`): the barycentric FOSCTTM is measured
        in ``target_space``.
    target_values
        Modality 2's measured features (a reference to ``X``, in memory or backed), the truth of
        imputation.
    """

    match: np.ndarray
    labels1: np.ndarray
    labels2: np.ndarray
    source_space: np.ndarray
    target_space: np.ndarray
    target_values: object = None

    @classmethod
    def from_mudata(cls, mdata: MuData, key: str, modalities: Sequence[str]) -> DatasetTruth | None:
        """The truth of ``mdata`` (``obs["true_cell"]`` in both modalities), or ``None`` when it has none."""
        m1, m2 = modalities
        if any(TRUTH_KEY not in mdata.mod[m].obs for m in modalities):
            return None
        match = true_matching(mdata, modalities)
        if (match < 0).all():
            return None
        labels = [mdata.mod[m].obs[key].astype(str).to_numpy() for m in modalities]
        spaces = pca_per_modality(mdata, (m1, m2))
        return cls(match, *labels, *spaces, target_values=mdata.mod[m2].X)

    @classmethod
    def of(cls, data) -> DatasetTruth:
        """The truth of a :class:`~scgroove.benchmark.BenchmarkData`."""
        truth = cls.from_mudata(data.mdata, data.key, data.modalities)
        if truth is None:
            raise ValueError("This benchmark dataset has no hidden pairing (obs['true_cell']).")
        return truth


def score_against_truth(
    truth: DatasetTruth, latents: Sequence[np.ndarray] | None = None, coupling=None, imputed=None
) -> dict[str, float]:
    """Every score of :data:`scgroove.metrics.METRIC_NAMES` that the given results allow, against ``truth``.

    Parameters
    ----------
    truth
        :class:`DatasetTruth` of the data.
    latents
        ``(x1, x2)`` in one shared space: ``latent_foscttm``, ``within_label_foscttm``,
        ``label_transfer_accuracy``, ``modality_mixing`` (:func:`~scgroove.metrics.mean_modality_mixing`).
    coupling
        A coupling from modality 1 to modality 2: ``trace``, ``trace_chance``, ``bary_foscttm``;
        with ``latents`` also ``coupled_modality_mixing`` (:func:`coupled_mixing`).
    imputed
        Modality 2's features imputed for the cells of modality 1 (array or DataFrame):
        ``imputation_feature_pearson`` and ``imputation_cell_pearson`` over the cells with a
        partner and a finite imputation; the measured rows are read for those cells only.
    """
    match, labels1, labels2 = truth.match, truth.labels1, truth.labels2
    scores = {}
    if latents is not None:
        x1, x2 = latents
        scores["latent_foscttm"] = metrics.foscttm(x1, x2, match)
        scores["within_label_foscttm"] = metrics.within_label_foscttm(x1, x2, labels1, labels2, match)
        scores["label_transfer_accuracy"] = metrics.label_transfer_accuracy(x1, x2, labels1, labels2)
        scores["modality_mixing"] = metrics.mean_modality_mixing(x1, x2, labels1, labels2)
    if latents is not None and coupling is not None:
        scores["coupled_modality_mixing"] = coupled_mixing(truth, latents, coupling)
    if coupling is not None:
        scores["trace"] = metrics.trace(coupling, match)
        scores["trace_chance"] = metrics.trace_chance(labels1, labels2, match)
        scores["bary_foscttm"] = metrics.barycentric_foscttm(coupling, truth.target_space, match)
    if imputed is not None:
        values = imputed.to_numpy() if isinstance(imputed, pd.DataFrame) else np.asarray(imputed)
        paired = np.flatnonzero((match >= 0) & np.isfinite(values).all(1))
        observed = take_rows(truth.target_values, match[paired])
        imputation = metrics.imputation_scores(values[paired], observed, labels1[paired])
        scores["imputation_feature_pearson"] = imputation["feature_pearson"]
        scores["imputation_cell_pearson"] = imputation["cell_pearson"]
    return {name: float(value) for name, value in scores.items()}


def coupled_mixing(truth: DatasetTruth, latents: Sequence[np.ndarray], coupling) -> float:
    """Modality mixing inside labels of the latents moved halfway to their partners.

    :meth:`~scgroove.align.Coupling.coupled_latents` at share 0.5, then
    :func:`~scgroove.metrics.mean_modality_mixing`.
    """
    moved = coupling.coupled_latents(*latents)
    return float(metrics.mean_modality_mixing(*moved, truth.labels1, truth.labels2))

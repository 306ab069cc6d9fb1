"""Checks of a weakly paired MuData, run before anything is registered or trained.

Every check raises with the modality, key or value at fault and never modifies the data.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from mudata import MuData

from scgroove._matrix import summarise_values
from scgroove.model._screen import UNLABELED
from scgroove.module._likelihoods import LIKELIHOODS


def _matrix(mdata: MuData, modality: str, layer: str | None):
    adata = mdata.mod[modality]
    if layer is None:
        return adata.X
    if layer not in adata.layers:
        raise KeyError(f"Layer {layer!r} not found in modality {modality!r}; available: {list(adata.layers)}.")
    return adata.layers[layer]


def check_modalities(mdata: MuData, modalities: Sequence[str]) -> None:
    if not isinstance(mdata, MuData):
        raise TypeError(f"Expected a MuData, got {type(mdata).__name__}.")
    if len(modalities) != 2 or modalities[0] == modalities[1]:
        raise ValueError(f"modalities must name two different modalities, got {tuple(modalities)!r}.")
    for modality in modalities:
        if modality not in mdata.mod:
            raise KeyError(f"Modality {modality!r} not found in the MuData; available: {list(mdata.mod)}.")
        adata = mdata.mod[modality]
        if adata.n_obs == 0:
            raise ValueError(f"Modality {modality!r} has no cells.")
        if adata.n_vars == 0:
            raise ValueError(f"Modality {modality!r} has no features.")
    names_1 = pd.Index(mdata.mod[modalities[0]].obs_names)
    names_2 = pd.Index(mdata.mod[modalities[1]].obs_names)
    shared = names_1.intersection(names_2)
    if len(shared) > 0:
        raise ValueError(
            f"{len(shared)} obs names occur in both modalities {modalities[0]!r} and {modalities[1]!r} "
            f"(e.g. {list(shared[:3])}). MuData treats equal names as the same cell, which would make weakly "
            "paired data look paired. Rename one modality's cells, e.g. "
            f"`mdata.mod[{modalities[1]!r}].obs_names = {modalities[1]!r} + '_' + "
            f"mdata.mod[{modalities[1]!r}].obs_names` then `mdata.update()`."
        )
    for modality in modalities:
        if not pd.Index(mdata.mod[modality].obs_names).is_unique:
            raise ValueError(f"Obs names of modality {modality!r} are not unique; call `.obs_names_make_unique()`.")


def check_features(mdata: MuData, modality: str, layer: str | None) -> None:
    matrix = _matrix(mdata, modality, layer)
    where = f"modality {modality!r}" + (f", layer {layer!r}" if layer else ", X")
    summary = summarise_values(matrix)
    if not np.issubdtype(summary.dtype, np.number) or np.issubdtype(summary.dtype, np.complexfloating):
        raise TypeError(f"Data of {where} must be real numbers, got dtype {summary.dtype}.")
    if summary.n_nonfinite:
        raise ValueError(f"Data of {where} contains {summary.n_nonfinite} NaN or infinite values.")


def check_labels(mdata: MuData, modalities: Sequence[str], perturbation_key: str, unlabeled: str = "error") -> None:
    """The perturbation labels: present, no missing value unless ``unlabeled="keep"``, shared by both."""
    if unlabeled not in ("error", "keep"):
        raise ValueError(f"unlabeled must be 'error' or 'keep', got {unlabeled!r}.")
    for modality in modalities:
        obs = mdata.mod[modality].obs
        if perturbation_key not in obs:
            raise KeyError(
                f"Perturbation key {perturbation_key!r} not found in mdata[{modality!r}].obs; "
                f"columns: {list(obs.columns)}. (A column of the global mdata.obs must be copied into each "
                "modality's obs, since each modality has its own cells.)"
            )
        labels = obs[perturbation_key]
        if labels.isna().any() and unlabeled == "error":
            raise ValueError(
                f"mdata[{modality!r}].obs[{perturbation_key!r}] has {int(labels.isna().sum())} missing values. "
                "Drop those cells (e.g. cells whose guide was not detected: they are not controls), give them "
                "their true perturbation label, or keep them unlabeled with setup_mudata(unlabeled='keep') "
                "(embedded, left out of the contrast and of every label block)."
            )
        if (labels.astype(str) == UNLABELED).any():
            raise ValueError(
                f"mdata[{modality!r}].obs[{perturbation_key!r}] uses the reserved value {UNLABELED!r}; rename it."
            )
        if labels.isna().all():
            raise ValueError(f"mdata[{modality!r}].obs[{perturbation_key!r}] has no labelled cell.")
    labels_1 = set(mdata.mod[modalities[0]].obs[perturbation_key].dropna().astype(str))
    labels_2 = set(mdata.mod[modalities[1]].obs[perturbation_key].dropna().astype(str))
    shared = labels_1 & labels_2
    if len(labels_1 | labels_2) < 2:
        raise ValueError(
            f"GROOVE needs at least two perturbation groups in {perturbation_key!r}; "
            f"found only {sorted(labels_1 | labels_2)}."
        )
    if not shared:
        raise ValueError(
            f"No value of {perturbation_key!r} occurs in both modalities {modalities[0]!r} and {modalities[1]!r}: "
            f"e.g. {sorted(labels_1)[:3]} vs {sorted(labels_2)[:3]}. The shared labels are the only link between "
            "weakly paired modalities."
        )


def check_likelihoods(
    likelihoods: Mapping[str, str],
    mdata: MuData,
    layers: Mapping[str, str | None],
    chosen: Sequence[str] = (),
) -> None:
    """The data contract of each likelihood, before any training.

    ``nb`` needs raw counts: a negative or a non-integer value is an error. For likelihoods chosen
    from the data (``chosen``), data that look like counts but are not quite (integers with
    negative values) are an error, and non-negative non-integer data (log-normalised counts, most
    likely) get a warning: they are modelled as ``"normal"``, never silently as counts.
    """
    for modality, likelihood in likelihoods.items():
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"Unknown likelihood {likelihood!r} for modality {modality!r}; choose from {LIKELIHOODS}.")
        if modality in chosen and likelihood == "normal":
            _check_not_counts(modality, summarise_values(_matrix(mdata, modality, layers.get(modality))))
        if likelihood not in ("nb", "bernoulli"):
            continue
        summary = summarise_values(_matrix(mdata, modality, layers.get(modality)))
        if summary.minimum < 0:
            raise ValueError(
                f"Modality {modality!r} has negative values (min {summary.minimum:.3g}), which the {likelihood!r} "
                "likelihood cannot model. Give raw counts via `layers=`, or use likelihoods={"
                f"{modality!r}: 'normal'}}."
            )
        if likelihood == "nb" and not summary.integer:
            raise ValueError(
                f"Modality {modality!r} has non-integer values, but the 'nb' likelihood models raw counts. "
                "Normalised or log-transformed data are not counts: give the raw counts via "
                f"`layers={{{modality!r}: 'counts'}}`, or use likelihoods={{{modality!r}: 'normal'}}."
            )
        if likelihood == "bernoulli" and summary.maximum > 1:
            raise ValueError(
                f"Modality {modality!r} has values above 1 (max {summary.maximum:.3g}); the 'bernoulli' likelihood "
                "needs binary data. Binarize it (e.g. `X > 0`) or use 'nb'."
            )


def _check_not_counts(modality: str, summary) -> None:
    """Data modelled as ``"normal"`` because they are not counts: say so where they look like counts."""
    if summary.integer and summary.minimum < 0:
        raise ValueError(
            f"Modality {modality!r} holds integers like counts but has negative values (min {summary.minimum:.3g}). "
            "Counts cannot be negative: check the data, or pass likelihoods={"
            f"{modality!r}: 'normal'}} if they are not counts."
        )
    if not summary.integer and summary.minimum >= 0:
        warnings.warn(
            f"Modality {modality!r} is non-negative but not integer (max {summary.maximum:.3g}): it looks like "
            "normalised or log-transformed counts and is modelled with the 'normal' likelihood. GROOVE models "
            f"counts best as raw counts: pass the raw counts layer (`layers={{{modality!r}: 'counts'}}`), or "
            f"likelihoods={{{modality!r}: 'normal'}} to keep this data and silence this warning.",
            UserWarning,
            stacklevel=4,
        )


def validate_weakly_paired(
    mdata: MuData,
    perturbation_key: str,
    modalities: Sequence[str],
    layers: Mapping[str, str | None],
    unlabeled: str = "error",
) -> None:
    """Run every data check of :meth:`scgroove.GROOVE.setup_mudata`; raises on the first problem."""
    unknown = set(layers) - set(modalities)
    if unknown:
        raise KeyError(f"layers names modalities {sorted(unknown)} that are not in modalities {tuple(modalities)}.")
    check_modalities(mdata, modalities)
    for modality in modalities:
        check_features(mdata, modality, layers.get(modality))
    check_labels(mdata, modalities, perturbation_key, unlabeled)

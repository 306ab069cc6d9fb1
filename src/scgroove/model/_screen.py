"""The design of a screen: control, guides grouped by gene, batches, and which perturbations are null.

``setup_mudata`` checks the screen's keys here before anything is written, decides each
perturbation label's *contrast group* (the unit GroupCLIP and the batches work on) and reports
the decision in ``mdata.uns["groove"]["screen"]``. Alignment keeps the finer labels of
``perturbation_key``: a guide's cells are matched to the same guide's cells.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from mudata import MuData

NullHandling = Literal["merge", "keep", "drop"]
NULL_HANDLINGS: tuple[str, ...] = ("merge", "keep", "drop")
#: Contrast group of labels that take no part in training (``null_perturbations="drop"``).
EXCLUDED = None
#: Registered label of cells with no perturbation call (``setup_mudata(unlabeled="keep")``): out of
#: the contrast, embedded, and in no block of any aligner.
UNLABELED = "_groove_unlabeled"
UnlabeledHandling = Literal["error", "keep"]


def _column(mdata: MuData, modality: str, key: str, what: str, fill: str | None = None) -> pd.Series:
    """``obs[key]`` as strings; missing values are an error unless ``fill`` replaces them."""
    obs = mdata.mod[modality].obs
    if key not in obs:
        raise KeyError(f"{what} {key!r} not found in mdata[{modality!r}].obs; columns: {list(obs.columns)}.")
    values = obs[key]
    if fill is not None:
        return values.astype(object).where(values.notna(), fill).astype(str)
    if values.isna().any():
        raise ValueError(
            f"mdata[{modality!r}].obs[{key!r}] ({what}) has {int(values.isna().sum())} missing values; "
            "fill them or drop those cells."
        )
    return values.astype(str)


def label_groups(
    mdata: MuData, modalities: Sequence[str], perturbation_key: str, group_key: str | None, unlabeled: str = "error"
) -> dict:
    """Each perturbation label's group (``group_key``'s value, e.g. the gene of a guide), checked.

    Raises when a label has more than one group, within a modality or across the two. With
    ``unlabeled="keep"`` cells without a label are :data:`UNLABELED` (their group is not read).
    """
    fill = UNLABELED if unlabeled == "keep" else None
    pairs = []
    for modality in modalities:
        labels = _column(mdata, modality, perturbation_key, "Perturbation key", fill)
        groups = labels if group_key is None else _column(mdata, modality, group_key, "group_key", fill)
        groups = groups.where(labels != UNLABELED, UNLABELED)
        pairs.append(pd.DataFrame({"label": labels.to_numpy(), "group": groups.to_numpy(), "modality": modality}))
    table = pd.concat(pairs, ignore_index=True).drop_duplicates()
    per_label = table.groupby("label")["group"].nunique()
    conflicting = per_label[per_label > 1]
    if len(conflicting):
        label = conflicting.index[0]
        seen = table[table["label"] == label]
        where = "; ".join(f"{g!r} in {sorted(seen[seen['group'] == g]['modality'])}" for g in sorted(seen["group"]))
        raise ValueError(
            f"{len(conflicting)} value(s) of {perturbation_key!r} belong to more than one value of {group_key!r}, "
            f"e.g. {label!r}: {where}. Each guide must target one gene in both modalities."
        )
    return dict(zip(table["label"], table["group"], strict=True))


def check_control(
    mdata: MuData, modalities: Sequence[str], groups: Mapping[str, str], control_label: str, key: str
) -> None:
    """The control value must name cells in both modalities."""
    for modality, labels in ((m, set(mdata.mod[m].obs[key].astype(str))) for m in modalities):
        if control_label not in labels:
            known = set(groups.values())
            hint = (
                f"it is not a value of {key!r} at all; values include {sorted(known)[:5]}"
                if control_label not in known
                else "control cells are needed in both modalities, as the shared reference"
            )
            raise ValueError(f"control_label {control_label!r} has no cells in modality {modality!r}: {hint}.")


def check_batches(mdata: MuData, modalities: Sequence[str], batch_key: str) -> list[str]:
    """Batch values, which must all occur in both modalities; returns them sorted."""
    values = [set(_column(mdata, m, batch_key, "batch_key")) for m in modalities]
    for here, there, modality, other in ((0, 1, *modalities), (1, 0, *reversed(modalities))):
        only = sorted(values[here] - values[there])
        if only:
            raise ValueError(
                f"Batch(es) {only[:5]} of {batch_key!r} occur in modality {modality!r} but not in {other!r}. "
                "Batch covariates are shared by both modalities (donors): a cell is translated into the other "
                "modality in its own batch. Drop those cells, or merge batches so both modalities have each."
            )
    return sorted(values[0])


@dataclass
class ScreenDesign:
    """How a screen's labels enter training, decided by :meth:`scgroove.GROOVE.setup_mudata`.

    Attributes
    ----------
    contrast_groups
        Perturbation label -> contrast group (``None``: the label takes no part in training).
    control_label, group_key, batch_key, null_perturbations
        The set-up's choices.
    null_groups
        Groups found to differ from control in no modality.
    effects
        The test table of :func:`scgroove.tl.perturbation_effects` (``None`` when not run).
    unlabeled, unlabeled_cells
        What was done with cells without a perturbation label, and how many each modality has.
    """

    contrast_groups: dict[str, str | None]
    control_label: str | None = None
    group_key: str | None = None
    batch_key: str | None = None
    null_perturbations: str = "keep"
    null_groups: list[str] = field(default_factory=list)
    effects: pd.DataFrame | None = None
    unlabeled: str = "error"
    unlabeled_cells: dict[str, int] = field(default_factory=dict)

    def to_uns(self) -> dict:
        """A h5mu-friendly record (written to ``mdata.uns["groove"]["screen"]``)."""
        record = {
            "control_label": self.control_label or "",
            "group_key": self.group_key or "",
            "batch_key": self.batch_key or "",
            "null_perturbations": self.null_perturbations,
            "null_groups": list(self.null_groups),
            "labels": list(self.contrast_groups),
            "contrast_groups": ["" if g is EXCLUDED else g for g in self.contrast_groups.values()],
            "unlabeled": self.unlabeled,
            "unlabeled_cells": dict(self.unlabeled_cells),
        }
        if self.effects is not None:
            record["effects"] = self.effects.reset_index()
        return record


def check_screen_keys(
    mdata: MuData,
    perturbation_key: str,
    modalities: Sequence[str],
    control_label: str | None = None,
    group_key: str | None = None,
    batch_key: str | None = None,
    null_perturbations: NullHandling | None = None,
    unlabeled: UnlabeledHandling = "error",
) -> dict[str, str]:
    """Every check of the screen's keys (no test, no writes); returns each label's group."""
    if null_perturbations is not None and null_perturbations not in NULL_HANDLINGS:
        raise ValueError(f"null_perturbations must be one of {NULL_HANDLINGS}, got {null_perturbations!r}.")
    if control_label is None and null_perturbations in ("merge", "drop"):
        raise ValueError(
            f"null_perturbations={null_perturbations!r} needs control_label: null perturbations are those that "
            "do not differ from control."
        )
    groups = label_groups(mdata, modalities, perturbation_key, group_key, unlabeled)
    if batch_key is not None:
        check_batches(mdata, modalities, batch_key)
    if control_label is not None:
        group_column = perturbation_key if group_key is None else group_key
        check_control(mdata, modalities, groups, str(control_label), group_column)
    return groups


def screen_design(
    mdata: MuData,
    perturbation_key: str,
    modalities: Sequence[str],
    layers: Mapping[str, str | None],
    control_label: str | None,
    group_key: str | None,
    batch_key: str | None,
    null_perturbations: NullHandling | None,
    effect_test: Mapping | None = None,
    unlabeled: UnlabeledHandling = "error",
) -> ScreenDesign:
    """Check the screen's keys and decide each label's contrast group (no writes).

    Without ``control_label`` every label (or ``group_key`` value) is its own contrast group. With
    it, groups that differ from control in no modality (:func:`scgroove.tl.perturbation_effects`,
    arguments in ``effect_test``) are merged into control's group (``"merge"``), left as they
    are (``"keep"``) or excluded from training (``"drop"``). Cells without a label
    (``unlabeled="keep"``) are :data:`UNLABELED`, excluded from training.
    """
    groups = check_screen_keys(
        mdata, perturbation_key, modalities, control_label, group_key, batch_key, null_perturbations, unlabeled
    )
    unlabeled_cells = {m: int(mdata.mod[m].obs[perturbation_key].isna().sum()) for m in modalities}
    groups = {label: (EXCLUDED if label == UNLABELED else group) for label, group in groups.items()}
    if control_label is None:
        return ScreenDesign(
            dict(groups), group_key=group_key, batch_key=batch_key, unlabeled=unlabeled, unlabeled_cells=unlabeled_cells
        )
    control_label = str(control_label)
    group_column = perturbation_key if group_key is None else group_key
    handling = "merge" if null_perturbations is None else null_perturbations
    design = ScreenDesign(
        dict(groups),
        control_label,
        group_key,
        batch_key,
        null_perturbations=handling,
        unlabeled=unlabeled,
        unlabeled_cells=unlabeled_cells,
    )
    if handling == "keep":
        return design
    from scgroove.tl._effects import perturbation_effects  # tl builds on the model package

    effects = perturbation_effects(
        mdata, group_column, control_label, modalities, layers, batch_key=batch_key, **dict(effect_test or {})
    )
    design.effects = effects
    design.null_groups = sorted(effects.index[~effects["effect"]])
    null = set(design.null_groups)
    replacement = control_label if handling == "merge" else EXCLUDED
    design.contrast_groups = {label: (replacement if group in null else group) for label, group in groups.items()}
    return design


def contrast_codes(
    label_categories: np.ndarray, contrast_groups: Mapping[str, str | None]
) -> tuple[np.ndarray, list[str]]:
    """Code of each registered label's contrast group (-1: excluded from training), by label code.

    Labels missing from ``contrast_groups`` are their own group. Returns the codes and the
    groups' names (code ``k`` is ``names[k]``).
    """
    groups = [contrast_groups.get(str(label), str(label)) for label in label_categories]
    names = sorted({g for g in groups if g is not EXCLUDED})
    index = {name: code for code, name in enumerate(names)}
    return np.array([-1 if g is EXCLUDED else index[g] for g in groups], dtype=np.int64), names


def alignment_labels(label_categories: np.ndarray, codes) -> np.ndarray:
    """Each cell's registered label by its code, :data:`UNLABELED` cells as ``None`` (in no label block)."""
    labels = np.asarray(label_categories).astype(object)[np.asarray(codes).reshape(-1)]
    labels[labels == UNLABELED] = None
    return labels

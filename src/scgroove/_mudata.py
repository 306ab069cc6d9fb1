"""MuData construction without the legacy column pulling of mudata < 0.4."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import mudata as md
import numpy as np
from anndata import AnnData


def new_mudata(modalities: Mapping[str, AnnData]) -> md.MuData:
    """``MuData(modalities)`` with mudata 0.4's behaviour: no obs/var columns pulled into the global frames.

    scgroove keeps every annotation in the modalities, so the pulled copies would only duplicate
    them (and warn, e.g. when a gene and a protein share a name such as CD4).
    """
    with md.set_options(pull_on_update=False):
        return md.MuData(dict(modalities))


def read_mudata(path: str | Path, backed: bool = False) -> md.MuData:
    """``mudata.read_h5mu`` with the same behaviour as :func:`new_mudata`; ``backed``: read-only, on disk."""
    with md.set_options(pull_on_update=False):
        return md.read_h5mu(path, backed="r" if backed else None)


def relabelled_copy(mdata: md.MuData, key: str, modalities: tuple[str, str], labels1, labels2) -> md.MuData:
    """A copy of the two modalities with ``obs[key]`` replaced by other labels (the input is untouched)."""
    relabelled = new_mudata({m: mdata.mod[m].copy() for m in modalities})
    for m, labels in zip(modalities, (labels1, labels2), strict=True):
        relabelled.mod[m].obs[key] = np.asarray(labels).astype(str)
    return relabelled

"""Hide the pairing of paired data, and read the hidden truth back."""

from __future__ import annotations

from collections.abc import Sequence

import mudata as md
import numpy as np
import pandas as pd

from scgroove._mudata import new_mudata
from scgroove.datasets._simulate import TRUTH_KEY


def unpair(
    mdata: md.MuData,
    label_key: str = "label",
    fraction: float = 0.85,
    modalities: Sequence[str] | None = None,
    seed: int = 0,
    obs_keys: Sequence[str] = (),
) -> md.MuData:
    """Turn paired multimodal data into a weakly paired problem with known truth.

    Each modality independently keeps a random ``fraction`` of the cells, in its own random order,
    renamed ``"<modality>_<k>"``, so no obs name links the modalities. The label becomes the only
    link: it is copied into each modality's ``.obs[label_key]``. The original cell name is kept in
    ``.obs["true_cell"]`` (equal values across modalities = the same measured cell), the
    convention of :func:`scgroove.datasets.simulate`.

    Parameters
    ----------
    mdata
        Paired MuData (both modalities measured in the same cells).
    label_key
        Column of ``mdata.obs`` or of each modality's ``.obs`` with the group label.
    fraction
        Fraction of cells each modality keeps (independently drawn).
    modalities
        The two modalities to keep; default: the first two.
    seed
        Random seed.
    obs_keys
        More columns of ``mdata.obs`` (or of each modality's ``.obs``) to copy into each
        modality, e.g. ``("batch",)`` for a donor covariate.

    Returns
    -------
    A new MuData; the input is not modified.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}.")
    modalities = list(modalities or list(mdata.mod)[:2])
    if len(modalities) != 2:
        raise ValueError(f"unpair needs two modalities, got {modalities}.")
    rng = np.random.default_rng(seed)
    adatas = {}
    for modality in modalities:
        if modality not in mdata.mod:
            raise KeyError(f"Modality {modality!r} not found; available: {list(mdata.mod)}.")
        adata = mdata.mod[modality]
        if label_key in adata.obs:
            labels = adata.obs[label_key]
        elif label_key in mdata.obs:
            labels = mdata.obs[label_key].reindex(adata.obs_names)
        else:
            raise KeyError(f"Label key {label_key!r} found neither in mdata.obs nor in mdata[{modality!r}].obs.")
        n_keep = max(1, int(round(fraction * adata.n_obs)))
        rows = rng.permutation(adata.n_obs)[:n_keep]
        new = adata[rows].copy()
        new.obs[TRUTH_KEY] = np.asarray(adata.obs_names[rows])
        new.obs[label_key] = pd.Categorical(np.asarray(labels)[rows].astype(str))
        for key in obs_keys:
            if key not in adata.obs and key not in mdata.obs:
                raise KeyError(f"obs_keys: {key!r} found neither in mdata.obs nor in mdata[{modality!r}].obs.")
            values = adata.obs[key] if key in adata.obs else mdata.obs[key].reindex(adata.obs_names)
            new.obs[key] = pd.Categorical(np.asarray(values)[rows].astype(str))
        new.obs_names = [f"{modality}_{k}" for k in range(n_keep)]
        adatas[modality] = new
    out = new_mudata(adatas)
    out.uns["unpaired"] = {"label_key": label_key, "fraction": fraction, "seed": seed, "truth_key": TRUTH_KEY}
    return out


def true_matching(mdata: md.MuData, modalities: Sequence[str] | None = None, truth_key: str = TRUTH_KEY) -> np.ndarray:
    """Row of modality 2 holding the true partner of each cell of modality 1 (-1: none kept).

    Parameters
    ----------
    mdata
        Output of :func:`simulate` or :func:`unpair`.
    modalities
        ``(modality_1, modality_2)``; default: the first two.
    truth_key
        Obs column holding the true cell identity in both modalities.

    Returns
    -------
    Integer array of length ``n_obs`` of modality 1, usable as ``match`` in :mod:`scgroove.metrics`.
    """
    m1, m2 = list(modalities or list(mdata.mod)[:2])
    for m in (m1, m2):
        if truth_key not in mdata.mod[m].obs:
            raise KeyError(f"No ground truth: column {truth_key!r} missing in mdata[{m!r}].obs.")
    position = pd.Series(np.arange(mdata.mod[m2].n_obs), index=mdata.mod[m2].obs[truth_key].astype(str).to_numpy())
    if not position.index.is_unique:
        raise ValueError(f"mdata[{m2!r}].obs[{truth_key!r}] has duplicated values.")
    return position.reindex(mdata.mod[m1].obs[truth_key].astype(str).to_numpy()).fillna(-1).to_numpy().astype(np.int64)

"""Does a cell's own state support its perturbation label? A per-cell check of the guide calls."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from mudata import MuData
from sklearn.neighbors import NearestNeighbors

from scgroove._matrix import summarise_values
from scgroove.model._guide import modality_pca

SUPPORT_KEY = "groove_label_support"
NEIGHBOUR_LABEL_KEY = "groove_neighbour_label"


def label_support(
    mdata: MuData,
    perturbation_key: str,
    modalities: Sequence[str] = ("rna", "protein"),
    *,
    n_neighbors: int = 20,
    n_comps: int = 30,
    layers: Mapping[str, str | None] | None = None,
    key_added: str = SUPPORT_KEY,
) -> None:
    """Score each cell's label by its nearest neighbours in its own modality.

    In each modality's own PCA (counts library-normalised and log1p-transformed first), a cell's
    ``n_neighbors`` nearest cells vote: the **support** is the share of them that carry the
    cell's label, the **neighbour label** the label most of them carry. A wrong guide call sits
    among cells of another perturbation (support near 0, neighbour label = the likely true one); a
    droplet of two cells sits between two groups. No model and no other modality is needed, so
    this runs before training.

    Read it against the screen: a perturbation with no effect, an escaper (a knocked-out cell
    that kept control's state) and a cell of a large heterogeneous group also have low support,
    because their state does not single out their label. Low support says "the state does not
    back this label", not "the guide call is wrong". Where a group is much smaller than
    ``n_neighbors`` the support is at most its size over ``n_neighbors``.

    Parameters
    ----------
    mdata
        MuData with the two modalities.
    perturbation_key
        Column of each modality's ``.obs`` with the label. Missing labels (NaN) get NaN support
        and still get a neighbour label.
    modalities
        The modalities to score (each on its own).
    n_neighbors
        Neighbours that vote (the cell itself excluded).
    n_comps
        Principal components of each modality.
    layers
        Layer per modality instead of ``X``.
    key_added
        ``obs`` column of the support; the neighbour label goes to ``"groove_neighbour_label"``.

    Writes
    ------
    ``mdata[m].obs[key_added]`` (0-1) and ``mdata[m].obs["groove_neighbour_label"]`` for each
    modality; nothing else.
    """
    modalities = tuple(modalities)
    if n_neighbors < 1:
        raise ValueError(f"n_neighbors must be >= 1, got {n_neighbors}.")
    for modality in modalities:
        if modality not in mdata.mod:
            raise KeyError(f"Modality {modality!r} not found in the MuData; available: {list(mdata.mod)}.")
        obs = mdata.mod[modality].obs
        if perturbation_key not in obs:
            raise KeyError(f"{perturbation_key!r} not found in mdata[{modality!r}].obs; columns: {list(obs.columns)}.")
        if mdata.mod[modality].n_obs <= n_neighbors:
            raise ValueError(
                f"Modality {modality!r} has {mdata.mod[modality].n_obs} cells, not more than n_neighbors={n_neighbors}."
            )
    layers = dict(layers or {})
    for modality in modalities:
        adata = mdata.mod[modality]
        x = adata.X if layers.get(modality) is None else adata.layers[layers[modality]]
        n = min(n_comps, adata.n_obs - 1, adata.n_vars - 1)
        space = modality_pca(x, log_normalize=summarise_values(x).minimum >= 0, n_comps=n)
        labels = mdata.mod[modality].obs[perturbation_key]
        codes, names = pd.factorize(labels.astype(object).where(labels.notna(), None))
        neighbours = NearestNeighbors(n_neighbors=n_neighbors + 1).fit(space).kneighbors(space, return_distance=False)
        neighbours = _without_self(neighbours)
        votes = codes[neighbours]
        support = (votes == codes[:, None]).mean(1)
        support[codes < 0] = np.nan
        counts = np.zeros((len(codes), len(names) + 1), dtype=np.int32)
        np.add.at(counts, (np.repeat(np.arange(len(codes)), n_neighbors), votes.ravel() % (len(names) + 1)), 1)
        counts[:, len(names)] = -1  # a neighbour without a label never wins the vote
        winner = counts.argmax(1)
        obs = mdata.mod[modality].obs
        obs[key_added] = support
        obs[NEIGHBOUR_LABEL_KEY] = pd.Categorical(np.asarray(names, dtype=object)[winner], categories=list(names))


def _without_self(neighbours: np.ndarray) -> np.ndarray:
    """Drop each cell from its own neighbour list (it is first, unless it has duplicates)."""
    n = len(neighbours)
    is_self = neighbours == np.arange(n)[:, None]
    drop = np.where(is_self.any(1), is_self.argmax(1), neighbours.shape[1] - 1)
    keep = np.ones_like(neighbours, dtype=bool)
    keep[np.arange(n), drop] = False
    return neighbours[keep].reshape(n, -1)

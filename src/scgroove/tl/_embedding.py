"""A 2-d embedding of both modalities' cells together, for plotting."""

from __future__ import annotations

from collections.abc import Sequence

import anndata as ad
import numpy as np
import scanpy as sc
from mudata import MuData

from scgroove._constants import RESULT_KEYS


def joint_umap(
    mdata: MuData,
    modalities: Sequence[str] | None = None,
    use_rep: str = RESULT_KEYS.LATENT,
    key_added: str = RESULT_KEYS.JOINT_UMAP,
    n_neighbors: int = 15,
    random_state: int = 0,
) -> None:
    """UMAP of the cells of both modalities in their shared space (scanpy's neighbors + umap).

    Parameters
    ----------
    mdata
        MuData whose modalities hold ``obsm[use_rep]`` (e.g. after :meth:`scgroove.GROOVE.write_latent`).
    modalities
        Modalities to embed together; default those listed in ``mdata.uns["groove"]["latent"]``,
        else all modalities having ``use_rep``.
    use_rep
        Shared-space representation to embed.
    key_added
        Written to ``mdata[m].obsm[key_added]`` for each modality.
    n_neighbors, random_state
        Passed to :func:`scanpy.pp.neighbors` and :func:`scanpy.tl.umap`.

    Writes
    ------
    ``mdata[m].obsm[key_added]`` (2 columns) and
    ``mdata.uns["groove"]["joint_umap"] = {"use_rep", "key_added", "modalities", "n_neighbors"}``.
    """
    if modalities is None:
        modalities = mdata.uns.get(RESULT_KEYS.UNS, {}).get("latent", {}).get("modalities")
        modalities = list(modalities) if modalities is not None else [m for m in mdata.mod if use_rep in mdata[m].obsm]
    missing = [m for m in modalities if use_rep not in mdata.mod[m].obsm]
    if missing:
        raise KeyError(f"obsm[{use_rep!r}] missing in modalities {missing}; run model.write_latent() first.")
    latents = [np.asarray(mdata.mod[m].obsm[use_rep]) for m in modalities]
    joint = ad.AnnData(obsm={"rep": np.vstack(latents)}, obs={"i": np.arange(sum(len(z) for z in latents))})
    sc.pp.neighbors(joint, use_rep="rep", n_neighbors=n_neighbors, random_state=random_state)
    sc.tl.umap(joint, random_state=random_state)
    start = 0
    for modality, latent in zip(modalities, latents, strict=True):
        mdata.mod[modality].obsm[key_added] = joint.obsm["X_umap"][start : start + len(latent)]
        start += len(latent)
    mdata.uns.setdefault(RESULT_KEYS.UNS, {})["joint_umap"] = {
        "use_rep": use_rep,
        "key_added": key_added,
        "modalities": list(modalities),
        "n_neighbors": n_neighbors,
    }

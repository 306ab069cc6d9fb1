"""A 2-d embedding of both modalities' cells together, for plotting."""

from __future__ import annotations

from collections.abc import Sequence

import anndata as ad
import numpy as np
import scanpy as sc
from mudata import MuData

from scgroove._constants import RESULT_KEYS
from scgroove._results import stored_coupling
from scgroove.align import Coupling


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


#: Default ``share`` of :func:`coupled_latent`: each cell moves halfway towards its partners.
COUPLED_SHARE = 0.5


def coupled_latent(
    mdata: MuData,
    *,
    coupling_key: str = "coupling",
    use_rep: str = RESULT_KEYS.LATENT,
    key_added: str = RESULT_KEYS.COUPLED_LATENT,
    share: float = COUPLED_SHARE,
) -> None:
    r"""Both modalities in one space where they mix: each cell moved towards its partners through the coupling.

    A latent learned by two encoders can keep a modality offset (each label of the joint UMAP an
    RNA island beside a protein island) that labeled OT inside a label does not care about. The
    coupling knows each cell's partners, so the cells can be placed where their modalities agree:

    .. math::

        \tilde z^1_i = (1 - s)\, z^1_i + s\, \frac{\sum_j T_{ij} z^2_j}{\sum_j T_{ij}}, \qquad
        \tilde z^2_j = (1 - s)\, z^2_j + s\, \frac{\sum_i T_{ij} z^1_i}{\sum_i T_{ij}}

    with :math:`s` = ``share``. At the default :math:`s = 1/2` a constant offset between the
    modalities cancels exactly (a cell and its partner meet halfway), and each cell keeps half of
    its own position, so what varies inside a modality stays. This is the barycentric projection
    of SCOT and Pamona, made symmetric: what it mixes comes from the coupling, not from the
    encoders, and the modalities mix only as far as the coupling's partners are right. Cells
    without a partner (no mass) keep their own latent.

    Parameters
    ----------
    mdata
        MuData with a coupling (e.g. :meth:`scgroove.GROOVE.align` or :func:`scgroove.tl.match`) and
        a shared-space representation of both of its modalities in ``obsm[use_rep]``.
    coupling_key
        Key of the coupling in ``mdata.uns["groove"]``.
    use_rep
        The shared space (``"X_groove"`` after :meth:`scgroove.GROOVE.write_latent`, ``"X_match"``
        after :func:`scgroove.tl.match` with ``"groove"`` or ``"label_only"``).
    key_added
        Written to ``mdata[m].obsm[key_added]`` for both modalities.
    share
        How far each cell moves towards its partners' mean, in ``[0, 1]`` (0: ``use_rep`` itself).

    Writes
    ------
    ``mdata[m].obsm[key_added]`` (as ``obsm[use_rep]``, float32) and
    ``mdata.uns["groove"]["coupled_latent"] = {"coupling_key", "use_rep", "key_added", "share",
    "modalities", "cells_without_partner"}``.

    Examples
    --------
    >>> model.write_latent()
    >>> model.align()
    >>> sg.tl.coupled_latent(mdata)
    >>> sg.tl.joint_umap(mdata, use_rep="X_groove_coupled")
    """
    Coupling.check_weight(share, "share")
    stored = mdata.uns.get(RESULT_KEYS.UNS, {}).get(coupling_key, {})
    coupling = stored_coupling(mdata, coupling_key)
    modalities = list(stored.get("modalities", []))
    if len(modalities) != 2:
        raise KeyError(f"The coupling mdata.uns['groove'][{coupling_key!r}] does not name its two modalities.")
    missing = [m for m in modalities if use_rep not in mdata.mod[m].obsm]
    if missing:
        raise KeyError(f"obsm[{use_rep!r}] missing in modalities {missing}; run model.write_latent() first.")
    z1, z2 = (np.asarray(mdata.mod[m].obsm[use_rep]) for m in modalities)
    if z1.shape[1] != z2.shape[1]:
        raise ValueError(
            f"obsm[{use_rep!r}] has {z1.shape[1]} columns in {modalities[0]!r} and {z2.shape[1]} in "
            f"{modalities[1]!r}: not one shared space (each modality's own PCA cannot be co-embedded)."
        )
    moved = coupling.coupled_latents(z1, z2, share=share)
    without = [int((coupling.row_mass <= 0).sum()), int((coupling.transpose().row_mass <= 0).sum())]
    for modality, positions in zip(modalities, moved, strict=True):
        mdata.mod[modality].obsm[key_added] = positions.astype(np.float32)
    mdata.uns.setdefault(RESULT_KEYS.UNS, {})["coupled_latent"] = {
        "coupling_key": coupling_key,
        "use_rep": use_rep,
        "key_added": key_added,
        "share": float(share),
        "modalities": modalities,
        "cells_without_partner": without,
    }

"""One entry point for every aligner."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Sequence

import numpy as np

from scgroove.align._blocks import AUTO_MAX_BLOCK_CELLS, label_strings, stratified_labels, strip_strata
from scgroove.align._coot import coot, labeled_coot
from scgroove.align._coupling import Coupling
from scgroove.align._linear import entropic_ot, knn, labeled_knn, labeled_ot
from scgroove.align._mapped import mapped_ot
from scgroove.align._quadratic import entropic_gw, labeled_fgw, labeled_gw, per_label_gw
from scgroove.align._soft import soft_labeled_ot

UNLABELED: dict[str, Callable[..., Coupling]] = {"ot": entropic_ot, "gw": entropic_gw, "coot": coot, "knn": knn}
LABELED: dict[str, Callable[..., Coupling]] = {
    "labeled_ot": labeled_ot,
    "soft_labeled_ot": soft_labeled_ot,
    "labeled_gw": labeled_gw,
    "per_label_gw": per_label_gw,
    "labeled_fgw": labeled_fgw,
    "labeled_coot": labeled_coot,
    "labeled_knn": labeled_knn,
    "mapped_ot": mapped_ot,
}
METHODS = (*UNLABELED, *LABELED)
LABELED_METHODS = tuple(LABELED)
SHARED_SPACE = ("ot", "labeled_ot", "soft_labeled_ot", "knn", "labeled_knn", "labeled_fgw")


def default_params(method: str) -> dict:
    """The keyword defaults of ``method``'s aligner (e.g. ``default_params("labeled_ot")["epsilon"]``).

    Read from the aligner's own signature, so there is one place where a default lives.
    """
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose from {METHODS}.")
    function = {**UNLABELED, **LABELED}[method]
    return {
        name: parameter.default
        for name, parameter in inspect.signature(function).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }


def split_params(method: str, max_block_cells) -> dict:
    """The aligner keyword that ``max_block_cells`` (``"auto"``, ``None`` or a number of cells) becomes for ``method``.

    ``"auto"``: :data:`~scgroove.align.AUTO_MAX_BLOCK_CELLS` for the aligners that split large
    labels (``max_block_cells`` in :func:`default_params`), nothing for the others; a number for
    an aligner that cannot split is refused (``ValueError``).
    """
    accepted = "max_block_cells" in default_params(method)
    if max_block_cells is None:
        return {}
    if max_block_cells == "auto":
        return {"max_block_cells": AUTO_MAX_BLOCK_CELLS} if accepted else {}
    if isinstance(max_block_cells, bool) or not isinstance(max_block_cells, int | np.integer) or max_block_cells < 1:
        raise ValueError(
            f"max_block_cells must be 'auto', None or a positive number of cells, got {max_block_cells!r}."
        )
    if not accepted:
        raise ValueError(f"max_block_cells applies to labeled OT/GW/FGW aligners, not to method {method!r}.")
    return {"max_block_cells": int(max_block_cells)}


def align(x1, x2, labels1=None, labels2=None, method: str = "labeled_ot", **params) -> Coupling:
    """Couple the cells of two modalities.

    Parameters
    ----------
    x1, x2
        ``(n1, d1)`` and ``(n2, d2)`` arrays (numpy or torch; torch tensors on a GPU are solved
        there). Methods ``"ot"``, ``"labeled_ot"``, ``"soft_labeled_ot"``, ``"knn"``,
        ``"labeled_knn"`` and the linear term of ``"labeled_fgw"`` need one shared space
        (``d1 == d2``, e.g. GROOVE latents); ``"gw"``, ``"labeled_gw"``, ``"per_label_gw"``,
        ``"coot"``, ``"labeled_coot"``, ``"mapped_ot"`` work across different spaces (e.g. each modality's PCA or
        features).
    labels1, labels2
        Group labels of the cells, required by the ``labeled_*`` methods.
    method
        One of ``"ot"``, ``"labeled_ot"``, ``"soft_labeled_ot"`` (labels as a prior: mass may
        leave a label at a cost, for labels that are sometimes wrong), ``"gw"``, ``"labeled_gw"``,
        ``"per_label_gw"`` (one independent GW problem per label), ``"labeled_fgw"``, ``"coot"``,
        ``"labeled_coot"``, ``"knn"``, ``"labeled_knn"``.
    **params
        Passed to the method: ``epsilon``, ``max_iter``, ``tol`` (all OT methods), ``block_mass``
        (labeled), ``label_penalty`` and ``n_candidates`` (``soft_labeled_ot``), ``alpha`` (a
        number, or ``"auto"`` to choose it by the held-out label resolution rule, see
        :func:`labeled_fgw`), ``structure1``, ``structure2`` (``labeled_fgw``), ``n_neighbors``
        (kNN), ``max_dense_bytes`` (unlabeled dense methods). Defaults: :func:`default_params`.

    Returns
    -------
    :class:`~scgroove.align.Coupling` (block sparse for labeled methods), with ``method``,
    ``params``, ``converged``, ``cost`` and solver ``info``.
    """
    if method in UNLABELED:
        return UNLABELED[method](x1, x2, **params)
    if method in LABELED:
        if labels1 is None or labels2 is None:
            raise ValueError(f"Method {method!r} needs labels1 and labels2.")
        if len(labels1) != len(x1) or len(labels2) != len(x2):
            raise ValueError(
                f"labels1/labels2 must have one entry per cell: got {len(labels1)}/{len(labels2)} "
                f"for {len(x1)}/{len(x2)} cells."
            )
        return LABELED[method](x1, x2, labels1, labels2, **params)
    raise ValueError(f"Unknown method {method!r}; choose from {METHODS}.")


def align_within_strata(
    x1,
    x2,
    labels1,
    labels2,
    strata1=None,
    strata2=None,
    method: str = "labeled_ot",
    names: Sequence[str] = ("1", "2"),
    **params,
) -> Coupling:
    """:func:`align` with a labeled method inside (label, stratum) blocks, e.g. a perturbation within a donor.

    The blocks keep their label's name. Cells whose label occurs in the other modality but not in
    their own stratum there get no partner, and a warning (naming modalities ``names``) says how
    many. Without strata this is :func:`align`.
    """
    if strata1 is None or strata2 is None:
        return align(x1, x2, labels1, labels2, method=method, **params)
    plain = [label_strings(labels1).to_numpy(), label_strings(labels2).to_numpy()]
    stratified = [stratified_labels(plain[0], strata1), stratified_labels(plain[1], strata2)]
    for here, there in ((0, 1), (1, 0)):
        lost = np.isin(plain[here], plain[there]) & ~np.isin(stratified[here], stratified[there])
        if lost.any():
            warnings.warn(
                f"{int(lost.sum())} cells of modality {names[here]!r} have no cell of their label in their own "
                f"batch in modality {names[there]!r} and get no partner; align(within_batch=False) matches "
                "across batches.",
                UserWarning,
                stacklevel=3,
            )
    return strip_strata(align(x1, x2, *stratified, method=method, **params))

"""One entry point for every aligner."""

from __future__ import annotations

from collections.abc import Callable

from scgroove.align._coot import coot, labeled_coot
from scgroove.align._coupling import Coupling
from scgroove.align._linear import entropic_ot, knn, labeled_knn, labeled_ot
from scgroove.align._quadratic import entropic_gw, labeled_fgw, labeled_gw
from scgroove.align._selection import select_by_label_resolution

#: Candidate structure weights of ``labeled_fgw(alpha="auto")``.
FGW_ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)


def labeled_fgw_auto(
    x1,
    x2,
    labels1,
    labels2,
    alpha: float | str = 0.5,
    alpha_grid=FGW_ALPHAS,
    selection_repeats: int = 3,
    relearn: Callable | None = None,
    **params,
) -> Coupling:
    """:func:`labeled_fgw`; with ``alpha="auto"`` the weight is chosen without ground truth.

    The candidate ``alpha_grid`` values are scored by the held-out label resolution rule
    (:func:`select_by_label_resolution`: merge random pairs of labels, align with the merged
    labels, measure the mass that lands on the hidden original labels) and the best is used.
    ``info["alpha_selection"]`` keeps the candidates and their mean resolution.

    The rule is fair only when ``x1``/``x2`` were not learnt from these labels (e.g. PCA). A
    latent trained on the labels resolves them trivially, which biases the choice towards small
    ``alpha``. For such latents pass ``relearn(coarse1, coarse2) -> (z1, z2)``, which learns them
    again from the merged labels (e.g. :attr:`scgroove.benchmark.Representation.relearn`); it is
    called once per merge.
    """
    if alpha != "auto":
        return labeled_fgw(x1, x2, labels1, labels2, alpha=alpha, **params)
    relearnt: dict[int, tuple] = {}

    def align_with_labels(coarse1, coarse2, **candidate):
        z1, z2 = x1, x2
        if relearn is not None:
            key = hash((tuple(coarse1), tuple(coarse2)))
            if key not in relearnt:
                relearnt[key] = relearn(coarse1, coarse2)
            z1, z2 = relearnt[key]
        return labeled_fgw(z1, z2, coarse1, coarse2, **params, **candidate)

    selection = select_by_label_resolution(
        align_with_labels, labels1, labels2, {"alpha": list(alpha_grid)}, n_repeats=selection_repeats
    )
    coupling = labeled_fgw(x1, x2, labels1, labels2, alpha=selection.best["alpha"], **params)
    mean = selection.scores.groupby("alpha")["resolution"].mean()
    coupling.params["alpha_rule"] = "label_resolution"
    coupling.info["alpha_selection"] = {"alpha": mean.index.tolist(), "resolution": mean.tolist()}
    return coupling


UNLABELED: dict[str, Callable[..., Coupling]] = {"ot": entropic_ot, "gw": entropic_gw, "coot": coot, "knn": knn}
LABELED: dict[str, Callable[..., Coupling]] = {
    "labeled_ot": labeled_ot,
    "labeled_gw": labeled_gw,
    "labeled_fgw": labeled_fgw_auto,
    "labeled_coot": labeled_coot,
    "labeled_knn": labeled_knn,
}
METHODS = (*UNLABELED, *LABELED)
SHARED_SPACE = ("ot", "labeled_ot", "knn", "labeled_knn", "labeled_fgw")


def align(x1, x2, labels1=None, labels2=None, method: str = "labeled_ot", **params) -> Coupling:
    """Couple the cells of two modalities.

    Parameters
    ----------
    x1, x2
        ``(n1, d1)`` and ``(n2, d2)`` arrays (numpy or torch; torch tensors on a GPU are solved
        there). Methods ``"ot"``, ``"labeled_ot"``, ``"knn"``, ``"labeled_knn"`` and the linear term
        of ``"labeled_fgw"`` need one shared space (``d1 == d2``, e.g. GROOVE latents); ``"gw"``,
        ``"labeled_gw"``, ``"coot"``, ``"labeled_coot"`` work across different spaces (e.g. each
        modality's PCA or features).
    labels1, labels2
        Group labels of the cells, required by the ``labeled_*`` methods.
    method
        One of ``"ot"``, ``"labeled_ot"``, ``"gw"``, ``"labeled_gw"``, ``"labeled_fgw"``, ``"coot"``,
        ``"labeled_coot"``, ``"knn"``, ``"labeled_knn"``.
    **params
        Passed to the method: ``epsilon``, ``max_iter``, ``tol`` (all OT methods), ``block_mass``
        (labeled), ``alpha`` (a number, or ``"auto"`` to choose it by the held-out label resolution
        rule, see :func:`labeled_fgw_auto`), ``structure1``, ``structure2`` (``labeled_fgw``), ``n_neighbors``
        (kNN), ``max_dense_bytes`` (unlabeled dense methods).

    Returns
    -------
    :class:`~scgroove.align.Coupling` (block sparse for labeled methods), with ``method``,
    ``params`` and solver ``info`` (``converged`` and friends).
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

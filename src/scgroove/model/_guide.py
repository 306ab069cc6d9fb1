"""Guide couplings for ``contrast="guided"``: within-label correspondences found before training."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scanpy as sc
import scipy.sparse as sp

from scgroove._constants import BATCH_KEYS, LABELS_KEYS, X_KEYS
from scgroove._matrix import load_float32, summarise_values
from scgroove.align import AUTO_MAX_BLOCK_CELLS, Coupling
from scgroove.align._api import align_within_strata
from scgroove.model._screen import alignment_labels


def modality_pca(matrix, log_normalize: bool, n_comps: int = 30, seed: int = 0) -> np.ndarray:
    """A modality's own PCA; with ``log_normalize`` (counts) library-normalised and log1p first.

    Sparse input stays sparse (scanpy's implicit centring), backed input is read in row chunks
    (sparse chunks stay sparse); ``n_comps`` is capped by the data's shape.
    """
    x = load_float32(matrix)
    if log_normalize:
        library = np.asarray(x.sum(axis=1)).ravel()
        scale = 1e4 / np.maximum(library, 1e-12)
        x = (sp.diags(scale) @ x).log1p() if sp.issparse(x) else np.log1p(x * scale[:, None])
    n_comps = int(min(n_comps, x.shape[0] - 1, x.shape[1] - 1))
    adata = sc.AnnData(x)
    sc.pp.pca(adata, n_comps=n_comps, random_state=seed)
    return adata.obsm["X_pca"]


#: Fewest reference (control) cells of a batch to estimate its shift from; fewer: all its cells.
MIN_REFERENCE_CELLS = 3


def centre_batches(space: np.ndarray, batches: np.ndarray | None, reference: np.ndarray) -> np.ndarray:
    """Subtract from each batch's cells the mean of its reference cells (control), or of all its cells.

    Technical batch effects shift a batch's cells together; estimating the shift on control cells
    keeps perturbation effects that are unevenly spread over batches.
    """
    if batches is None:
        return space
    centred = space.copy()
    for batch in np.unique(batches):
        in_batch = batches == batch
        anchor = in_batch & reference
        centred[in_batch] -= space[anchor if anchor.sum() >= MIN_REFERENCE_CELLS else in_batch].mean(0)
    return centred


#: Labels larger than this are split into random sub-blocks for the guide (its cost stays linear):
#: :data:`~scgroove.align.AUTO_MAX_BLOCK_CELLS`, the split ``GROOVE.align`` makes by default too.
GUIDE_MAX_BLOCK_CELLS = AUTO_MAX_BLOCK_CELLS
#: Entropic regularisation of the structure guide's labeled GW. 0.01 since 0.2.0 (was 0.03): a
#: sharper guide matched better on the real screen (5 of 5 seeds) and on the four screen-scale
#: simulations (mean of 5 seeds each), and tied on the coarse CITE-seq and Multiome sets
#: (``benchmarks/results/coarse_real/``).
GUIDE_EPSILON = 0.01
#: Share of the final coupling's mass that :meth:`GROOVE.align <scgroove.GROOVE.align>` takes from the
#: structure prior of a guided model (``prior_share``, :func:`structure_prior`), the rest from labeled OT
#: on the latent.
PRIOR_SHARE = 0.75
#: Entropic regularisation of the structure prior's final labeled OT (:func:`structure_prior`).
PRIOR_EPSILON = 0.05


def pca_per_modality(
    mdata, modalities: tuple[str, ...], n_comps: int = 30, layers: dict[str, str | None] | None = None
) -> tuple[np.ndarray, ...]:
    """Each modality's own PCA, with the same number of components (one array per modality, in order).

    Non-negative data (counts) are library-normalised and log1p-transformed first; ``layers``
    names a layer per modality to use instead of ``X``.
    """
    layers = layers or {}
    n_comps = min(
        n_comps, *(mdata.mod[m].n_vars - 1 for m in modalities), *(mdata.mod[m].n_obs - 1 for m in modalities)
    )
    matrices = [mdata.mod[m].X if layers.get(m) is None else mdata.mod[m].layers[layers[m]] for m in modalities]
    spaces = [modality_pca(x, log_normalize=summarise_values(x).minimum >= 0, n_comps=n_comps) for x in matrices]
    return tuple(spaces)


def structure_guide(
    model,
    n_comps: int = 30,
    epsilon: float = GUIDE_EPSILON,
    max_block_cells: int | None = GUIDE_MAX_BLOCK_CELLS,
    mdata=None,
) -> Coupling:
    """Labeled Gromov-Wasserstein between each modality's own PCA, over the model's registered cells.

    This is the label-aware GW of Ryu et al. (2024): the coupling keeps mass inside label blocks
    and prefers matches that preserve each modality's within-group distances. As the guide of
    ``contrast="guided"`` it tells the contrastive term which cells of the other modality are
    likely the same state, which GroupCLIP's uniform same-label positives cannot.

    Parameters
    ----------
    model
        A :class:`~scgroove.GROOVE` set up on data.
    n_comps
        Principal components per modality.
    epsilon
        Entropic regularisation of labeled GW (relative to the normalised structure). Default
        :data:`GUIDE_EPSILON` (0.01, as :func:`~scgroove.align.labeled_gw`'s own default; the
        guide used 0.03 before 0.2.0): the contrast smooths a guide's per-group errors, so it
        gains from a guide that commits.
    max_block_cells
        Labels with more cells than this in a modality (usually the control group) are split at
        random into sub-blocks of at most this many cells (:func:`~scgroove.align.labeled_gw`):
        a random part of a few thousand cells still covers the label's states, and the guide's
        cost stays linear in the number of cells. ``None``: exact.
    mdata
        Data set up like the model's (default: the model's own).

    With batch covariates (shared by both modalities: donors) cells are coupled within their
    own batch, and each batch's PCA coordinates are first centred on its control cells
    (:func:`centre_batches`), so a batch shift does not pass for within-group structure.
    """
    problem = structure_problem(model, n_comps=n_comps, mdata=mdata)
    return problem.guide(epsilon, max_block_cells)


@dataclass
class StructureProblem:
    """Each modality's own PCA (batch-centred), the registered labels and strata: what guide and prior match."""

    spaces: list[np.ndarray]
    labels: list[np.ndarray]
    strata: list[np.ndarray | None]
    names: tuple[str, str]

    def guide(self, epsilon: float = GUIDE_EPSILON, max_block_cells: int | None = GUIDE_MAX_BLOCK_CELLS) -> Coupling:
        """Labeled GW between the spaces (:func:`structure_guide`)."""
        return self._align("labeled_gw", epsilon=epsilon, max_block_cells=max_block_cells)

    def prior(
        self, guide: Coupling, epsilon: float = PRIOR_EPSILON, max_block_cells: int | None = GUIDE_MAX_BLOCK_CELLS
    ) -> Coupling:
        """:func:`~scgroove.align.mapped_ot` between the spaces through ``guide`` (:func:`structure_prior`)."""
        return self._align("mapped_ot", guide=guide, epsilon=epsilon, max_block_cells=max_block_cells)

    def _align(self, method: str, **params) -> Coupling:
        return align_within_strata(*self.spaces, *self.labels, *self.strata, method=method, names=self.names, **params)


def structure_problem(model, *, n_comps: int = 30, mdata=None, within_batch: bool = True) -> StructureProblem:
    """The spaces, labels and strata of :func:`structure_guide` and :func:`structure_prior` (computed once).

    With a batch covariate the spaces are centred per batch; ``within_batch=False`` keeps the
    centring but couples across batches.
    """
    manager = model.adata_manager if mdata is None else model.get_anndata_manager(mdata, required=True)
    counts = [model.module.heads[str(m)].name == "nb" for m in (1, 2)]
    spaces = [modality_pca(manager.get_from_registry(X_KEYS[m]), counts[m - 1], n_comps) for m in (1, 2)]
    labels = [np.asarray(manager.get_from_registry(LABELS_KEYS[m])).reshape(-1) for m in (1, 2)]
    strata = [None, None]
    if BATCH_KEYS[1] in manager.data_registry:
        groups, _ = model._contrast_codes()
        control = model._control_code()
        strata = [np.asarray(manager.get_from_registry(BATCH_KEYS[m])).reshape(-1) for m in (1, 2)]
        for m in (1, 2):
            spaces[m - 1] = centre_batches(spaces[m - 1], strata[m - 1], groups[labels[m - 1]] == control)
    categories = model._label_categories()
    named = [alignment_labels(categories, codes) for codes in labels]
    return StructureProblem(spaces, named, strata if within_batch else [None, None], tuple(model.modalities))


def structure_prior(
    model,
    *,
    guide: Coupling | None = None,
    n_comps: int = 30,
    epsilon: float = PRIOR_EPSILON,
    max_block_cells: int | None = GUIDE_MAX_BLOCK_CELLS,
    mdata=None,
    within_batch: bool = True,
) -> Coupling:
    """The coupling a guided GROOVE keeps as a prior: each modality's PCA matched through one shared map.

    :func:`~scgroove.align.mapped_ot` between the spaces of :func:`structure_guide`: modality 1's
    PCA is mapped onto modality 2's by one affine map fitted on all cells to ``guide``'s
    barycentres, then matched by labeled OT within labels (and batches). :meth:`GROOVE.align
    <scgroove.GROOVE.align>` mixes it with the latent's coupling (``prior_share``).

    Parameters
    ----------
    model
        A :class:`~scgroove.GROOVE` set up on data.
    guide
        The coupling to fit the map through; default :func:`structure_guide` (computed here).
    n_comps, max_block_cells, mdata
        As in :func:`structure_guide`.
    epsilon
        Entropic regularisation of the final labeled OT (:data:`PRIOR_EPSILON`).
    within_batch
        With a batch covariate: couple within batches (default), as :meth:`GROOVE.align
        <scgroove.GROOVE.align>` does.
    """
    problem = structure_problem(model, n_comps=n_comps, mdata=mdata, within_batch=within_batch)
    guide = problem.guide(max_block_cells=max_block_cells) if guide is None else guide
    return problem.prior(guide, epsilon, max_block_cells)


def guide_matrix(guide, n1: int, n2: int) -> sp.csr_matrix:
    """The guide as an ``(n1, n2)`` CSR matrix, checked against the registered cell counts."""
    matrix = guide.to_sparse() if isinstance(guide, Coupling) else guide
    if not sp.issparse(matrix):
        raise TypeError(f"guide must be a Coupling or a scipy sparse matrix, got {type(guide).__name__}.")
    if matrix.shape != (n1, n2):
        raise ValueError(f"guide has shape {matrix.shape}; the registered modalities have {(n1, n2)} cells.")
    return sp.csr_matrix(matrix)

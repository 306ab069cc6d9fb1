"""Coupling: the result of every aligner, stored as per-label blocks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from scgroove._matrix import in_memory, row_chunks

#: ``top_k="auto"`` (the default of :meth:`GROOVE.align <scgroove.GROOVE.align>`, :func:`scgroove.tl.match`
#: and ``scgroove run``): a coupling of more than :data:`AUTO_TOP_K_ABOVE` entries keeps each cell's
#: :data:`AUTO_TOP_K` largest. On the screen-scale simulation, 50 entries per cell moved 0.7% of the
#: mass and left every matching score within 1% (``benchmarks/coupling_cap.py``).
AUTO_TOP_K = 50
AUTO_TOP_K_ABOVE = 10_000_000


@dataclass
class CouplingBlock:
    """Mass between some rows of modality 1 and some rows of modality 2.

    Attributes
    ----------
    rows, cols
        Row indices into modality 1 and modality 2.
    plan
        ``(len(rows), len(cols))`` dense array or scipy sparse matrix of transported mass.
    label
        Group label of the block (``None`` for an unlabeled coupling).
    """

    rows: np.ndarray
    cols: np.ndarray
    plan: np.ndarray | sp.spmatrix
    label: str | None = None

    def __repr__(self) -> str:
        return f"CouplingBlock(label={self.label!r}, {len(self.rows)} x {len(self.cols)})"


@dataclass
class Coupling:
    """A (block-sparse) coupling between the ``n1`` cells of modality 1 and ``n2`` of modality 2.

    Labeled aligners return one block per label present in both modalities, so no ``n1 x n2``
    dense array is ever built; unlabeled ones return one block. Total mass is 1. Cells whose label
    is absent from the other modality belong to no block and carry no mass (no partner).

    Attributes
    ----------
    n1, n2
        Number of cells of each modality.
    blocks
        The :class:`CouplingBlock` s.
    method
        Aligner that produced it.
    params
        Parameters used (JSON-friendly).
    info
        Solver extras: ``n_iter``, ``marginal_error``, ``change``, ... (per method).
    converged
        Whether the solver met its stopping criterion; ``None`` for methods that have none
        (kNN) or when unknown (a matrix read back without its report).
    cost
        The solver's objective at the returned coupling (transport cost, GW or COOT distance),
        where the method reports one; ``None`` otherwise.
    """

    n1: int
    n2: int
    blocks: list[CouplingBlock]
    method: str = ""
    params: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    converged: bool | None = None
    cost: float | None = None

    def __repr__(self) -> str:  # one line: a coupling of a screen has thousands of blocks of arrays
        state = {True: "converged", False: "not converged", None: "convergence unknown"}[self.converged]
        return (
            f"Coupling({self.n1} x {self.n2} cells, {len(self.blocks)} block(s), method={self.method!r}, "
            f"{state}, params={self.params})"
        )

    @classmethod
    def from_matrix(cls, matrix, method: str = "") -> Coupling:
        """One block holding an ``(n1, n2)`` dense or scipy sparse coupling matrix."""
        matrix = matrix if sp.issparse(matrix) else np.asarray(matrix, dtype=np.float64)
        n1, n2 = matrix.shape
        return cls(n1, n2, [CouplingBlock(np.arange(n1), np.arange(n2), matrix)], method)

    def transpose(self) -> Coupling:
        """The same coupling seen from modality 2 (rows) to modality 1 (columns)."""
        blocks = [CouplingBlock(b.cols, b.rows, b.plan.T, b.label) for b in self.blocks]
        return Coupling(self.n2, self.n1, blocks, self.method, self.params, self.info, self.converged, self.cost)

    def to_sparse(self) -> sp.csr_matrix:
        """The coupling as an ``(n1, n2)`` CSR matrix (total mass 1), without explicit zeros."""
        if self._rows_partitioned_by_dense_blocks():
            return self._dense_blocks_to_csr()
        rows, cols, values = [], [], []
        for block in self.blocks:
            coo = sp.coo_matrix(block.plan)
            rows.append(block.rows[coo.row])
            cols.append(block.cols[coo.col])
            values.append(coo.data)
        if not rows:
            return sp.csr_matrix((self.n1, self.n2))
        return sp.csr_matrix(
            (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=(self.n1, self.n2)
        )

    def _rows_partitioned_by_dense_blocks(self) -> bool:
        """Whether every block is dense with sorted columns and no cell of modality 1 is in two blocks."""
        if not self.blocks or not all(isinstance(b.plan, np.ndarray) for b in self.blocks):
            return False
        if any(len(b.cols) > 1 and np.any(np.diff(b.cols) <= 0) for b in self.blocks):
            return False
        seen = np.zeros(self.n1, dtype=np.int64)
        for block in self.blocks:
            np.add.at(seen, block.rows, 1)
        return bool(seen.max() <= 1)

    def _dense_blocks_to_csr(self) -> sp.csr_matrix:
        """CSR straight from dense blocks whose rows are disjoint, without COO triplets or a sort.

        Each row's entries are one row of its block's plan, written in place into the final arrays
        (its columns are the block's sorted columns): no intermediate copy of the entries, which in
        a fresh process costs as much as the copying itself.
        """
        row_length = np.zeros(self.n1, dtype=np.int64)
        for block in self.blocks:
            row_length[block.rows] = len(block.cols)
        indptr = np.concatenate([[0], np.cumsum(row_length)])
        index_dtype = np.int32 if max(indptr[-1], self.n2) < np.iinfo(np.int32).max else np.int64
        indices = np.empty(indptr[-1], dtype=index_dtype)
        data = np.empty(indptr[-1], dtype=np.result_type(*[b.plan.dtype for b in self.blocks]))
        for block in self.blocks:
            step = max(1, 2**16 // max(1, len(block.cols)))  # small temporaries, also for one huge block
            offsets = np.arange(len(block.cols))
            for start in range(0, len(block.rows), step):
                part = slice(start, start + step)
                positions = indptr[block.rows[part]][:, None] + offsets
                indices[positions] = block.cols
                data[positions] = block.plan[part]
        matrix = sp.csr_matrix((data, indices, indptr.astype(index_dtype)), shape=(self.n1, self.n2))
        matrix.has_sorted_indices = True
        matrix.eliminate_zeros()
        return matrix

    @property
    def row_mass(self) -> np.ndarray:
        """Mass carried by each cell of modality 1."""
        mass = np.zeros(self.n1)
        for block in self.blocks:
            mass[block.rows] += np.asarray(block.plan.sum(axis=1)).ravel()
        return mass

    def pull(self, values, normalize: bool = True, rows: np.ndarray | None = None, dtype=np.float64) -> np.ndarray:
        r"""Move per-cell values of modality 2 to the cells of modality 1 (moscot's *pull*).

        :math:`\hat y_i = \sum_j T_{ij} y_j`, divided by :math:`\sum_j T_{ij}` with
        ``normalize`` (the coupling-weighted mean of a cell's partners: the *barycentric
        projection*, used by imputation and the barycentric metrics).

        Parameters
        ----------
        values
            ``(n2,)`` or ``(n2, d)`` values of modality 2 (features, latents, one-hot labels ...):
            numpy, DataFrame, scipy sparse or a backed on-disk matrix, read in row chunks and never
            densified whole.
        normalize
            Divide by each cell's mass; rows of cells without mass are then NaN.
        rows
            Only these modality-1 cells (in this order), e.g. one chunk of a large imputation.
        dtype
            Of the result (float32 halves the memory of a large imputation).

        Returns
        -------
        ``(len(rows) or n1, d)`` array.
        """
        if isinstance(values, pd.DataFrame | pd.Series):
            values = values.to_numpy()
        if values.shape[0] != self.n2:
            raise ValueError(f"values must have n2 = {self.n2} rows, got {values.shape[0]}.")
        if rows is None and in_memory(values):
            transported = self._pull_blockwise(values, dtype)
            return self._normalized(transported, self.row_mass) if normalize else transported
        matrix = self.to_sparse()
        mass = self.row_mass
        if rows is not None:
            matrix, mass = matrix[rows], mass[rows]
        transported = np.zeros((matrix.shape[0], *values.shape[1:]), dtype=dtype)
        matrix = sp.csc_matrix(matrix)  # column slices below are cheap in CSC
        start = 0
        for chunk in row_chunks(values):
            stop = start + chunk.shape[0]
            chunk = chunk if sp.issparse(chunk) else np.asarray(chunk, dtype=np.float64)
            product = matrix[:, start:stop] @ chunk
            transported += product.toarray() if sp.issparse(product) else np.asarray(product)
            start = stop
        return self._normalized(transported, mass) if normalize else transported

    def _pull_blockwise(self, values, dtype) -> np.ndarray:
        """``T @ values`` one block at a time (in-memory values): cost linear in the blocks' sizes."""
        transported = np.zeros((self.n1, *values.shape[1:]), dtype=dtype)
        for block in self.blocks:
            part = values[block.cols]
            if not sp.issparse(part):
                part = np.asarray(part, dtype=np.float64)
            product = block.plan @ part
            transported[block.rows] += product.toarray() if sp.issparse(product) else np.asarray(product)
        return transported

    @staticmethod
    def _normalized(transported: np.ndarray, mass: np.ndarray) -> np.ndarray:
        out = np.full_like(transported, np.nan)
        keep = mass > 0
        out[keep] = transported[keep] / mass[keep].reshape(-1, *([1] * (transported.ndim - 1)))
        return out

    def push(self, values, normalize: bool = True) -> np.ndarray:
        r"""Move per-cell values of modality 1 to the cells of modality 2 (moscot's *push*).

        :math:`\hat x_j = \sum_i T_{ij} x_i` (divided by :math:`\sum_i T_{ij}` with
        ``normalize``); the mirror image of :meth:`pull`, with the same inputs.
        """
        return self.transpose().pull(values, normalize)

    def barycentric_projection(self, y2) -> np.ndarray:
        r"""``pull(y2, normalize=True)``: :math:`\hat y_i = \sum_j T_{ij} y_j / \sum_j T_{ij}`.

        Parameters
        ----------
        y2
            ``(n2, d)`` values of modality 2, as in :meth:`pull`.

        Returns
        -------
        ``(n1, d)`` float64 array; rows of cells without mass are NaN.
        """
        return self.pull(y2, normalize=True)

    def coupled_latents(self, z1, z2, *, share: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
        r"""Both modalities' cells moved ``share`` of the way towards the mean of their partners.

        :math:`\tilde z^1_i = (1 - s) z^1_i + s \sum_j T_{ij} z^2_j / \sum_j T_{ij}` and the
        mirror image for modality 2 (:meth:`pull` and :meth:`push`); at :math:`s = 1/2` a constant
        offset between the modalities cancels. Cells without mass keep their own position.
        :func:`scgroove.tl.coupled_latent` writes it into a MuData.

        Parameters
        ----------
        z1, z2
            ``(n1, d)`` and ``(n2, d)`` positions in one shared space.
        share
            In ``[0, 1]``; 0 returns the inputs (as float64).

        Returns
        -------
        The moved ``(n1, d)`` and ``(n2, d)`` float64 arrays.
        """
        self.check_weight(share, "share")
        z1, z2 = np.asarray(z1, dtype=np.float64), np.asarray(z2, dtype=np.float64)
        if z1.ndim != 2 or z2.ndim != 2 or z1.shape[1] != z2.shape[1]:
            raise ValueError(f"z1 and z2 must be (cells, d) in one shared space; got shapes {z1.shape} and {z2.shape}.")
        if (len(z1), len(z2)) != (self.n1, self.n2):
            raise ValueError(
                f"The coupling couples {self.n1} x {self.n2} cells; z1 and z2 hold {len(z1)} and {len(z2)}."
            )
        moved = []
        for own, mean in ((z1, self.pull(z2)), (z2, self.push(z1))):
            lonely = np.isnan(mean).any(axis=1)
            moved.append(np.where(lonely[:, None], own, (1 - share) * own + share * np.nan_to_num(mean)))
        return moved[0], moved[1]

    def transfer_labels(self, labels2) -> pd.DataFrame:
        """Each modality-1 cell's most likely label of modality 2, with the share of its mass on it.

        Labels are pulled as one-hot columns (:meth:`pull`); ``confidence`` is the share of the
        cell's mass that lands on cells of the predicted label (1 for any labeled coupling's own
        labels; informative for other annotations, e.g. cell types). Cells without mass get NaN.
        """
        codes, names = pd.factorize(np.asarray(labels2).astype(str), sort=True)
        one_hot = sp.csr_matrix((np.ones(len(codes)), (np.arange(len(codes)), codes)), shape=(len(codes), len(names)))
        shares = self.pull(one_hot, normalize=True)
        has_mass = ~np.isnan(shares).any(1)
        best = np.where(has_mass, np.nan_to_num(shares).argmax(1), 0)
        return pd.DataFrame(
            {
                "label": pd.Categorical(np.where(has_mass, names[best], None), categories=names),
                "confidence": np.where(has_mass, np.nan_to_num(shares).max(1), np.nan),
            }
        )

    def top_k(self, k: int) -> Coupling:
        r"""Keep each modality-1 cell's ``k`` largest entries, rescaled to the cell's mass.

        Storage drops from the label blocks' sizes to at most ``k`` entries per cell. The mass
        this moves, :math:`\frac{1}{2} \sum_{ij} |T_{ij} - T^{(k)}_{ij}|` (0 to 1), is recorded
        in ``info["top_k_mass_moved"]``: each cell keeps its mass, column sums change by that
        much. Imputation from the sparse coupling is then the mean of each cell's ``k`` best
        partners, weighted as before.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}.")
        blocks, moved = [], 0.0
        for block in self.blocks:
            sparse, block_moved = _row_top_k(block.plan, k)
            blocks.append(CouplingBlock(block.rows, block.cols, sparse, block.label))
            moved += block_moved
        info = {**self.info, "top_k": k, "top_k_mass_moved": moved}
        return Coupling(self.n1, self.n2, blocks, self.method, self.params, info, self.converged, self.cost)

    def mixed_with(self, prior: Coupling, *, weight: float) -> Coupling:
        r"""``(1 - weight)`` times this coupling plus ``weight`` times ``prior``, on this coupling's blocks.

        A convex combination of two couplings is a coupling; its barycentric imputation is the
        same combination of theirs. The result keeps this coupling's blocks (labels, strata): the
        part of ``prior``'s mass outside them is dropped and the result rescaled to total mass 1
        (recorded in ``info["prior_mass_outside"]``). Dense blocks stay dense (the prior is added
        in place of a copy), sparse blocks gain the prior's entries.

        Parameters
        ----------
        prior
            A coupling of the same cells (``n1 x n2``), e.g. :func:`scgroove.model.structure_guide`.
        weight
            The prior's share, in ``[0, 1]``; 0 returns this coupling unchanged.
        """
        self.check_weight(weight, "weight")
        if (prior.n1, prior.n2) != (self.n1, self.n2):
            raise ValueError(f"prior couples {prior.n1} x {prior.n2} cells; this coupling {self.n1} x {self.n2}.")
        if weight == 0.0:
            return self
        prior_matrix = prior.to_sparse()
        prior_total = float(prior_matrix.sum())
        if prior_total <= 0:
            raise ValueError("prior carries no mass.")
        prior_matrix = prior_matrix / prior_total
        blocks, captured = [], 0.0
        for block in self.blocks:
            inside = prior_matrix[block.rows][:, block.cols].tocoo()
            captured += float(inside.sum())
            if sp.issparse(block.plan):
                plan = sp.csr_matrix((1.0 - weight) * block.plan + weight * inside)
            else:
                plan = (1.0 - weight) * np.asarray(block.plan, dtype=np.float64)
                plan[inside.row, inside.col] += weight * inside.data
            blocks.append(CouplingBlock(block.rows, block.cols, plan, block.label))
        total = (1.0 - weight) * sum(float(b.plan.sum()) for b in self.blocks) + weight * captured
        if total <= 0:
            raise ValueError("the mixture carries no mass.")
        for block in blocks:
            block.plan = block.plan / total
        params = {**self.params, "prior_method": prior.method, "prior_weight": float(weight)}
        info = {**self.info, "prior_mass_outside": max(0.0, 1.0 - captured)}
        return Coupling(self.n1, self.n2, blocks, self.method, params, info, self.converged, None)

    def cap_entries(self, top_k: int | Literal["auto"] | None = "auto") -> Coupling:
        """The coupling bounded in entries per cell, as scgroove stores it.

        Parameters
        ----------
        top_k
            ``"auto"``: :meth:`top_k` at :data:`AUTO_TOP_K` (50) when the coupling holds more than
            :data:`AUTO_TOP_K_ABOVE` (10^7) entries, itself otherwise, so that what is stored grows
            linearly with the cells (at most 50 per cell: 5 x 10^7 entries at 10^6 cells, against the
            label blocks' sizes); an integer: :meth:`top_k` at that value; ``None``: the full coupling.
        """
        self.check_top_k(top_k)
        if top_k is None:
            return self
        if top_k == "auto":
            return self.top_k(AUTO_TOP_K) if self.n_entries > AUTO_TOP_K_ABOVE else self
        return self.top_k(int(top_k))

    @staticmethod
    def check_weight(weight, name: str = "weight", allow_none: bool = False) -> None:
        """Refuse a mixture weight (:meth:`mixed_with`) that is not a number in ``[0, 1]`` (before any work)."""
        if allow_none and weight is None:
            return
        if isinstance(weight, bool) or not isinstance(weight, int | float | np.floating) or not 0 <= weight <= 1:
            raise ValueError(f"{name} must be a number in [0, 1]{' or None' if allow_none else ''}, got {weight!r}.")

    @staticmethod
    def check_top_k(top_k) -> None:
        """Refuse a ``top_k`` that :meth:`cap_entries` cannot take (call it before any work is done)."""
        if top_k is None or (isinstance(top_k, str) and top_k == "auto"):
            return
        if isinstance(top_k, bool) or not isinstance(top_k, int | np.integer) or top_k < 1:
            raise ValueError(f"top_k must be a positive integer, 'auto' or None, got {top_k!r}.")

    @property
    def n_entries(self) -> int:
        """Entries stored in all blocks (a dense block counts every pair)."""
        return int(sum(b.plan.nnz if sp.issparse(b.plan) else np.asarray(b.plan).size for b in self.blocks))

    def max_entries_per_row(self) -> int:
        """The most entries any modality-1 cell holds (what :meth:`top_k` bounds)."""
        counts = np.zeros(self.n1, dtype=np.int64)
        for block in self.blocks:
            if sp.issparse(block.plan):
                np.add.at(counts, block.rows, np.diff(sp.csr_matrix(block.plan).indptr))
            else:
                np.add.at(counts, block.rows, block.plan.shape[1])
        return int(counts.max()) if self.n1 else 0

    def argmax_match(self) -> np.ndarray:
        """Row of modality 2 receiving most of each modality-1 cell's mass (-1: no mass)."""
        match = np.full(self.n1, -1, dtype=np.int64)
        best = np.zeros(self.n1)
        for block in self.blocks:
            plan = sp.csr_matrix(block.plan) if sp.issparse(block.plan) else block.plan
            if plan.shape[1] == 0:
                continue
            arg = np.asarray(plan.argmax(axis=1)).ravel()
            value = np.asarray(plan.max(axis=1).toarray() if sp.issparse(plan) else plan.max(axis=1)).ravel()
            better = value > best[block.rows]
            match[block.rows[better]] = block.cols[arg[better]]
            best[block.rows[better]] = value[better]
        return match

    def label_mass(self, labels1=None, labels2=None) -> pd.DataFrame:
        """Mass between label pairs (rows: modality-1 labels, columns: modality-2 labels).

        For a labeled coupling, labels default to the blocks' labels (a diagonal table). For an
        unlabeled one, pass ``labels1``/``labels2`` to see how much mass crosses labels.
        """
        if labels1 is None or labels2 is None:
            if any(block.label is None for block in self.blocks):
                raise ValueError("This coupling has no block labels: pass labels1 and labels2.")
            mass = pd.Series([float(block.plan.sum()) for block in self.blocks])
            mass = mass.groupby([str(block.label) for block in self.blocks], sort=False).sum()  # split labels
            return pd.DataFrame(np.diag(mass.to_numpy()), index=mass.index, columns=mass.index)
        codes1, names1 = pd.factorize(np.asarray(labels1).astype(str), sort=True)
        codes2, names2 = pd.factorize(np.asarray(labels2).astype(str), sort=True)
        T = self.to_sparse().tocoo()
        table = sp.coo_matrix((T.data, (codes1[T.row], codes2[T.col])), shape=(len(names1), len(names2))).toarray()
        return pd.DataFrame(table, index=names1, columns=names2)

    def off_label_share(self, labels1, labels2) -> tuple[np.ndarray, np.ndarray]:
        """Each cell's share of its mass that goes to cells of another label, for both modalities.

        0 for a cell matched inside its label, 1 for one matched wholly elsewhere, NaN for a cell
        with no mass. From :func:`~scgroove.align.soft_labeled_ot` it scores how unlikely a
        cell's label is given its state (a wrong guide call, a droplet of two cells).

        Returns
        -------
        ``(share1, share2)``, arrays of ``n1`` and ``n2`` values.
        """
        labels1, labels2 = np.asarray(labels1).astype(str), np.asarray(labels2).astype(str)
        if len(labels1) != self.n1 or len(labels2) != self.n2:
            raise ValueError(
                f"labels1/labels2 must have {self.n1}/{self.n2} entries, got {len(labels1)}/{len(labels2)}."
            )
        T = self.to_sparse().tocoo()
        off = labels1[T.row] != labels2[T.col]
        shares = []
        for index, n in ((T.row, self.n1), (T.col, self.n2)):
            mass = np.bincount(index, weights=T.data, minlength=n)
            crossing = np.bincount(index[off], weights=T.data[off], minlength=n)
            shares.append(np.divide(crossing, mass, out=np.full(n, np.nan), where=mass > 0))
        return shares[0], shares[1]

    def to_uns(self) -> dict:
        """A dict that ``write_h5mu`` can store.

        Keys: ``"matrix"`` (the ``(n1, n2)`` CSR matrix), ``"method"``, ``"params"``, ``"info"``
        (scalar solver extras), ``"converged"`` and ``"cost"`` (when known), and for a labeled
        coupling ``"block_labels"`` with ``"row_block"``/``"col_block"`` (each cell's block index,
        -1: in no block), so :meth:`from_uns` gives back the blocks.
        """
        info = {k: v for k, v in self.info.items() if isinstance(v, bool | int | float | str)}
        stored = {"matrix": self.to_sparse(), "method": self.method, "params": _plain(self.params), "info": info}
        if self.converged is not None:
            stored["converged"] = bool(self.converged)
        if self.cost is not None:
            stored["cost"] = float(self.cost)
        if self.blocks and all(block.label is not None for block in self.blocks):
            row_block, col_block = np.full(self.n1, -1, dtype=np.int64), np.full(self.n2, -1, dtype=np.int64)
            for index, block in enumerate(self.blocks):
                row_block[block.rows], col_block[block.cols] = index, index
            stored.update(
                block_labels=np.array([str(b.label) for b in self.blocks]), row_block=row_block, col_block=col_block
            )
        return stored

    @classmethod
    def from_uns(cls, stored: dict) -> Coupling:
        """Rebuild a coupling written by :meth:`to_uns` (its label blocks, when it had some)."""
        matrix = sp.csr_matrix(stored["matrix"])
        n1, n2 = matrix.shape
        if "block_labels" in stored:
            # each cell's block index -> the cells of each block, in one pass per modality
            rows_of = pd.Series(np.arange(n1)).groupby(np.asarray(stored["row_block"])).indices
            cols_of = pd.Series(np.arange(n2)).groupby(np.asarray(stored["col_block"])).indices
            blocks = []
            for index, label in enumerate(np.asarray(stored["block_labels"]).astype(str)):
                rows, cols = rows_of.get(index, np.array([], int)), cols_of.get(index, np.array([], int))
                blocks.append(CouplingBlock(rows, cols, matrix[rows][:, cols], label))
        else:
            blocks = [CouplingBlock(np.arange(n1), np.arange(n2), matrix)]
        converged = stored.get("converged")
        cost = stored.get("cost")
        return cls(
            n1,
            n2,
            blocks,
            str(stored.get("method", "")),
            dict(stored.get("params", {})),
            dict(stored.get("info", {})),
            None if converged is None else bool(converged),
            None if cost is None else float(cost),
        )


def _row_top_k(plan, k: int) -> tuple[sp.csr_matrix, float]:
    r"""Each row's ``k`` largest entries, rescaled to the row's mass, and the mass this moves.

    Works on the block's own storage (no dense copy of a sparse block). Rescaling keeps every row's
    mass, so the mass moved is the mass dropped: :math:`\frac{1}{2}\sum |T - T^{(k)}|`.
    """
    csr = sp.csr_matrix(plan) if sp.issparse(plan) else None
    if csr is None:
        plan = np.asarray(plan)
        if plan.shape[1] <= k:
            return sp.csr_matrix(plan), 0.0
        keep = np.argpartition(-plan, k - 1, axis=1)[:, :k]
        kept = np.take_along_axis(plan, keep, axis=1)
        rows = np.repeat(np.arange(plan.shape[0]), k)
        csr = sp.csr_matrix((kept.ravel(), (rows, keep.ravel())), shape=plan.shape)
        mass = plan.sum(1)
    else:
        csr.sum_duplicates()
        mass = np.asarray(csr.sum(1)).ravel()
        lengths = np.diff(csr.indptr)
        if lengths.max(initial=0) > k:
            row_of = np.repeat(np.arange(csr.shape[0]), lengths)
            order = np.lexsort((-csr.data, row_of))  # by row, largest first within a row
            rank = np.arange(csr.nnz) - csr.indptr[row_of[order]]
            chosen = order[rank < k]
            csr = sp.csr_matrix((csr.data[chosen], (row_of[chosen], csr.indices[chosen])), shape=csr.shape)
    kept_mass = np.asarray(csr.sum(1)).ravel()
    scale = np.divide(mass, kept_mass, out=np.zeros_like(mass), where=kept_mass > 0)
    csr = sp.diags(scale) @ csr
    return csr.tocsr(), float((mass - kept_mass).sum())


def _plain(params: dict) -> dict:
    """Parameters reduced to what h5 attributes hold (numbers, strings, bools)."""
    plain = {}
    for key, value in params.items():
        if isinstance(value, bool | int | float | str):
            plain[key] = value
        elif value is None:
            plain[key] = "None"
        elif isinstance(value, dict):
            plain[key] = _plain(value)
        else:
            plain[key] = str(value)
    return plain

"""Coupling: the result of every aligner, stored as per-label blocks."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp


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
        Solver report: ``converged`` (bool), ``n_iter``, ``marginal_error``, and per-method extras.
    """

    n1: int
    n2: int
    blocks: list[CouplingBlock]
    method: str = ""
    params: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    def to_sparse(self) -> sp.csr_matrix:
        """The coupling as an ``(n1, n2)`` CSR matrix (total mass 1)."""
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

    @property
    def row_mass(self) -> np.ndarray:
        """Mass carried by each cell of modality 1."""
        mass = np.zeros(self.n1)
        for block in self.blocks:
            mass[block.rows] += np.asarray(block.plan.sum(axis=1)).ravel()
        return mass

    @property
    def total_mass(self) -> float:
        return float(sum(block.plan.sum() for block in self.blocks))

    def barycentric_projection(self, y2) -> np.ndarray:
        r"""Project modality-1 cells onto modality-2 values: :math:`\hat y_i = \sum_j T_{ij} y_j / \sum_j T_{ij}`.

        Parameters
        ----------
        y2
            ``(n2, d)`` array (features, latents, ...) or DataFrame of modality 2.

        Returns
        -------
        ``(n1, d)`` array; rows of cells without mass are NaN.
        """
        values = np.asarray(y2, dtype=np.float64)
        if values.shape[0] != self.n2:
            raise ValueError(f"y2 must have n2 = {self.n2} rows, got {values.shape[0]}.")
        out = np.full((self.n1, *values.shape[1:]), np.nan)
        for block in self.blocks:
            mass = np.asarray(block.plan.sum(axis=1)).ravel()
            keep = mass > 0
            projected = np.asarray(block.plan @ values[block.cols])
            out[block.rows[keep]] = projected[keep] / mass[keep].reshape(-1, *([1] * (values.ndim - 1)))
        return out

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
            names = [str(block.label) for block in self.blocks]
            return pd.DataFrame(np.diag([float(block.plan.sum()) for block in self.blocks]), index=names, columns=names)
        codes1, names1 = pd.factorize(np.asarray(labels1).astype(str), sort=True)
        codes2, names2 = pd.factorize(np.asarray(labels2).astype(str), sort=True)
        T = self.to_sparse().tocoo()
        table = sp.coo_matrix((T.data, (codes1[T.row], codes2[T.col])), shape=(len(names1), len(names2))).toarray()
        return pd.DataFrame(table, index=names1, columns=names2)

    def to_uns(self) -> dict:
        """A dict that ``write_h5mu`` can store: the CSR matrix, method, params and solver info."""
        info = {k: v for k, v in self.info.items() if isinstance(v, bool | int | float | str)}
        return {"matrix": self.to_sparse(), "method": self.method, "params": _plain(self.params), "info": info}

    @classmethod
    def from_uns(cls, stored: dict) -> Coupling:
        """Rebuild a coupling written by :meth:`to_uns` (one sparse block)."""
        matrix = sp.csr_matrix(stored["matrix"])
        n1, n2 = matrix.shape
        block = CouplingBlock(np.arange(n1), np.arange(n2), matrix)
        return cls(
            n1, n2, [block], str(stored.get("method", "")), dict(stored.get("params", {})), dict(stored.get("info", {}))
        )


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

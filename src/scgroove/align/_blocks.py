"""Label blocks of a labeled coupling and their masses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

BlockMass = Literal["source", "target"]


@dataclass
class LabelBlocks:
    """Rows of each modality per shared label, and the mass each block carries."""

    labels: list[str]
    rows: list[np.ndarray]
    cols: list[np.ndarray]
    mass: np.ndarray

    @property
    def sizes(self) -> tuple[np.ndarray, np.ndarray]:
        return np.array([len(r) for r in self.rows]), np.array([len(c) for c in self.cols])


def label_strings(labels) -> pd.Series:
    """Labels as strings, a missing label (``None``/NaN: a cell with no perturbation call) kept missing."""
    labels = pd.Series(np.asarray(labels, dtype=object))
    missing = labels.isna()
    return labels.astype(str).where(~missing, None)


def label_blocks(
    labels1, labels2, block_mass: BlockMass = "source", max_block_cells: int | None = None, seed: int = 0
) -> LabelBlocks:
    """Group the cells of both modalities by label; only labels present in both get a block.

    Convention for the masses (stated in every labeled aligner's docstring): with
    ``block_mass="source"`` every modality-1 cell of a shared label carries the same mass, so a
    block's mass is its share of those cells; inside a block, modality-2 cells share the block's
    mass equally. ``"target"`` is the mirror image. Cells of labels present in one modality only,
    and cells with no label (``None``/NaN), belong to no block.

    With ``max_block_cells``, a label with more cells than that in either modality (typically the
    control group, a fixed share of a screen) is split at random into sub-blocks of at most
    ``max_block_cells`` cells per modality, all carrying the label's name: each cell is then
    matched within a random part of its label, so the cost of that label grows linearly with its
    size instead of quadratically. Masses follow the same convention (per-cell masses unchanged).
    """
    labels1, labels2 = label_strings(labels1), label_strings(labels2)
    groups1 = labels1.groupby(labels1, sort=True, dropna=True).indices
    groups2 = labels2.groupby(labels2, sort=True, dropna=True).indices
    shared = sorted(set(groups1) & set(groups2))
    if not shared:
        raise ValueError("No label occurs in both modalities: a labeled aligner has nothing to match.")
    rows = [np.asarray(groups1[label]) for label in shared]
    cols = [np.asarray(groups2[label]) for label in shared]
    if max_block_cells is not None:
        shared, rows, cols = _split_large(shared, rows, cols, max_block_cells, seed)
    if block_mass == "source":
        sizes = np.array([len(r) for r in rows], dtype=float)
    elif block_mass == "target":
        sizes = np.array([len(c) for c in cols], dtype=float)
    else:
        raise ValueError(f"block_mass must be 'source' or 'target', got {block_mass!r}.")
    return LabelBlocks(shared, rows, cols, sizes / sizes.sum())


def _split_large(labels, rows, cols, max_block_cells: int, seed: int):
    """Split every label with more than ``max_block_cells`` cells in a modality into random parts."""
    if int(max_block_cells) < 1:
        raise ValueError(f"max_block_cells must be a positive number of cells, got {max_block_cells!r}.")
    rng = np.random.default_rng(seed)
    out_labels, out_rows, out_cols = [], [], []
    for label, r, c in zip(labels, rows, cols, strict=True):
        parts = int(np.ceil(max(len(r), len(c)) / max_block_cells))
        parts = max(1, min(parts, len(r), len(c)))  # every part keeps cells of both modalities
        row_parts = np.array_split(rng.permutation(r), parts) if parts > 1 else [r]
        col_parts = np.array_split(rng.permutation(c), parts) if parts > 1 else [c]
        for part_rows, part_cols in zip(row_parts, col_parts, strict=True):
            out_labels.append(label)
            out_rows.append(np.sort(part_rows))
            out_cols.append(np.sort(part_cols))
    return out_labels, out_rows, out_cols


#: Split size of ``max_block_cells="auto"`` (:meth:`GROOVE.align <scgroove.GROOVE.align>`, the structure
#: guide and prior): labels of more cells than this in a modality are matched within random parts of
#: this many cells, so a control group that is a fixed share of a screen costs time linear in its size.
AUTO_MAX_BLOCK_CELLS = 2000


#: Separates a label from its stratum in :func:`stratified_labels` (never in a real label).
STRATUM_SEPARATOR = "\x1f"


def stratified_labels(labels: np.ndarray, strata: np.ndarray | None) -> np.ndarray:
    r"""Each cell's label joined with its stratum, so a labeled aligner matches within both.

    Given to any labeled aligner, these labels make one block per (label, stratum), e.g. a
    perturbation within one donor, which is how :meth:`GROOVE.align <scgroove.GROOVE.align>`
    matches within ``batch_key``. Use it to give a reference the same strata as GROOVE.

    Parameters
    ----------
    labels
        Each cell's label; missing values stay missing (the cell is in no block).
    strata
        Each cell's stratum (donor, batch), or ``None`` for the labels alone.

    Returns
    -------
    ``label`` + the unit separator (``\x1f``) + ``stratum`` per cell, as an object array of
    strings (the labels as strings when ``strata`` is ``None``).
    """
    labels = label_strings(labels)
    if strata is None:
        return labels.to_numpy()
    stratified = labels + STRATUM_SEPARATOR + pd.Series(np.asarray(strata).astype(str))
    return stratified.where(labels.notna(), None).to_numpy()


def strip_strata(coupling):
    """The coupling with each block named by its label alone (its strata are parts of the label)."""
    for block in coupling.blocks:
        if block.label is not None:
            block.label = str(block.label).split(STRATUM_SEPARATOR)[0]
    return coupling


def one_hot_labels(labels1, labels2) -> tuple[np.ndarray, np.ndarray]:
    """The label-only latents: each modality's labels as one-hot columns over one shared category list.

    The floor every learned latent is compared with: any aligner run on these knows nothing but
    the labels (labeled OT on them spreads each cell uniformly over its label's block).

    Parameters
    ----------
    labels1, labels2
        Each modality's per-cell labels.

    Returns
    -------
    Two dense float32 arrays of shape ``(n_cells, n_labels)`` with the columns in sorted label
    order (dense: about 4 GB at 10^6 cells and 1,000 labels).
    """
    labels1, labels2 = np.asarray(labels1).astype(str), np.asarray(labels2).astype(str)
    categories = np.unique(np.concatenate([labels1, labels2]))
    return tuple((lab[:, None] == categories[None, :]).astype(np.float32) for lab in (labels1, labels2))


def size_buckets(
    n_rows: np.ndarray, n_cols: np.ndarray, max_elements: int = 2**24, max_ratio: float = 1.5, small: int = 4096
):
    """Group blocks of similar shape so they can be padded into one batched problem.

    Blocks are sorted by size; a bucket closes when its padded size would exceed
    ``max_elements``, or when its largest block is ``max_ratio`` times its smallest and larger than
    ``small`` entries (padding waste only matters for large blocks; many tiny blocks are cheapest
    as one batch). Yields index arrays into the blocks.
    """
    order = np.argsort(n_rows * n_cols, kind="stable")
    bucket: list[int] = []
    smallest = 0
    for index in order:
        size = int(n_rows[index] * n_cols[index])
        if bucket:
            r = max(n_rows[bucket].max(), n_rows[index])
            c = max(n_cols[bucket].max(), n_cols[index])
            wasteful = size > max_ratio * max(smallest, 1) and r * c > small
            if r * c * (len(bucket) + 1) > max_elements or wasteful:
                yield np.array(bucket)
                bucket = []
        if not bucket:
            smallest = size
        bucket.append(int(index))
    if bucket:
        yield np.array(bucket)

"""Group-balanced batches over two modalities with different cells.

The stock scvi-tools DataSplitter indexes the union of cells (``mdata.n_obs``) and cannot serve
two modalities of different sizes; here each modality is split on its own and every batch draws
the same perturbation groups from both, so every anchor of GroupCLIP has positives.
"""

from __future__ import annotations

from collections.abc import Iterator

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from scgroove._constants import REGISTRY_KEYS
from scgroove._matrix import take_rows

BatchIndices = tuple[np.ndarray, np.ndarray]


def rows_as_tensor(matrix, rows: np.ndarray) -> torch.Tensor:
    """Dense float32 tensor of some rows; sparse or on-disk input is read one batch at a time only."""
    return torch.as_tensor(take_rows(matrix, rows))


class WeaklyPairedDataset(Dataset):
    """Item = one batch: a pair of row-index arrays, one for each modality.

    ``labels_1``/``labels_2`` are the codes batches are drawn by and the contrast compares
    (contrast groups; -1: never drawn); ``batches_1``/``batches_2`` the batch covariate codes,
    when the model has them.
    """

    def __init__(
        self,
        x_1,
        x_2,
        labels_1: np.ndarray,
        labels_2: np.ndarray,
        batches_1: np.ndarray | None = None,
        batches_2: np.ndarray | None = None,
    ):
        self.x = {1: x_1, 2: x_2}
        self.labels = {1: np.asarray(labels_1).reshape(-1), 2: np.asarray(labels_2).reshape(-1)}
        self.batches = None
        if batches_1 is not None and batches_2 is not None:
            self.batches = {1: np.asarray(batches_1).reshape(-1), 2: np.asarray(batches_2).reshape(-1)}

    def __len__(self) -> int:
        return max(len(self.labels[1]), len(self.labels[2]))

    def __getitem__(self, indices: BatchIndices) -> dict[str, torch.Tensor]:
        rows_1, rows_2 = indices
        item = {
            REGISTRY_KEYS.X_1: rows_as_tensor(self.x[1], rows_1),
            REGISTRY_KEYS.X_2: rows_as_tensor(self.x[2], rows_2),
            REGISTRY_KEYS.LABELS_1: torch.as_tensor(self.labels[1][rows_1], dtype=torch.long),
            REGISTRY_KEYS.LABELS_2: torch.as_tensor(self.labels[2][rows_2], dtype=torch.long),
            REGISTRY_KEYS.INDICES_1: torch.as_tensor(rows_1, dtype=torch.long),
            REGISTRY_KEYS.INDICES_2: torch.as_tensor(rows_2, dtype=torch.long),
        }
        if self.batches is not None:
            item[REGISTRY_KEYS.BATCH_1] = torch.as_tensor(self.batches[1][rows_1], dtype=torch.long)
            item[REGISTRY_KEYS.BATCH_2] = torch.as_tensor(self.batches[2][rows_2], dtype=torch.long)
        return item


class GroupBalancedBatchSampler(Sampler[BatchIndices]):
    """Yields batches of ``groups_per_batch`` groups x ``cells_per_group`` cells from each modality.

    Groups are drawn uniformly, without replacement within a batch, from the labels present in
    either modality's cells; for each drawn group ``cells_per_group`` cells are drawn from every
    modality that has cells of it (with replacement when the group is smaller). Labels of only one
    modality thus still train the reconstruction, but never supply positives. When there are
    fewer groups than ``groups_per_batch``, all groups are drawn and ``cells_per_group`` grows so a
    batch keeps about ``groups_per_batch * cells_per_group`` cells per modality. An epoch has
    enough batches to draw, on average, as many cells as the larger modality has. Cells with a
    negative label (excluded from training) are never drawn.

    With ``always_group`` (the control group) that group is one of the groups of every batch: each
    perturbation is contrasted with the screen's reference at every step, and the control group,
    usually the largest, is drawn ``cells_per_group`` cells at a time like any other rather than in
    proportion to its size.

    Parameters
    ----------
    labels_1, labels_2
        Integer labels of the cells of each modality.
    indices_1, indices_2
        Rows (into the modality) that this sampler may draw from, e.g. the training split.
    groups_per_batch, cells_per_group
        Batch layout.
    seed
        Seed; epoch ``k`` uses the stream ``(seed, k)``, so runs are reproducible.
    always_group
        A group code drawn into every batch (``None``: none).
    """

    def __init__(
        self,
        labels_1: np.ndarray,
        labels_2: np.ndarray,
        indices_1: np.ndarray,
        indices_2: np.ndarray,
        groups_per_batch: int = 16,
        cells_per_group: int = 8,
        seed: int = 0,
        always_group: int | None = None,
    ):
        if groups_per_batch < 1 or cells_per_group < 1:
            raise ValueError("groups_per_batch and cells_per_group must be positive.")
        self.members = [
            self._group_members(np.asarray(lab).reshape(-1), idx)
            for lab, idx in ((labels_1, indices_1), (labels_2, indices_2))
        ]
        self.groups = np.array(sorted(set(self.members[0]) | set(self.members[1])))
        if len(self.groups) == 0:
            raise ValueError("No cells to draw batches from: every label is excluded from training.")
        self.always_group = always_group if always_group in set(self.groups.tolist()) else None
        self.groups_per_batch = min(groups_per_batch, len(self.groups))
        self.cells_per_group = max(
            cells_per_group, int(round(groups_per_batch * cells_per_group / self.groups_per_batch))
        )
        n_cells = max(len(indices_1), len(indices_2))
        self.n_batches = max(1, int(np.ceil(n_cells / (self.groups_per_batch * self.cells_per_group))))
        self.seed = seed
        self.epoch = 0

    @staticmethod
    def _group_members(labels: np.ndarray, indices: np.ndarray) -> dict[int, np.ndarray]:
        indices = np.asarray(indices)
        indices = indices[labels[indices] >= 0] if indices.size else indices
        if indices.size == 0:
            return {}
        order = np.argsort(labels[indices], kind="stable")
        sorted_idx = indices[order]
        values, starts = np.unique(labels[sorted_idx], return_index=True)
        return dict(zip(values.tolist(), np.split(sorted_idx, starts[1:]), strict=True))

    def __len__(self) -> int:
        return self.n_batches

    def set_epoch(self, epoch: int) -> None:
        """Use epoch ``epoch``'s stream (Lightning calls this each epoch, also after a resume)."""
        self.epoch = epoch

    def _draw(self, rng: np.random.Generator, members: dict[int, np.ndarray], groups: np.ndarray) -> np.ndarray:
        picks = [
            rng.choice(members[g], size=self.cells_per_group, replace=len(members[g]) < self.cells_per_group)
            for g in groups
            if g in members
        ]
        return np.concatenate(picks) if picks else np.empty(0, dtype=np.int64)

    def __iter__(self) -> Iterator[BatchIndices]:
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        others = self.groups if self.always_group is None else self.groups[self.groups != self.always_group]
        n_others = self.groups_per_batch - (self.always_group is not None)
        for _ in range(self.n_batches):
            groups = rng.choice(others, size=n_others, replace=False)
            if self.always_group is not None:
                groups = np.append(groups, self.always_group)
            yield self._draw(rng, self.members[0], groups), self._draw(rng, self.members[1], groups)


def split_indices(n_obs: int, train_size: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random train/validation split of ``n_obs`` rows (at least one training row)."""
    permutation = rng.permutation(n_obs)
    n_train = n_obs if train_size >= 1 else max(1, int(np.floor(train_size * n_obs)))
    return np.sort(permutation[:n_train]), np.sort(permutation[n_train:])


class WeaklyPairedDataSplitter(pl.LightningDataModule):
    """Splits each modality into train/validation on its own and serves group-balanced batches.

    Parameters
    ----------
    dataset
        The two modalities' registered data.
    train_size
        Fraction of each modality's cells used for training; the rest validates.
    groups_per_batch, cells_per_group, always_group
        Batch layout, see :class:`GroupBalancedBatchSampler`.
    seed
        Seed of the split and of the batch draws.
    """

    def __init__(
        self,
        dataset: WeaklyPairedDataset,
        train_size: float = 0.9,
        groups_per_batch: int = 16,
        cells_per_group: int = 8,
        seed: int = 0,
        always_group: int | None = None,
    ):
        super().__init__()
        if not 0 < train_size <= 1:
            raise ValueError(f"train_size must be in (0, 1], got {train_size}.")
        self.dataset = dataset
        rng = np.random.default_rng(seed)
        self.train_idx, self.val_idx = zip(
            *(split_indices(len(dataset.labels[m]), train_size, rng) for m in (1, 2)), strict=True
        )
        self.n_train = sum(len(i) for i in self.train_idx)
        self.n_val = sum(len(i) for i in self.val_idx)
        self.layout = {
            "groups_per_batch": groups_per_batch,
            "cells_per_group": cells_per_group,
            "always_group": always_group,
        }
        self.seed = seed
        self.train_sampler = self._sampler(self.train_idx, seed)

    def _sampler(self, indices, seed: int) -> GroupBalancedBatchSampler:
        return GroupBalancedBatchSampler(
            self.dataset.labels[1], self.dataset.labels[2], indices[0], indices[1], seed=seed, **self.layout
        )

    def _loader(self, sampler: GroupBalancedBatchSampler) -> DataLoader:
        return DataLoader(self.dataset, sampler=sampler, batch_size=None)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_sampler)

    def val_dataloader(self) -> DataLoader | list:
        if min(len(i) for i in self.val_idx) == 0:
            return []
        # a fresh sampler each time: every validation pass sees the same batches
        return self._loader(self._sampler(self.val_idx, self.seed + 1))

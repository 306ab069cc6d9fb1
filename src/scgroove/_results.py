"""Results written into the user's MuData: one format, whichever model or pipeline produced them.

Couplings go to ``mdata.uns["groove"][key]``, imputations to ``mdata[source].obsm["groove_imputed_<target>"]``
(or a returned AnnData) with a record under ``mdata.uns["groove"]["imputation"]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData
from mudata import MuData

from scgroove._constants import RESULT_KEYS
from scgroove._matrix import in_memory
from scgroove.align import Coupling

ImputeOutput = Literal["obsm", "anndata"]


def groove_uns(mdata: MuData) -> dict:
    """``mdata.uns["groove"]``, created if missing."""
    return mdata.uns.setdefault(RESULT_KEYS.UNS, {})


def write_coupling(
    mdata: MuData, coupling: Coupling, modalities: Sequence[str], perturbation_key: str, key_added: str = "coupling"
) -> None:
    """Store ``coupling`` (rows: ``modalities[0]``) under ``mdata.uns["groove"][key_added]``."""
    stored = coupling.to_uns()
    stored["modalities"] = list(modalities)
    uns = groove_uns(mdata)
    uns[key_added] = stored
    uns["perturbation_key"] = perturbation_key


def stored_coupling(mdata: MuData, key: str) -> Coupling:
    """The coupling stored under ``mdata.uns["groove"][key]``; a ``KeyError`` saying how to make one."""
    stored = mdata.uns.get(RESULT_KEYS.UNS, {}).get(key)
    if stored is None:
        raise KeyError(
            f"No coupling stored under mdata.uns['groove'][{key!r}]: call model.align(key_added={key!r}) first, "
            "or pass coupling=."
        )
    return Coupling.from_uns(stored)


def feature_positions(var_names: pd.Index, features: Sequence[str] | None, modality: str) -> np.ndarray:
    """Column positions of ``features`` in ``var_names`` (all columns for ``None``); ``KeyError`` if absent."""
    if features is None:
        return np.arange(len(var_names))
    positions = var_names.get_indexer(list(features))
    if (positions < 0).any():
        missing = [f for f, p in zip(features, positions, strict=True) if p < 0][:5]
        raise KeyError(f"Features {missing} are not in modality {modality!r}.")
    return positions


def check_imputation_size(n_cells: int, n_features: int, source: str, target: str, output, max_obsm_bytes: int):
    """Refuse an unknown ``output``, and an ``obsm`` imputation larger than ``max_obsm_bytes`` (float32)."""
    if output not in ("obsm", "anndata"):
        raise ValueError(f"output must be 'obsm' or 'anndata', got {output!r}.")
    size = n_cells * n_features * 4
    if output == "obsm" and size > max_obsm_bytes:
        raise ValueError(
            f"Imputing {n_features} {target} features for {n_cells} {source} cells takes {size / 2**30:.1f} GiB: "
            "too large for obsm. Pass features=[...] or output='anndata'."
        )


def transport_features(coupling: Coupling, target_values, columns: np.ndarray) -> np.ndarray:
    """Each source cell's coupling-weighted mean of the target cells' ``columns`` (float32).

    In-memory values go block by block; backed values are read in row chunks.
    """
    subset = ColumnSubset(target_values, columns)
    if in_memory(target_values):
        return coupling.pull(target_values if subset.all else target_values[:, columns], dtype=np.float32)
    return coupling.pull(subset, dtype=np.float32)


def write_imputation(
    mdata: MuData,
    source: str,
    target: str,
    values: np.ndarray,
    columns: np.ndarray,
    output: ImputeOutput,
    record: dict,
) -> pd.DataFrame | AnnData:
    """Write (``obsm``) or return (``anndata``) an imputation of ``target``'s ``columns`` for ``source``'s cells."""
    groove_uns(mdata).setdefault("imputation", {})[f"{source}_to_{target}"] = {
        **record,
        "source": source,
        "target": target,
        "output": output,
        "n_features": len(columns),
    }
    names = mdata.mod[target].var_names[columns]
    if output == "anndata":
        obs = pd.DataFrame(index=mdata.mod[source].obs_names.copy())
        return AnnData(values, obs=obs, var=pd.DataFrame(index=names.copy()))
    imputed = pd.DataFrame(values, index=mdata.mod[source].obs_names.copy(), columns=names.copy())
    mdata.mod[source].obsm[f"{RESULT_KEYS.IMPUTED_PREFIX}{target}"] = imputed
    return imputed


class ColumnSubset:
    """A column subset of a (possibly backed) matrix that reads its rows chunk by chunk."""

    def __init__(self, matrix, columns: np.ndarray):
        self.matrix, self.columns = matrix, columns
        self.all = len(columns) == matrix.shape[1] and (columns == np.arange(matrix.shape[1])).all()
        self.shape = (matrix.shape[0], len(columns))

    def __getitem__(self, rows):
        block = self.matrix[rows]
        block = block if sp.issparse(block) or isinstance(block, np.ndarray) else np.asarray(block)
        return block if self.all else block[:, self.columns]

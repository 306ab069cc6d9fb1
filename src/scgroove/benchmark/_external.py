"""Adapters for published integrators, each optional: the benchmark runs them when installed."""

from __future__ import annotations

import contextlib
import io
import tempfile

import anndata as ad
import numpy as np
import scipy.sparse as sp
from mudata import MuData


def _unit_scaled(x) -> np.ndarray:
    """Counts are library-normalised and log1p-ed; then every feature is min-max scaled to [0, 1]."""
    x = x.toarray() if sp.issparse(x) else np.asarray(x, dtype=np.float64)
    if x.min() >= 0 and np.allclose(x, np.round(x)):
        x = np.log1p(x / np.maximum(x.sum(1, keepdims=True), 1e-12) * 1e4)
    low, high = x.min(0), x.max(0)
    return ((x - low) / np.where(high > low, high - low, 1.0)).astype(np.float32)


def uniport_latents(
    mdata: MuData,
    key: str,
    modalities: tuple[str, str],
    seed: int = 0,
    epochs: int = 30,
    label_confidence: float = 2.0,
    batch_size: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """Latents of uniPort (Cao et al. 2022) in diagonal mode, with the labels given as an OT cost prior.

    uniPort trains coupled VAEs with a minibatch unbalanced OT loss between the modalities. The
    group labels enter as its prior correspondence matrix (``uniport.get_prior``): the OT cost of
    a pair with different labels is multiplied by ``label_confidence``, so same-label pairs are
    cheaper. Inputs are scaled to [0, 1] per feature (uniPort's decoders end in a sigmoid).

    Parameters
    ----------
    mdata, key, modalities
        The weakly paired data, its label column and its two modalities.
    seed
        uniPort's seed.
    epochs
        Passes over the larger modality (converted to uniPort's iteration count).
    label_confidence
        uniPort's ``alpha`` of ``get_prior`` (> 1; higher trusts the labels more).
    batch_size
        uniPort's minibatch size.

    Returns
    -------
    The two latent matrices (16 dimensions, uniPort's default).
    """
    try:
        import uniport
    except ImportError as error:
        raise ImportError("The uniport learner needs uniPort: pip install 'scgroove[external]'.") from error
    adatas, labels = [], []
    for domain, modality in enumerate(modalities):
        source = mdata.mod[modality]
        adata = ad.AnnData(_unit_scaled(source.X))
        adata.obs_names = source.obs_names.astype(str)
        adata.obs["domain_id"] = domain
        adata.obs["source"] = modality
        adatas.append(adata)
        labels.append(source.obs[key].astype(str).to_numpy())
    prior = uniport.get_prior(labels[0], labels[1], alpha=label_confidence)
    n_batches = max(1, max(a.n_obs for a in adatas) // batch_size)
    quiet = contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO())
    with tempfile.TemporaryDirectory() as outdir, quiet[0], quiet[1]:
        uniport.Run(
            adatas=adatas,
            mode="d",
            prior=[prior],
            iteration=max(epochs * n_batches, 10),
            batch_size=min(batch_size, min(a.n_obs for a in adatas)),
            seed=seed,
            outdir=outdir,
            num_workers=0,
            verbose=False,
        )
    # diagonal mode writes each modality's latent into the AnnData objects it was given
    return np.asarray(adatas[0].obsm["latent"]), np.asarray(adatas[1].obsm["latent"])

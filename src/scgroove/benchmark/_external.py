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


#: How :func:`moscot_coupling` uses the labels (see there).
MOSCOT_MODES = ("gw", "fgw_labels", "per_label")


def moscot_coupling(
    x1,
    x2,
    labels1,
    labels2,
    mode: str = "fgw_labels",
    epsilon: float = 0.01,
    alpha: float = 0.5,
    max_iterations: int | None = None,
):
    """A coupling from moscot's :class:`~moscot.problems.cross_modality.TranslationProblem` (optional).

    ``x1``/``x2`` are each modality's own representation (e.g. PCA), as moscot's translation
    tutorial does. Modes:

    - ``"gw"``: plain entropic GW, no labels (what a moscot user gets from the defaults);
    - ``"fgw_labels"``: fused GW whose linear term compares one-hot labels over one shared,
      sorted category list (same width in both modalities), weight ``1 - alpha``; moscot keeps
      some mass across labels;
    - ``"per_label"``: one GW problem per label present in both modalities; moscot returns each
      block with mass 1, so each is rescaled to the label's share of modality-1 cells (the
      ``block_mass="source"`` convention of scgroove's labeled aligners).

    Costs are scaled by their mean (moscot's default), so ``epsilon`` is relative. Returns a
    :class:`scgroove.align.Coupling` with method ``"moscot_<mode>"``.
    """
    import anndata as ad

    try:
        from moscot.problems.cross_modality import TranslationProblem
    except ImportError as error:  # pragma: no cover - optional
        raise ImportError("moscot is not installed: pip install moscot (it brings jax and ott-jax).") from error
    from scgroove.align import Coupling, CouplingBlock
    from scgroove.align._blocks import label_blocks, one_hot_labels

    if mode not in MOSCOT_MODES:
        raise ValueError(f"mode must be one of {MOSCOT_MODES}, got {mode!r}.")
    x1, x2 = np.asarray(x1, dtype=np.float32), np.asarray(x2, dtype=np.float32)
    labels1, labels2 = np.asarray(labels1).astype(str), np.asarray(labels2).astype(str)
    solve = {"epsilon": epsilon, "max_iterations": max_iterations}

    def solved(a, b, joint=None, alpha_value=1.0):
        source, target = (ad.AnnData(x, obsm={"X": x}) for x in (a, b))
        source.obs_names = [f"s{i}" for i in range(len(a))]
        target.obs_names = [f"t{i}" for i in range(len(b))]
        kwargs = {}
        if joint is not None:
            source.obsm["joint"], target.obsm["joint"] = joint
            kwargs["joint_attr"] = {"x_attr": "obsm", "x_key": "joint", "y_attr": "obsm", "y_key": "joint"}
        with contextlib.redirect_stdout(io.StringIO()):
            problem = TranslationProblem(source, target).prepare(src_attr="X", tgt_attr="X", **kwargs)
            problem = problem.solve(alpha=alpha_value, **solve)
        solution = next(iter(problem.solutions.values()))
        return np.asarray(solution.transport_matrix, dtype=np.float64), bool(solution.converged)

    params = {"mode": mode, "epsilon": epsilon}
    if mode == "per_label":
        blocks = label_blocks(labels1, labels2, "source")
        out, converged = [], True
        for label, rows, cols, mass in zip(blocks.labels, blocks.rows, blocks.cols, blocks.mass, strict=True):
            plan, ok = solved(x1[rows], x2[cols])
            out.append(CouplingBlock(rows, cols, plan * (mass / plan.sum()), label))
            converged &= ok
        return Coupling(len(x1), len(x2), out, f"moscot_{mode}", params, {"n_blocks": len(out)}, converged=converged)
    joint = None
    if mode == "fgw_labels":
        joint = one_hot_labels(labels1, labels2)
        params["alpha"] = alpha
    plan, converged = solved(x1, x2, joint, alpha if mode == "fgw_labels" else 1.0)
    block = CouplingBlock(np.arange(len(x1)), np.arange(len(x2)), plan / plan.sum())
    return Coupling(len(x1), len(x2), [block], f"moscot_{mode}", params, {}, converged=converged)

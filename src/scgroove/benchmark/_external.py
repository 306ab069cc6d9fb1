"""Adapters for published integrators, each optional: the benchmark runs them when installed."""

from __future__ import annotations

import contextlib
import io
import logging
import math
import tempfile
import warnings

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


@contextlib.contextmanager
def _quiet_and_seeded(seed: int, loggers: tuple[str, ...], cuda_device: int | None = None):
    """Run a peer's training silently and seeded; yields a temporary folder for its files.

    torch's and numpy's global random states are seeded with ``seed`` inside and restored after
    (the caller's stream is left as it was), ``loggers`` are set to ERROR, warnings ignored and
    stdout/stderr swallowed (the peers print progress and banners). torch's thread count is
    restored too: scConfluence and scGLUE runs here left it at 2 under ``OMP_NUM_THREADS=1``.
    """
    import torch

    quiet = [logging.getLogger(name) for name in loggers]
    levels = [logger.level for logger in quiet]
    numpy_state, threads = np.random.get_state(), torch.get_num_threads()
    try:
        for logger in quiet:
            logger.setLevel(logging.ERROR)
        with (
            torch.random.fork_rng(devices=[] if cuda_device is None else [cuda_device]),
            tempfile.TemporaryDirectory() as outdir,
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            torch.manual_seed(seed)
            np.random.seed(seed)
            yield outdir
    finally:
        np.random.set_state(numpy_state)
        torch.set_num_threads(threads)
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)


#: Likelihoods of scConfluence's autoencoders that reconstruct raw counts (see :func:`scconfluence_latents`).
SCCONFLUENCE_COUNT_LOSSES = ("zinb", "nb", "poisson")


def _is_counts(x) -> bool:
    values = x.data if sp.issparse(x) else np.asarray(x)
    return bool(values.size) and values.min() >= 0 and np.allclose(values, np.round(values))


def _scconfluence_modality(source: ad.AnnData, name: str, loss: str, n_pcs: int, seed: int) -> ad.AnnData:
    """One modality prepared as scConfluence's tutorials do (see :func:`scconfluence_latents`)."""
    import scanpy as sc

    x = source.X.tocsr() if sp.issparse(source.X) else np.asarray(source.X)
    counts = _is_counts(x)
    if loss in SCCONFLUENCE_COUNT_LOSSES:
        if not counts:
            raise ValueError(f"scConfluence's {loss!r} likelihood needs raw counts, but {name!r} holds other values.")
        adata = ad.AnnData(x.astype(np.float32))
        adata.layers["counts"] = adata.X.copy()
        sc.pp.normalize_total(adata, target_sum=1e4)
        sc.pp.log1p(adata)
        sc.pp.pca(adata, n_comps=min(n_pcs, adata.n_vars - 1, adata.n_obs - 1), random_state=seed)
        # scConfluence hands it to torch.from_numpy, which refuses the negative strides PCA may leave
        adata.obsm["X_pca"] = np.ascontiguousarray(adata.obsm["X_pca"])
    elif loss == "l2":
        x = x.toarray() if sp.issparse(x) else x
        if counts:  # the centred log-ratio per cell of its protein tutorial (muon.prot.pp.clr, axis=1)
            x = np.log1p(x / np.exp(np.log1p(x).mean(1, keepdims=True)))
        adata = ad.AnnData(np.asarray(x, dtype=np.float32))
    else:
        raise ValueError(f"likelihood must be 'auto', 'l2' or one of {SCCONFLUENCE_COUNT_LOSSES}, got {loss!r}.")
    adata.obs_names = [f"{name}:{i}" for i in range(adata.n_obs)]  # unique across the two modalities
    return adata


def _batch_size(n_cells: tuple[int, int], ratio_val: float, target: int, smallest: int = 32) -> int:
    """A minibatch size near ``target`` whose last training and validation batches are not tiny.

    scConfluence 0.1.1 fails on a minibatch holding cells of one modality only (fixed upstream
    after that release); its sampler draws from both modalities pooled, so only a short last
    batch is at risk.
    """
    n_val = sum(int(n * ratio_val) for n in n_cells)
    n_train = sum(n_cells) - n_val
    base = math.ceil(n_train / math.ceil(n_train / target))  # balanced training batches
    for size in sorted(range(max(1, base - 2 * smallest), base + 2 * smallest), key=lambda size: abs(size - base)):
        if all(n % size == 0 or n % size >= min(smallest, n) for n in (n_train, n_val)):
            return size
    return base


def scconfluence_latents(
    mdata: MuData,
    key: str,
    modalities: tuple[str, str],
    seed: int = 0,
    epochs: int = 30,
    n_latent: int = 16,
    likelihoods: tuple[str, str] = ("auto", "auto"),
    mass: float = 0.5,
    iot_loss_weight: float = 0.1,
    sinkhorn_loss_weight: float = 0.1,
    batch_size: int = 512,
    early_stopping: bool = True,
    use_cuda: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Latents of scConfluence (Samaran et al. 2024), with the labels as its cross-modal cost.

    scConfluence trains one autoencoder per modality into a shared latent space, tied by an
    inverse-OT loss (a partial OT plan computed on a given cross-modal cost between the cells
    of a minibatch pulls the matched embeddings together) and an unbalanced Sinkhorn mixing
    term. The weakly paired modalities share no features, so the group labels are that cost:
    0 for a pair of cells with the same label, 1 otherwise. It is built as a dense float32
    ``n1 x n2`` array (scConfluence keeps it in ``mdata.uns`` and slices it per minibatch):
    fine at benchmark scale, quadratic memory beyond.

    Each modality is prepared as scConfluence's tutorials do, by ``likelihoods``:

    - count likelihoods (``"zinb"``, ``"nb"``, ``"poisson"``; ``"auto"`` picks ``"zinb"`` for
      raw counts): the encoder reads a PCA (at most 100 components, scanpy) of the counts
      normalised to 1e4 per cell and log1p-ed, the decoder reconstructs the raw counts (the
      RNA recipe; all features are kept, select highly variable ones beforehand);
    - ``"l2"`` (``"auto"`` for anything but counts): the values are read and reconstructed as
      given, with a mean squared error; counts given to it are first CLR-normalised per cell
      (the protein recipe).

    The hidden width is 64 for count modalities and 32 for ``"l2"`` ones (as in the tutorial).
    ``n_latent`` is clamped to the smallest input or output width of the two autoencoders,
    so at most ``min(n_latent, n_features_1, n_features_2)`` (scConfluence 0.1.1 crashes with
    ``raise warnings.warn(...)`` otherwise). Training and inference run on the CPU unless
    ``use_cuda``; seeds are set in forked RNG states, and its progress bars, logs and
    warnings are swallowed (its TensorBoard logs and checkpoints go to a temporary folder).

    scConfluence 0.1.1's metadata over-pins its dependencies (numpy < 2, mudata < 0.3, geomloss < 0.3, furo, ...),
    so it is not in any extra of scgroove; install it beside scgroove without them, e.g.::

        python -m venv --system-site-packages scc-venv
        scc-venv/bin/pip install --no-deps scconfluence==0.1.1 geomloss==0.3.1
        scc-venv/bin/pip install --no-deps -e .

    (its other imports: pytorch-lightning, POT, mudata, anndata, scanpy, tensorboard).

    Parameters
    ----------
    mdata, key, modalities
        The weakly paired data, its label column and its two modalities.
    seed
        Seed of the weights, the training/validation split, the minibatches and the PCA.
    epochs
        scConfluence's ``max_epochs``: an epoch is one pass over the training cells of both
        modalities pooled (80%; the other 20% are its validation cells).
    n_latent
        Latent dimension (scConfluence's default, 16), clamped as above.
    likelihoods
        Each modality's reconstruction loss: ``"auto"``, ``"zinb"``, ``"nb"``, ``"poisson"``
        or ``"l2"``.
    mass, sinkhorn_loss_weight
        scConfluence's parameters (its defaults): the share of cells matched by the partial OT
        plan of each minibatch, and the weight of its Sinkhorn mixing term.
    iot_loss_weight
        Weight of its inverse-OT loss. scConfluence's default is 0.01 and its docs advise up to
        0.1 when the cost matrix is of very high quality, as exact labels are; 0.1 here. (With
        0.01 and a few dozen epochs, same-label cells ended no closer across modalities than
        other cells on the test data.)
    batch_size
        Target minibatch size (scConfluence's default); adjusted a little so that no last
        minibatch is tiny, since scConfluence 0.1.1 fails on one holding a single modality.
    early_stopping
        scConfluence's early stopping on the validation loss (patience 40 epochs), keeping the
        best checkpoint; without it, the weights of the last epoch.
    use_cuda
        Train on the GPU when one is available.

    Returns
    -------
    The two latent matrices (posterior means), rows in each modality's cell order.
    """
    try:
        import torch
        from scconfluence.model import ScConfluence
        from scconfluence.unimodal import AutoEncoder
    except ImportError as error:
        raise ImportError(
            "The scconfluence learner needs scConfluence, whose pins conflict with scgroove's: "
            "pip install --no-deps scconfluence==0.1.1 geomloss==0.3.1 (see scconfluence_latents)."
        ) from error
    names, ratio_val = ("mod1", "mod2"), 0.2  # scConfluence splits names on "+" and "cross_"
    labels = [mdata.mod[m].obs[key].astype(str).to_numpy() for m in modalities]
    losses = []
    for modality, loss in zip(modalities, likelihoods, strict=True):
        if loss == "auto":
            loss = "zinb" if _is_counts(mdata.mod[modality].X) else "l2"
        losses.append(loss)
    cuda = use_cuda and torch.cuda.is_available()
    lightning = ("pytorch_lightning", "lightning.pytorch", "lightning_fabric")
    # np.random is seeded too: scConfluence splits training and validation cells with it
    with _quiet_and_seeded(seed, lightning, torch.cuda.current_device() if cuda else None) as outdir:
        adatas = {
            name: _scconfluence_modality(mdata.mod[modality], name, loss, 100, seed)
            for name, modality, loss in zip(names, modalities, losses, strict=True)
        }
        widths = [(a.obsm["X_pca"].shape[1] if "X_pca" in a.obsm else a.n_vars, a.n_vars) for a in adatas.values()]
        n_latent = min(n_latent, *(w for pair in widths for w in pair))
        autoencoders = {
            name: AutoEncoder(
                adata,
                modality=name,
                rep_in="X_pca" if loss in SCCONFLUENCE_COUNT_LOSSES else None,
                rep_out="counts" if loss in SCCONFLUENCE_COUNT_LOSSES else None,
                n_hidden=max(64 if loss in SCCONFLUENCE_COUNT_LOSSES else 32, n_latent),
                n_latent=n_latent,
                type_loss=loss,
            )
            for (name, adata), loss in zip(adatas.items(), losses, strict=True)
        }
        joint = MuData(adatas)
        joint.uns["cross_mod1+mod2"] = (labels[0][:, None] != labels[1][None, :]).astype(np.float32)
        joint.uns["cross_keys"] = ["cross_mod1+mod2"]
        model = ScConfluence(
            joint,
            autoencoders,
            mass=mass,
            iot_loss_weight=iot_loss_weight,
            sinkhorn_loss_weight=sinkhorn_loss_weight,
        )
        model.fit(
            save_path=outdir,
            use_cuda=cuda,
            ratio_val=ratio_val,
            batch_size=_batch_size(tuple(a.n_obs for a in adatas.values()), ratio_val, batch_size),
            pin_memory=cuda,
            max_epochs=epochs,
            early_stopping=early_stopping,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        latent = model.get_latent(use_cuda=cuda, batch_size=max(batch_size, 1), pin_memory=cuda)
    return tuple(latent.loc[a.obs_names].to_numpy(dtype=np.float32) for a in adatas.values())


def _glue_modality(source: ad.AnnData, name: str, key: str, n_pcs: int, seed: int) -> tuple[ad.AnnData, str]:
    """One modality prepared as scGLUE's tutorials do (see :func:`scglue_latents`).

    Counts get an NB decoder on the raw counts and an encoder reading the PCA of the
    log-normalised values; anything else a Normal decoder and the PCA of the values.
    """
    import scanpy as sc

    x = source.X.tocsr() if sp.issparse(source.X) else np.asarray(source.X)
    counts = _is_counts(x)
    adata = ad.AnnData(x.astype(np.float32))
    adata.obs_names = [f"{name}:{i}" for i in range(adata.n_obs)]
    adata.var_names = [f"{name}:{feature}" for feature in source.var_names.astype(str)]
    adata.obs[key] = source.obs[key].astype(str).to_numpy()
    if counts:
        adata.layers["counts"] = adata.X.copy()
        sc.pp.normalize_total(adata, target_sum=1e4)
        sc.pp.log1p(adata)
    sc.pp.pca(adata, n_comps=min(n_pcs, adata.n_vars - 1, adata.n_obs - 1), random_state=seed)
    return adata, ("NB" if counts else "Normal")


def scglue_latents(
    mdata: MuData,
    key: str,
    modalities: tuple[str, str],
    seed: int = 0,
    max_epochs: int | None = None,
    label_weight: float = 0.02,
    feature_links: list[tuple[str, str]] | None = None,
    n_latent: int = 50,
) -> tuple[np.ndarray, np.ndarray]:
    """Latents of scGLUE (Cao & Gao 2022), with the labels as its cell-type supervision.

    GLUE trains one VAE per modality whose decoders read feature embeddings learnt from a
    guidance graph linking features across modalities, aligned by a modality discriminator;
    ``use_cell_type`` adds a classifier of the labels on the shared latent. Weakly paired
    modalities of a screen share no features, so the graph holds only each feature's self-loop
    unless ``feature_links`` are given: the labels (through the classifier) and the
    discriminator are then its only cross-modal links, as the labels are for every other
    method of the benchmark. Each modality is prepared as its tutorials do: counts are modelled
    ``"NB"`` on the raw counts with an encoder reading the PCA (at most 100 components) of the
    log-normalised values; other values ``"Normal"`` with their PCA. It runs its two stages
    (pre-training, then fine-tuning with balancing weights) on the CPU.

    scGLUE 0.4.1 installs beside scgroove from PyPI (its pins are lower bounds only)::

        python -m venv --system-site-packages glue-venv
        glue-venv/bin/pip install --only-binary=:all: scglue==0.4.1
        glue-venv/bin/pip install --no-deps -e .

    Parameters
    ----------
    mdata, key, modalities
        The weakly paired data, its label column and its two modalities.
    seed
        Seed of the weights, the minibatches and the PCA.
    max_epochs
        Epochs of each stage (``None``: scGLUE's own, set from the data size, with its own
        early stopping). When given, its alignment burn-in is capped at half of it, or the
        discriminator would never start.
    label_weight
        scGLUE's ``lam_sup``, the weight of the label classifier (its default).
    feature_links
        Pairs ``(feature of modality 1, feature of modality 2)`` to link in the guidance graph
        (e.g. a protein and its gene): prior knowledge the other methods do not get.
    n_latent
        Latent dimension (scGLUE's default).

    Returns
    -------
    The two latent matrices (posterior means), rows in each modality's cell order.
    """
    try:
        import networkx as nx
        import scglue
    except ImportError as error:
        raise ImportError(
            "The scglue learner needs scGLUE: pip install --only-binary=:all: scglue (see scglue_latents)."
        ) from error
    names = ("mod1", "mod2")
    cpu_only = scglue.config.CPU_ONLY
    try:
        with _quiet_and_seeded(seed, ("scglue", "ignite")) as outdir:
            scglue.config.CPU_ONLY = True
            adatas = {}
            for name, modality in zip(names, modalities, strict=True):
                adata, likelihood = _glue_modality(mdata.mod[modality], name, key, 100, seed)
                scglue.models.configure_dataset(
                    adata,
                    likelihood,
                    use_highly_variable=False,
                    use_layer="counts" if likelihood == "NB" else None,
                    use_rep="X_pca",
                    use_cell_type=key,
                )
                adatas[name] = adata
            graph = nx.MultiDiGraph()
            for adata in adatas.values():
                for feature in adata.var_names:
                    graph.add_edge(feature, feature, weight=1.0, sign=1, type="loop")
            for first, second in feature_links or []:
                first, second = f"mod1:{first}", f"mod2:{second}"
                for feature in (first, second):
                    if feature not in graph:
                        raise ValueError(f"feature_links names {feature.split(':', 1)[1]!r}, which is not a feature.")
                graph.add_edge(first, second, weight=1.0, sign=1, type="fwd")
                graph.add_edge(second, first, weight=1.0, sign=1, type="rev")
            fit = {"directory": outdir}
            if max_epochs is not None:
                fit.update(max_epochs=max_epochs, align_burnin=_glue_burnin(adatas, max_epochs))
            model = scglue.models.fit_SCGLUE(
                adatas,
                graph,
                init_kws={"latent_dim": n_latent, "random_seed": seed},
                compile_kws={"lam_sup": label_weight},
                fit_kws=fit,
            )
            latents = tuple(np.asarray(model.encode_data(name, adatas[name]), dtype=np.float32) for name in names)
    finally:
        scglue.config.CPU_ONLY = cpu_only
    return latents


def _glue_burnin(adatas: dict, max_epochs: int) -> int:
    """The alignment burn-in scGLUE would set itself, capped at half of ``max_epochs``.

    Its formula, for its default learning rate (2e-3), minibatch size (128) and validation
    share (0.1).
    """
    from scglue.models.scglue import SCGLUEModel

    batches_per_epoch = sum(a.n_obs for a in adatas.values()) * 0.9 / 128
    progress = SCGLUEModel.ALIGN_BURNIN_PRG
    own = max(math.ceil(progress / 2e-3 / batches_per_epoch), math.ceil(progress))
    return max(1, min(own, max_epochs // 2))


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

"""Simulated weakly paired perturbation screens with ground truth."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import scipy.sparse as sp

from scgroove._mudata import new_mudata

Kind = Literal["counts", "continuous", "binary"]
TRUTH_KEY = "true_cell"


def _group_sizes(n_groups: int, cells_per_perturbation: Sequence[int]) -> np.ndarray:
    """One size per group, checked against the number of groups."""
    sizes = np.asarray(cells_per_perturbation, dtype=int)
    if len(sizes) != n_groups:
        raise ValueError(
            f"cells_per_perturbation has {len(sizes)} entries for {n_groups} groups (perturbations + control)."
        )
    return sizes


def _random_map(n_in: int, n_out: int, rng: np.random.Generator, n_hidden: int = 64):
    """A random two-layer tanh network: the modality's own nonlinear view of the latent."""
    w1 = rng.normal(0, 1 / np.sqrt(n_in), (n_in, n_hidden))
    b1 = rng.normal(0, 0.5, n_hidden)
    w2 = rng.normal(0, 1 / np.sqrt(n_hidden), (n_hidden, n_out))
    return lambda h: np.tanh(h @ w1 + b1) @ w2


#: Count modalities with more entries than this are drawn in row chunks and stored sparse as they
#: go (a 100k-cell x 20k-gene screen never exists dense); smaller ones in one pass, as always.
CHUNKED_ENTRIES = 50_000_000
CHUNK_CELLS = 4096


def _observe(
    latent: np.ndarray,
    kind: Kind,
    n_features: int,
    noise: float,
    rng: np.random.Generator,
    library_size: float | None = None,
    batch_shift: np.ndarray | None = None,
    batch: np.ndarray | None = None,
) -> np.ndarray | sp.csr_matrix:
    """A modality's observations of ``latent``; ``batch_shift[batch]`` is each cell's technical shift."""
    network = _random_map(latent.shape[1], n_features, rng)
    if kind == "counts" and len(latent) * n_features > CHUNKED_ENTRIES:
        return _observe_counts_chunked(latent, network, n_features, noise, rng, library_size, batch_shift, batch)
    signal = network(latent)
    signal = (signal - signal.mean(0)) / (signal.std(0) + 1e-8)
    if batch_shift is not None:  # technical batch effect: a per-feature shift of the log rate / mean / logit
        signal = signal + batch_shift[batch]
    if kind == "counts":
        baseline = rng.normal(0, 1, n_features)  # gene-wise expression level
        library = _library_sizes(len(latent), n_features, library_size, rng)
        return _draw_counts(baseline + signal, library, noise, rng)
    if kind == "continuous":
        return (signal + noise * rng.normal(size=signal.shape)).astype(np.float32)
    if kind == "binary":
        logits = 1.5 * signal - 1.0 + noise * rng.normal(size=signal.shape)
        return (rng.random(signal.shape) < 1 / (1 + np.exp(-logits))).astype(np.float32)
    raise ValueError(f"Unknown modality kind {kind!r}; choose 'counts', 'continuous' or 'binary'.")


def _observe_counts_chunked(latent, network, n_features, noise, rng, library_size, batch_shift, batch) -> sp.csr_matrix:
    """The counts of :func:`_observe`, drawn ``CHUNK_CELLS`` cells at a time into a CSR matrix.

    The same model: the per-feature standardisation of the network's output is computed over all
    cells in a first pass, then each chunk is drawn and sparsified (memory: one chunk dense).
    """
    chunks = [slice(start, start + CHUNK_CELLS) for start in range(0, len(latent), CHUNK_CELLS)]
    total, total_sq = np.zeros(n_features), np.zeros(n_features)
    for rows in chunks:
        signal = network(latent[rows])
        total += signal.sum(0)
        total_sq += (signal**2).sum(0)
    mean = total / len(latent)
    std = np.sqrt(np.clip(total_sq / len(latent) - mean**2, 0, None))
    baseline = rng.normal(0, 1, n_features)
    library = _library_sizes(len(latent), n_features, library_size, rng)
    out = []
    for rows in chunks:
        log_rate = baseline + (network(latent[rows]) - mean) / (std + 1e-8)
        if batch_shift is not None:
            log_rate = log_rate + batch_shift[batch[rows]]
        out.append(sp.csr_matrix(_draw_counts(log_rate, library[rows], noise, rng)))
    return sp.vstack(out, format="csr")


def _library_sizes(n_cells: int, n_features: int, library_size: float | None, rng) -> np.ndarray:
    """Log-normal counts per cell around ``library_size`` (default ``20 * n_features``)."""
    typical = library_size if library_size is not None else max(20 * n_features, 1)
    return rng.lognormal(np.log(typical), 0.3, size=(n_cells, 1))


def _draw_counts(log_rate: np.ndarray, library: np.ndarray, noise: float, rng) -> np.ndarray:
    """Negative binomial counts (gamma-Poisson) with proportions ``softmax(log_rate)`` per cell."""
    proportions = np.exp(log_rate - log_rate.max(axis=1, keepdims=True))
    proportions /= proportions.sum(axis=1, keepdims=True)
    theta = 1.0 / max(noise, 1e-3)  # NB inverse dispersion: more noise, more overdispersion
    mu = library * proportions
    return rng.poisson(rng.gamma(theta, mu / theta)).astype(np.float32)


def simulate(
    n_perturbations: int = 20,
    cells_per_perturbation: int | Sequence[int] = 100,
    shared_fraction: float = 0.8,
    effect_size: float = 2.0,
    n_cell_types: int = 3,
    n_latent: int = 10,
    modalities: Mapping[str, Kind] | None = None,
    n_features: Mapping[str, int] | None = None,
    noise: float = 0.5,
    response_variability: float = 0.3,
    control_fraction: float = 0.1,
    heterogeneous_perturbations: int = 0,
    keep_fraction: float | Sequence[float] = 1.0,
    library_size: float | None = None,
    null_fraction: float = 0.0,
    guides_per_perturbation: int = 1,
    guide_efficiency: tuple[float, float] = (0.3, 1.0),
    n_batches: int = 1,
    batch_effect: float = 0.5,
    seed: int = 0,
    *,
    wrong_label_fraction: float | Sequence[float] = 0.0,
    wrong_label_target: Literal["uniform", "similar"] = "uniform",
    multiplet_fraction: float | Sequence[float] = 0.0,
    escaper_fraction: float = 0.0,
) -> md.MuData:
    r"""Simulate a weakly paired perturbation screen whose hidden pairing is known.

    Every true cell :math:`t` has a latent state :math:`c_t` (one of ``n_cell_types`` cell-type
    centres plus a continuous Gaussian offset). A perturbation :math:`p` adds a shared effect
    :math:`s_p` seen by both modalities and a modality-specific effect :math:`u^m_p`, scaled by a
    per-cell response strength :math:`r_t \sim 1 + \mathcal{N}(0, \sigma_r^2)`:

    .. math::

        h^m_t = c_t + r_t\,(\sqrt{\rho}\, s_p + \sqrt{1-\rho}\, u^m_p),
        \qquad s_p, u^m_p \sim \mathcal{N}(0, \delta^2 I / d)

    with :math:`\rho` = ``shared_fraction`` (1: all perturbation signal shared) and :math:`\delta`
    = ``effect_size``. Modality :math:`m` sees :math:`h^m_t` through its own random two-layer
    tanh network, then counts (negative binomial with log-normal library sizes), continuous
    (Gaussian noise) or binary (Bernoulli) observations.

    A screen as it is: ``null_fraction`` of the perturbations have no effect at all (their cells
    are distributed as control), each perturbation (gene) can be delivered by several guides of
    different efficiency :math:`e_{pk}` (the effect is scaled by it; ``obs["guide"]``), and every
    true cell belongs to one of ``n_batches`` batches (donors, seen by both modalities) that shift
    each modality's features by a technical effect of its own (``obs["batch"]``). The
    within-group state :math:`c_t` and response :math:`r_t` are what both modalities share
    beyond the label. Finally the pairing is hidden: each
    modality keeps its own random subset of the true cells (``keep_fraction``), in its own random
    order, under unrelated obs names.

    Parameters
    ----------
    n_perturbations
        Number of perturbations besides the control group.
    cells_per_perturbation
        Cells per group, or one size per group (perturbations first, control last) for
        unbalanced screens. The control group has ``control_fraction`` of the total cells if an
        int is given.
    shared_fraction
        :math:`\rho \in [0, 1]`, share of the perturbation effect seen by both modalities.
    effect_size
        Norm scale :math:`\delta` of each perturbation effect relative to the cell-state spread.
    n_cell_types
        Number of cell-type centres of the latent state.
    n_latent
        Dimension :math:`d` of the latent state.
    modalities
        Modality name -> kind (``"counts"``, ``"continuous"``, ``"binary"``);
        default ``{"rna": "counts", "protein": "continuous"}``.
    n_features
        Modality name -> number of features; default 200 for counts/binary, 30 for continuous.
    noise
        Observation noise (continuous: Gaussian s.d.; counts: NB dispersion; binary: logit noise).
    response_variability
        :math:`\sigma_r`, spread of the per-cell response strength (shared by a cell's two views,
        so it is within-group structure that can be matched).
    control_fraction
        Fraction of cells in the unperturbed ``"control"`` group (used when
        ``cells_per_perturbation`` is an int).
    heterogeneous_perturbations
        Number of perturbations whose response splits into two subpopulations with different
        shared effects (``obs["response_group"]`` says which).
    keep_fraction
        Fraction of the true cells that each modality keeps (one value, or one per modality), so
        the modalities can have different cells and sizes.
    library_size
        Median counts per cell of count modalities (default ``20 * n_features``, dense); a
        droplet-like RNA modality has a few thousand counts over thousands of genes, so most
        entries are 0. Count modalities are stored as CSR when more than half their entries are 0
        (e.g. ``n_features={"rna": 20000}, library_size=3000`` for a droplet screen); above 5e7
        cells x features they are drawn in chunks of cells straight into CSR, so a screen of 10^5
        cells x 20k genes never exists dense.
    null_fraction
        Fraction of the perturbations (chosen at random) with no effect in either modality;
        listed in ``mdata.uns["simulation"]["null_perturbations"]``.
    guides_per_perturbation
        Guides per perturbation; each cell of a perturbation gets one at random. With more than
        one, ``obs["guide"]`` holds ``"<perturbation>_g<k>"`` (control cells: ``"control_g<k>"``,
        non-targeting guides) and ``obs["perturbation"]`` the gene.
    guide_efficiency
        Range of the uniform draw of each guide's efficiency (the factor on its gene's effect);
        used when ``guides_per_perturbation > 1``.
    n_batches
        Batches (donors) shared by both modalities, each cell in one at random; with more than
        one, ``obs["batch"]`` holds ``"batch_<b>"``.
    batch_effect
        Standard deviation of each batch's per-feature shift (log rate for counts, value for
        continuous, logit for binary features), drawn per modality.
    seed
        Random seed.
    wrong_label_fraction
        Share of each modality's cells (one value, or one per modality) whose perturbation label
        (and guide) is replaced by another group's.
    wrong_label_target
        ``"uniform"``: the wrong label is any other group at random; ``"similar"``: groups with a
        similar shared effect are likelier (weights :math:`\exp(-\lVert s_p - s_q \rVert^2 /
        \mathrm{median})`), as a guide caller's confusions between genes of one pathway.
    multiplet_fraction
        Share of each modality's cells (one value, or one per modality) that are two-cell droplets.
    escaper_fraction
        Share of each perturbation's true cells drawn from control's state (in both modalities).

    Returns
    -------
    MuData with one AnnData per modality, each with ``obs`` columns ``"perturbation"``,
    ``"cell_type"``, ``"response_group"`` and ``"true_cell"`` (equal values across modalities = the
    same true cell; the hidden truth), ``obsm["X_true_latent"]`` (:math:`h^m_t`, an oracle
    representation), and ``mdata.uns["simulation"]`` holding every parameter.
    """
    if not 0 <= shared_fraction <= 1:
        raise ValueError(f"shared_fraction must be in [0, 1], got {shared_fraction}.")
    if n_perturbations < 1:
        raise ValueError("n_perturbations must be at least 1.")
    if heterogeneous_perturbations > n_perturbations:
        raise ValueError("heterogeneous_perturbations cannot exceed n_perturbations.")
    if not 0 <= null_fraction <= 1:
        raise ValueError(f"null_fraction must be in [0, 1], got {null_fraction}.")
    if guides_per_perturbation < 1 or n_batches < 1:
        raise ValueError("guides_per_perturbation and n_batches must be at least 1.")
    low, high = guide_efficiency
    if not 0 <= low <= high:
        raise ValueError(f"guide_efficiency must be (low, high) with 0 <= low <= high, got {guide_efficiency}.")
    if batch_effect < 0:
        raise ValueError(f"batch_effect must be >= 0, got {batch_effect}.")
    wrong = _per_modality(wrong_label_fraction, "wrong_label_fraction")
    multiplet = _per_modality(multiplet_fraction, "multiplet_fraction")
    if not 0 <= escaper_fraction <= 1:
        raise ValueError(f"escaper_fraction must be in [0, 1], got {escaper_fraction}.")
    if wrong_label_target not in ("uniform", "similar"):
        raise ValueError(f"wrong_label_target must be 'uniform' or 'similar', got {wrong_label_target!r}.")
    if any(w + m >= 1 for w, m in zip(wrong, multiplet, strict=True)):
        raise ValueError("wrong_label_fraction + multiplet_fraction must stay below 1 in each modality.")
    noisy_labels = escaper_fraction > 0 or max(wrong) > 0 or max(multiplet) > 0
    modalities = dict(modalities or {"rna": "counts", "protein": "continuous"})
    if len(modalities) != 2:
        raise ValueError(f"simulate makes exactly two modalities, got {list(modalities)}.")
    n_features = {m: (n_features or {}).get(m, 30 if kind == "continuous" else 200) for m, kind in modalities.items()}
    keep = [keep_fraction] * 2 if np.isscalar(keep_fraction) else list(keep_fraction)
    if len(keep) != 2 or not all(0 < k <= 1 for k in keep):
        raise ValueError(f"keep_fraction must be one or two values in (0, 1], got {keep_fraction}.")
    rng = np.random.default_rng(seed)

    if np.isscalar(cells_per_perturbation):
        n_control = int(
            round(control_fraction * n_perturbations * cells_per_perturbation / max(1 - control_fraction, 1e-9))
        )
        sizes = np.append(np.full(n_perturbations, int(cells_per_perturbation)), n_control)
    else:
        sizes = _group_sizes(n_perturbations + 1, cells_per_perturbation)
    names = [f"P{p:03d}" for p in range(n_perturbations)] + ["control"]
    group = np.repeat(np.arange(len(names)), sizes)
    n_cells = len(group)

    scale = effect_size / np.sqrt(n_latent)
    centres = rng.normal(0, 1.5, (n_cell_types, n_latent))
    cell_type = rng.integers(0, n_cell_types, n_cells)
    state = centres[cell_type] + rng.normal(0, 0.5, (n_cells, n_latent))
    shared = rng.normal(0, scale, (len(names), n_latent))
    shared_alt = rng.normal(0, scale, (len(names), n_latent))
    shared[-1] = shared_alt[-1] = 0.0  # control: no effect
    response_group = np.zeros(n_cells, dtype=int)
    for p in range(heterogeneous_perturbations):
        members = np.flatnonzero(group == p)
        response_group[members[rng.random(len(members)) < 0.5]] = 1
    shared_effect = np.where(response_group[:, None] == 1, shared_alt[group], shared[group])
    strength = 1 + response_variability * rng.normal(size=(n_cells, 1))
    # the screen's knobs draw from their own stream, so the defaults reproduce earlier versions
    screen_rng = np.random.default_rng([seed, 1])
    null = np.zeros(len(names), dtype=bool)
    null[screen_rng.permutation(n_perturbations)[: int(round(null_fraction * n_perturbations))]] = True
    guide = screen_rng.integers(0, guides_per_perturbation, n_cells)
    efficiency = np.ones((len(names), guides_per_perturbation))
    if guides_per_perturbation > 1:
        efficiency = screen_rng.uniform(low, high, (len(names), guides_per_perturbation))
    effect_scale = np.where(null[group], 0.0, efficiency[group, guide])[:, None]
    batch = screen_rng.integers(0, n_batches, n_cells)
    # label noise draws from a stream of its own too
    noise_rng = np.random.default_rng([seed, 2])
    escaper = (group != len(names) - 1) & (noise_rng.random(n_cells) < escaper_fraction)
    effect_scale = np.where(escaper[:, None], 0.0, effect_scale)

    adatas = {}
    for (modality, kind), keep_m in zip(modalities.items(), keep, strict=True):
        specific = rng.normal(0, scale, (len(names), n_latent))
        specific[-1] = 0.0
        latent = state + strength * effect_scale * (
            np.sqrt(shared_fraction) * shared_effect + np.sqrt(1 - shared_fraction) * specific[group]
        )
        batch_shift = None
        if n_batches > 1:
            batch_shift = screen_rng.normal(0, batch_effect, (n_batches, n_features[modality]))
        X = _observe(latent, kind, n_features[modality], noise, rng, library_size, batch_shift, batch)
        kept = rng.permutation(n_cells)[: max(1, int(round(keep_m * n_cells)))]
        called = group[kept]
        if noisy_labels:
            noise_m = _label_noise(
                group, kept, escaper, wrong[len(adatas)], multiplet[len(adatas)], wrong_label_target, shared, noise_rng
            )
            called = noise_m["called"]
            X = _merge_multiplets(X, kind, kept, noise_m["second"])
        obs = pd.DataFrame(
            {
                "perturbation": pd.Categorical(np.array(names)[called], categories=names),
                "cell_type": pd.Categorical([f"type_{k}" for k in cell_type[kept]]),
                "response_group": response_group[kept],
                TRUTH_KEY: [f"cell_{t:06d}" for t in kept],
            },
            index=[f"{modality}_{i:06d}" for i in range(len(kept))],
        )
        if guides_per_perturbation > 1:
            guide_names = [f"{name}_g{k + 1}" for name in names for k in range(guides_per_perturbation)]
            guide_of_cell = np.array(guide_names)[called * guides_per_perturbation + guide[kept]]
            obs.insert(1, "guide", pd.Categorical(guide_of_cell, categories=guide_names))
        if n_batches > 1:
            obs["batch"] = pd.Categorical([f"batch_{b}" for b in batch[kept]])
        if noisy_labels:
            obs["true_perturbation"] = pd.Categorical(np.array(names)[group[kept]], categories=names)
            obs["label_noise"] = pd.Categorical(noise_m["kind"], categories=list(LABEL_NOISE_KINDS))
            second = noise_m["second"]
            obs["perturbations_called"] = [
                names[c] if s < 0 else ";".join(sorted({names[group[t]], names[group[s]]}))
                for c, t, s in zip(called, kept, second, strict=True)
            ]
        X_kept = X[kept] if not noisy_labels else X
        if kind == "counts" and not sp.issparse(X_kept) and (X_kept == 0).mean() > 0.5:
            X_kept = sp.csr_matrix(X_kept)
        adata = ad.AnnData(X_kept, obs=obs)
        adata.var_names = [f"{modality}_feature_{j:04d}" for j in range(X.shape[1])]
        adata.obsm["X_true_latent"] = latent[kept].astype(np.float32)
        adatas[modality] = adata
    mdata = new_mudata(adatas)
    mdata.uns["simulation"] = {
        "n_perturbations": n_perturbations,
        "cells_per_perturbation": np.asarray(sizes).tolist(),
        "shared_fraction": shared_fraction,
        "effect_size": effect_size,
        "n_cell_types": n_cell_types,
        "n_latent": n_latent,
        "modalities": modalities,
        "n_features": n_features,
        "noise": noise,
        "response_variability": response_variability,
        "control_fraction": control_fraction,
        "heterogeneous_perturbations": heterogeneous_perturbations,
        "keep_fraction": keep,
        "library_size": library_size,
        "null_fraction": null_fraction,
        "null_perturbations": [n for n, is_null in zip(names, null, strict=True) if is_null],
        "guides_per_perturbation": guides_per_perturbation,
        "guide_efficiency": efficiency.tolist(),
        "n_batches": n_batches,
        "batch_effect": batch_effect,
        "seed": seed,
        "truth_key": TRUTH_KEY,
        "wrong_label_fraction": wrong,
        "wrong_label_target": wrong_label_target,
        "multiplet_fraction": multiplet,
        "escaper_fraction": escaper_fraction,
    }
    return mdata


#: What ``obs["label_noise"]`` of a simulation with noisy labels says about each cell.
LABEL_NOISE_KINDS = ("clean", "wrong", "multiplet", "escaper")


def _per_modality(value: float | Sequence[float], name: str) -> list[float]:
    """One fraction per modality, each in [0, 1)."""
    values = [float(value)] * 2 if np.isscalar(value) else [float(v) for v in value]
    if len(values) != 2 or not all(0 <= v < 1 for v in values):
        raise ValueError(f"{name} must be one or two values in [0, 1), got {value}.")
    return values


def _label_noise(group, kept, escaper, wrong_fraction, multiplet_fraction, target, shared, rng) -> dict:
    """The labels one modality's kept cells are called with, and which cells are two-cell droplets.

    Returns ``called`` (group codes as reported), ``second`` (the droplet's other true cell, -1 for
    singlets; the observed rows are ``kept`` merged with ``second``) and ``kind`` per kept cell.
    """
    n_groups = len(shared)
    called = group[kept].copy()
    kind = np.where(escaper[kept], "escaper", "clean").astype(object)
    second = np.full(len(kept), -1)
    is_wrong = rng.random(len(kept)) < wrong_fraction
    is_multiplet = ~is_wrong & (rng.random(len(kept)) < multiplet_fraction / max(1 - wrong_fraction, 1e-12))
    second[is_multiplet] = rng.integers(0, len(group), int(is_multiplet.sum()))
    # a guide caller reports the droplet under one of its two cells' guides
    other_first = is_multiplet & (rng.random(len(kept)) < 0.5)
    called[other_first] = group[second[other_first]]
    kind[is_multiplet] = "multiplet"
    if target == "uniform":
        weights = np.ones((n_groups, n_groups))
    else:
        distance = ((shared[:, None, :] - shared[None, :, :]) ** 2).sum(-1)
        weights = np.exp(-distance / max(np.median(distance[distance > 0]), 1e-12))
    np.fill_diagonal(weights, 0.0)
    weights /= weights.sum(1, keepdims=True)
    for i in np.flatnonzero(is_wrong):
        called[i] = rng.choice(n_groups, p=weights[called[i]])
    kind[is_wrong] = "wrong"
    return {"called": called, "second": second, "kind": kind}


def _merge_multiplets(X, kind: Kind, kept: np.ndarray, second: np.ndarray):
    """The kept cells' observed rows; a two-cell droplet's row combines its two cells' rows."""
    first = X[kept]
    rows = np.flatnonzero(second >= 0)
    if len(rows) == 0:
        return first
    other = X[second[rows]]
    if sp.issparse(first):  # counts: add the other cell's counts to the droplet's rows
        spread = sp.csr_matrix((np.ones(len(rows)), (rows, np.arange(len(rows)))), shape=(len(kept), len(rows)))
        return (sp.csr_matrix(first) + spread @ sp.csr_matrix(other)).tocsr().astype(np.float32)
    first = np.array(first, copy=True)
    if kind == "counts":
        first[rows] = first[rows] + other
    elif kind == "continuous":
        first[rows] = (first[rows] + other) / 2
    else:
        first[rows] = np.maximum(first[rows], other)
    return first

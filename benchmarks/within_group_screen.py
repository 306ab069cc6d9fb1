"""Does the latent keep the cell? GROOVE variants against the references, at the scale of a screen.

One run = one dataset x one seed: the references (label-only + labeled OT, PCA + labeled GW at
each epsilon, label-mean imputation, PCA + labeled GW barycentric imputation) and every GROOVE
variant asked for, all scored on the same split against the hidden truth. Rows are appended to a
tidy CSV (dataset, seed, pipeline, metric, value), so runs can be resumed and pooled.

Datasets: the screen-scale simulations, the real sets with fine labels, the real sets with coarse
groups (``bmmc_cite_lineage``, ``bmmc_multiome_lineage``; cbmc's classes are coarse already) and the
real CRISPR screen split into two gene panels (``papalexi_panels``). Every latent also gets the
joint-latent scores (modality mixing inside labels, joint Leiden clusters, state transfer).

``--diagnose`` also logs, per epoch, on the hidden truth: within-label FOSCTTM of the latent, the
trace of labeled OT on the latent and of the guide, modality mixing, group separation (share of
the latent's variance explained by the label), within-group state kNN purity where the data have
states, and every loss term; and saves the final latents.

    OMP_NUM_THREADS=2 python benchmarks/within_group_screen.py --dataset sim_rho0.8 --seed 0 \
        --variants groove guided --out benchmarks/results/within_group_screen/results.csv
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import lightning.pytorch as pl
import mudata as md
import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

import scgroove as sg
from scgroove.align import one_hot_labels
from scgroove.benchmark import label_mean_imputation
from scgroove.benchmark._runner import quiet_libraries
from scgroove.model._guide import modality_pca

#: Screen-scale simulation: 40 perturbations + control, 150 cells each, sparse RNA (2000 genes,
#: ~3000 counts per cell) and 50 proteins; each modality keeps its own 90% / 85% of the cells.
SCREEN = {
    "n_perturbations": 40,
    "cells_per_perturbation": 150,
    "n_features": {"rna": 2000, "protein": 50},
    "library_size": 3000,
    "keep_fraction": (0.9, 0.85),
}
SIMULATIONS = {
    "sim_rho1.0": {"shared_fraction": 1.0},
    "sim_rho0.8": {"shared_fraction": 0.8},
    "sim_rho0.5": {"shared_fraction": 0.5},
    "sim_heterogeneous": {"shared_fraction": 0.8, "heterogeneous_perturbations": 20},
}
REAL = {"bmmc_cite_600": ("rna", "protein"), "cbmc_cite_1182": ("rna", "protein"), "bmmc_multiome_500": ("rna", "atac")}
#: Real sets whose groups hold many cell states: the BMMC sets' lineages (cbmc's 6 classes are coarse
#: already, so "cbmc_cite_1182" is in both tables) and the real CRISPR screen, its 299 genes split into
#: two random disjoint panels (a new split per seed), matched within guide, contrast groups = genes.
COARSE = {"bmmc_cite_lineage": "bmmc_cite_600", "bmmc_multiome_lineage": "bmmc_multiome_500"}
SCREEN_SETS = {"papalexi_panels": {"group_key": "target", "control_label": "non-targeting"}}
GW_EPSILONS = (0.01, 0.03, 0.05)
PER_LABEL_EPSILONS = (0.05, 0.1, 0.2)
OT_EPSILON = 0.05
MAPPED_EPSILONS = (0.05, 0.1, 0.2)

#: GROOVE variants, each spelt out in full (so a change of GROOVE's defaults cannot change them).
#: "groupclip" is GROOVE's default up to 0.1; "guided_projection" is the default since.
_PLAIN = {"contrast": "group", "projection_head": False}
VARIANTS: dict[str, dict] = {
    "groupclip": _PLAIN,
    "projection": {**_PLAIN, "projection_head": True},
    "distribution": {**_PLAIN, "distribution_weight": 1.0},
    "projection_distribution": {**_PLAIN, "projection_head": True, "distribution_weight": 1.0},
    "cycle": {**_PLAIN, "cycle_weight": 1.0},
    "guided": {"contrast": "guided", "projection_head": False},
    "guided_projection": {"contrast": "guided", "projection_head": True},
    "guided_distribution": {"contrast": "guided", "projection_head": False, "distribution_weight": 1.0},
    # the distribution term swept (issue 29: can training remove the modality offset?)
    **{
        f"guided{'_projection' if head else ''}_distribution{suffix}": {
            "contrast": "guided",
            "projection_head": head,
            "distribution_weight": weight,
            "distribution_epsilon": epsilon,
        }
        for head, weight, epsilon, suffix in (
            (False, 5.0, 0.05, "_w5"),
            (False, 20.0, 0.05, "_w20"),
            (True, 1.0, 0.05, ""),
            (True, 5.0, 0.05, "_w5"),
            (False, 1.0, 0.01, "_e0.01"),
            (False, 5.0, 0.01, "_w5_e0.01"),
            (False, 5.0, 0.005, "_w5_e0.005"),
            (True, 5.0, 0.01, "_w5_e0.01"),
        )
    },
    "guided_per_label": {"contrast": "guided", "projection_head": True},
    "guided_gw001": {"contrast": "guided", "projection_head": True},
}
#: Variants trained with another guide than the default structure guide: the aligner on each modality's PCA.
#: (``guided_gw001`` was the candidate that became the default guide in 0.2.0; ``guided_projection``
#: rows before that release used the guide at epsilon 0.03.)
VARIANT_GUIDES = {"guided_per_label": ("per_label_gw", 0.1), "guided_gw001": ("labeled_gw", 0.01)}


def load(dataset: str, seed: int) -> tuple[md.MuData, str, tuple[str, str]]:
    if dataset in SIMULATIONS:
        mdata = sg.datasets.simulate(**SCREEN, **SIMULATIONS[dataset], seed=seed)
        return mdata, "perturbation", ("rna", "protein")
    if dataset in COARSE:  # the fine types come along as the states inside a lineage (diagnosis only)
        paired = sg.datasets._shipped.SHIPPED[COARSE[dataset]]()
        mdata = sg.datasets.unpair(paired, label_key="lineage", seed=seed, obs_keys=("label",))
        return mdata, "lineage", REAL[COARSE[dataset]]
    if dataset in SCREEN_SETS:
        panels = sg.datasets.gene_panels(sg.datasets.papalexi_eccite()["rna"], seed=seed)
        mdata = sg.datasets.unpair(panels, label_key="guide", seed=seed, obs_keys=("target",))
        return mdata, "guide", ("panel_a", "panel_b")
    paired = sg.datasets._shipped.SHIPPED[dataset]()
    return sg.datasets.unpair(paired, label_key="label", seed=seed), "label", REAL[dataset]


def likelihood_of(matrix) -> str:
    return sg.module.choose_likelihood(matrix)


def target_features(mdata, modality) -> np.ndarray:
    """The target modality in the units imputation is scored in: counts log-normalised, else as is."""
    x = mdata.mod[modality].X
    x = x.toarray() if sp.issparse(x) else np.asarray(x, dtype=np.float64)
    if likelihood_of(x) == "nb":
        x = np.log1p(x / np.maximum(x.sum(1, keepdims=True), 1e-12) * 1e4)
    return x


def make_truth(mdata, key: str, modalities) -> dict:
    """What scoring needs: the hidden matching, labels, each modality's PCA, the target features."""
    labels = [mdata.mod[m].obs[key].astype(str).to_numpy() for m in modalities]
    pca = [modality_pca(mdata.mod[m].X, likelihood_of(mdata.mod[m].X) == "nb") for m in modalities]
    return {
        "match": sg.datasets.true_matching(mdata, modalities),
        "labels": labels,
        "pca": pca,
        "target_pca": pca[1],
        "target_features": target_features(mdata, modalities[1]),
        "target_is_counts": likelihood_of(mdata.mod[modalities[1]].X) == "nb",
    }


class EpochProbe(pl.Callback):
    """Per-epoch latent diagnostics on the truth (encodes all cells once per epoch)."""

    def __init__(self, model, mdata, modalities, key, match, every: int = 1, guide=None):
        self.model, self.mdata, self.modalities, self.match, self.every = model, mdata, modalities, match, every
        self.labels = [mdata.mod[m].obs[key].astype(str).to_numpy() for m in modalities]
        # the cell states inside a group: simulated cell types, a real set's fine types inside its lineages, or none
        self.cell_types = cell_states(mdata, modalities)
        self.guide = guide
        self.rows: list[dict] = []

    def on_train_epoch_end(self, trainer, pl_module):
        epoch = trainer.current_epoch
        if epoch % self.every:
            return
        was_training = pl_module.module.training
        z = self.model.get_latent_representation(self.mdata)
        pl_module.module.train(was_training)
        z1, z2 = z[self.modalities[0]], z[self.modalities[1]]
        row = {"epoch": epoch}
        row["within_label_foscttm"] = sg.metrics.within_label_foscttm(z1, z2, *self.labels, self.match)
        # what labeled OT on the latent would match now, beside the guide's own score (constant over epochs)
        coupling = sg.align.align(z1, z2, *self.labels, method="labeled_ot", epsilon=OT_EPSILON)
        row["latent_trace"] = sg.metrics.trace(coupling, self.match)
        if self.guide is not None:
            row["guide_trace"] = sg.metrics.trace(self.guide, self.match)
        row["modality_mixing"] = sg.metrics.mean_modality_mixing(z1, z2, *self.labels)
        types = self.cell_types or [None, None]
        for name, latent, labels, states in zip(self.modalities, (z1, z2), self.labels, types, strict=True):
            row[f"group_separation_{name}"] = group_separation(latent, labels)
            if states is not None:
                row[f"cell_type_purity_{name}"] = within_label_purity(latent, labels, states)
        metrics = trainer.callback_metrics
        for key, value in metrics.items():
            if key.startswith("train_") or key.startswith("validation_"):
                row[key] = float(value)
        self.rows.append(row)


def group_separation(latent: np.ndarray, labels: np.ndarray) -> float:
    """Share of the latent's total variance explained by the label (1: each group is a point)."""
    frame = pd.DataFrame(latent)
    means = frame.groupby(labels).transform("mean").to_numpy()
    total = ((latent - latent.mean(0)) ** 2).sum()
    return float(((means - latent.mean(0)) ** 2).sum() / max(total, 1e-12))


def within_label_purity(latent: np.ndarray, labels: np.ndarray, types: np.ndarray, k: int = 10) -> float:
    """Mean fraction of a cell's k nearest same-label neighbours that share its cell type."""
    scores = []
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        if len(rows) <= k:
            continue
        x = torch.as_tensor(latent[rows])
        distances = torch.cdist(x, x)
        distances.fill_diagonal_(float("inf"))
        neighbours = distances.topk(k, largest=False).indices.numpy()
        scores.append((types[rows][neighbours] == types[rows][:, None]).mean())
    return float(np.mean(scores))


def cell_states(mdata, modalities) -> list[np.ndarray] | None:
    """The states inside a group where the data know them: simulated cell types, a real set's fine types."""
    for key in ("cell_type", "label"):
        if all(key in mdata.mod[m].obs for m in modalities):
            return [mdata.mod[m].obs[key].astype(str).to_numpy() for m in modalities]
    return None


def joint_latent_scores(z1, z2, mdata, modalities, truth: dict) -> dict:
    """Does the joint latent mix the modalities (issue: one shared space)? Mixing, clusters, transfer."""
    labels1, labels2 = truth["labels"]
    rows = {"modality_mixing": sg.metrics.mean_modality_mixing(z1, z2, labels1, labels2)}
    clusters = sg.metrics.joint_cluster_scores(z1, z2, labels1, labels2)
    rows.update({f"leiden_{k}": v for k, v in clusters.items()})
    states = cell_states(mdata, modalities)
    if states is not None:
        rows["state_transfer_accuracy"] = sg.metrics.cross_modal_transfer_accuracy(z1, z2, *states)
        rows["leiden_state_ari"] = sg.metrics.joint_cluster_scores(z1, z2, *states)["ari"]
    return rows


def score_coupling(coupling, truth: dict, prefix: str) -> dict:
    rows = {}
    rows[f"{prefix}bary_foscttm"] = sg.metrics.barycentric_foscttm(coupling, truth["target_pca"], truth["match"])
    rows[f"{prefix}trace"] = sg.metrics.trace(coupling, truth["match"])
    if coupling.converged is not None:  # 1/0: whether the solver said it converged
        rows[f"{prefix}converged"] = float(coupling.converged)
    imputed = coupling.barycentric_projection(truth["target_features"])
    rows.update(score_imputation(imputed, truth, prefix))
    return rows


def score_imputation(imputed: np.ndarray, truth: dict, prefix: str) -> dict:
    has = (truth["match"] >= 0) & ~np.isnan(imputed).any(1)
    scores = sg.metrics.imputation_scores(imputed[has], truth["target_features"][truth["match"][has]])
    return {f"{prefix}{k}": float(scores[k]) for k in ("cell_pearson", "feature_pearson", "mse")}


def references(mdata, key, modalities, truth) -> list[tuple[str, str, float]]:
    labels1, labels2 = truth["labels"]
    out = []
    one_hot = one_hot_labels(labels1, labels2)
    coupling = sg.align.align(*one_hot, labels1, labels2, method="labeled_ot", epsilon=OT_EPSILON)
    out += [("label_only+labeled_ot", k, v) for k, v in score_coupling(coupling, truth, "").items()]
    for method, epsilons in (("labeled_gw", GW_EPSILONS), ("per_label_gw", PER_LABEL_EPSILONS)):
        for epsilon in epsilons:
            start = time.perf_counter()
            coupling = sg.align.align(*truth["pca"], labels1, labels2, method=method, epsilon=epsilon)
            seconds = time.perf_counter() - start
            rows = score_coupling(coupling, truth, "")
            rows["seconds"] = seconds
            out += [(f"pca+{method}@{epsilon}", k, v) for k, v in rows.items()]
    for epsilon in MAPPED_EPSILONS:  # scgroove's structure prior on its own (not a reference: ours)
        coupling = sg.align.align(*truth["pca"], labels1, labels2, method="mapped_ot", epsilon=epsilon)
        out += [(f"pca+mapped_ot@{epsilon}", k, v) for k, v in score_coupling(coupling, truth, "").items()]
    imputed = label_mean_imputation(truth["target_features"], labels2, labels1)
    out += [("label_mean", k, v) for k, v in score_imputation(imputed, truth, "").items()]
    return out


PEERS = ("moscot_gw", "moscot_fgw_labels", "moscot_per_label", "scconfluence", "scglue", "uniport")
#: Epochs of scConfluence and scGLUE (each with its own early stopping).
PEER_EPOCHS = 300
#: Epochs of uniPort (no early stopping): the benchmark grid's default epochs, as in
#: ``benchmarks/pipelines_and_peers.toml``.
UNIPORT_EPOCHS = 200


def run_peer(name: str, truth: dict, mdata=None, key=None, modalities=None, seed=0) -> list[tuple[str, str, float]]:
    """A peer tool's coupling (optional dependency), scored like the references.

    moscot solves on each modality's PCA; scConfluence (labels as its cross-modal cost), scGLUE
    (labels as its cell-type supervision, no feature links) and uniPort (labels as its OT cost
    prior) learn latents, matched by the same labeled OT as GROOVE's latents.
    """
    from scgroove.benchmark._external import moscot_coupling, scconfluence_latents, scglue_latents, uniport_latents

    labels1, labels2 = truth["labels"]
    threads = torch.get_num_threads()  # the adapters restore it; the peers may change it while they train
    start, cpu_start = time.perf_counter(), time.process_time()
    latent_rows = {}
    learners = {  # the peers that learn latents
        "scconfluence": lambda: scconfluence_latents(mdata, key, modalities, seed=seed, epochs=PEER_EPOCHS),
        "scglue": lambda: scglue_latents(mdata, key, modalities, seed=seed, max_epochs=PEER_EPOCHS),
        "uniport": lambda: uniport_latents(mdata, key, modalities, seed=seed, epochs=UNIPORT_EPOCHS),
    }
    if name in learners:
        z1, z2 = learners[name]()
        coupling = sg.align.align(z1, z2, labels1, labels2, method="labeled_ot", epsilon=OT_EPSILON)
        latent_rows = {  # what its latent knows: the cell inside its label, and the label itself
            "within_label_foscttm": sg.metrics.within_label_foscttm(z1, z2, labels1, labels2, truth["match"]),
            "latent_foscttm": sg.metrics.foscttm(z1, z2, truth["match"]),
            "group_separation_1": group_separation(z1, labels1),
            "group_separation_2": group_separation(z2, labels2),
            **joint_latent_scores(z1, z2, mdata, modalities, truth),
        }
    else:
        coupling = moscot_coupling(*truth["pca"], labels1, labels2, mode=name.removeprefix("moscot_"))
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    rows = score_coupling(coupling, truth, "")
    rows["seconds"] = seconds
    rows["cpu_seconds"] = cpu_seconds  # this process's CPU time: unlike wall time, not inflated by other jobs
    rows["threads"] = threads
    rows.update(latent_rows)
    plan = coupling.to_sparse().tocoo()
    rows["cross_label_mass"] = float(plan.data[labels1[plan.row] != labels2[plan.col]].sum())
    return [(name, k, v) for k, v in rows.items()]


def run_variant(
    name, dataset, mdata, key, modalities, truth, seed, epochs, diagnose: bool, out_dir: Path, prior_shares=()
):
    import scvi

    scvi.settings.seed = seed
    options = dict(VARIANTS[name])
    sg.GROOVE.setup_mudata(mdata, perturbation_key=key, modalities=modalities, **SCREEN_SETS.get(dataset, {}))
    guide = None
    if name in VARIANT_GUIDES:
        method, epsilon = VARIANT_GUIDES[name]
        guide = sg.align.align(*truth["pca"], *truth["labels"], method=method, epsilon=epsilon)
    model = sg.GROOVE(mdata, **options)
    callbacks = []
    if diagnose:
        guide = sg.model.structure_guide(model) if guide is None else guide  # what train() would compute
        probe = EpochProbe(model, mdata, modalities, key, truth["match"], guide=guide)
        callbacks.append(probe)
    start, cpu_start = time.perf_counter(), time.process_time()
    model.train(
        max_epochs=epochs,
        early_stopping=True,
        early_stopping_patience=15,
        enable_progress_bar=False,
        seed=seed,
        callbacks=callbacks,
        guide=guide,
    )
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    n_epochs = len(model.history["train_loss"])
    z = model.get_latent_representation(mdata)
    z1, z2 = z[modalities[0]], z[modalities[1]]
    labels1, labels2 = truth["labels"]
    rows = {
        "train_seconds": seconds,
        "train_cpu_seconds": cpu_seconds,
        "epochs": n_epochs,
        "seconds_per_epoch": seconds / max(n_epochs, 1),
        "threads": torch.get_num_threads(),
        "within_label_foscttm": sg.metrics.within_label_foscttm(z1, z2, labels1, labels2, truth["match"]),
        "latent_foscttm": sg.metrics.foscttm(z1, z2, truth["match"]),
    }
    rows.update(joint_latent_scores(z1, z2, mdata, modalities, truth))
    coupling = sg.align.align(z1, z2, labels1, labels2, method="labeled_ot", epsilon=OT_EPSILON)
    rows.update(score_coupling(coupling, truth, ""))
    # cross-modal decoding D_2(E_1(x_1)), in the units the imputation is scored in
    decoded = model.get_translation(modalities[0], modalities[1], mdata).to_numpy()
    if truth["target_is_counts"]:
        decoded = np.log1p(decoded / np.maximum(decoded.sum(1, keepdims=True), 1e-12) * 1e4)
    rows.update(score_imputation(decoded, truth, "decoder_"))
    for alpha in (0.5,):
        fused = sg.align.labeled_fgw(
            z1, z2, labels1, labels2, alpha=alpha, epsilon=0.03, structure1=truth["pca"][0], structure2=truth["pca"][1]
        )
        rows.update(score_coupling(fused, truth, f"fgw{alpha}_"))
    extra = []
    for share in prior_shares:  # the public route: model.align keeps the structure prior (prior_share)
        mixed = model.align(prior_share=share, epsilon=OT_EPSILON, top_k=None)
        scores = score_coupling(mixed, truth, "")
        # the latent moved halfway to the coupling's partners (what sg.tl.coupled_latent writes): does it mix?
        coupled = mixed.coupled_latents(z1, z2)
        scores.update({f"coupled_{k}": v for k, v in joint_latent_scores(*coupled, mdata, modalities, truth).items()})
        extra += [(f"{name}+share{share}", k, v) for k, v in scores.items()]
    if diagnose:  # the latents too, to try couplings on them later without training again
        np.savez_compressed(out_dir / f"latents_{dataset}_{name}_seed{seed}.npz", z1=z1, z2=z2)
        curve = pd.DataFrame(probe.rows)
        curve.insert(0, "variant", name)
        curve.to_csv(out_dir / f"diagnosis_{dataset}_{name}_seed{seed}.csv", index=False)
    return [(name, k, v) for k, v in rows.items()] + extra


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, choices=[*SIMULATIONS, *REAL, *COARSE, *SCREEN_SETS])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", nargs="*", default=["groove"], choices=list(VARIANTS))
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--no-references", action="store_true")
    parser.add_argument("--peers", nargs="*", default=[], choices=list(PEERS), help="peer tools (optional installs)")
    parser.add_argument("--diagnose", action="store_true")
    parser.add_argument(
        "--prior-shares", nargs="*", type=float, default=[], help="also score model.align(prior_share=s), one row each"
    )
    parser.add_argument("--out", default="benchmarks/results/within_group_screen/results.csv")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with quiet_libraries():
        mdata, key, modalities = load(args.dataset, args.seed)
        truth = make_truth(mdata, key, modalities)
        rows = [] if args.no_references else references(mdata, key, modalities, truth)
        for name in args.peers:
            rows += run_peer(name, truth, mdata, key, modalities, args.seed)
            print(name, {k: round(v, 4) for n, k, v in rows if n == name}, flush=True)
        for name in args.variants:
            rows += run_variant(
                name,
                args.dataset,
                mdata,
                key,
                modalities,
                truth,
                args.seed,
                args.epochs,
                args.diagnose,
                out.parent,
                args.prior_shares,
            )
            print(name, {k: round(v, 4) for n, k, v in rows if n.startswith(name)})
    table = pd.DataFrame(rows, columns=["pipeline", "metric", "value"])
    table.insert(0, "seed", args.seed)
    table.insert(0, "dataset", args.dataset)
    table.to_csv(out, mode="a", header=not out.exists(), index=False)
    print(table.pivot_table(index="pipeline", columns="metric", values="value").round(4).to_string())


if __name__ == "__main__":
    main()

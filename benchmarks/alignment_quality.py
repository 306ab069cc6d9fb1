"""Quality of GROOVE latents and of the aligners, on simulated and real data with hidden pairing.

Usage: python benchmarks/alignment_quality.py [--epochs 100] [--seed 0] [--datasets sim_1.0 bmmc_cite_600 ...]

For each dataset: the oracle (true latent, simulations only) and unaligned PCA-per-modality FOSCTTM
as anchors; GROOVE's latent FOSCTTM, how well modalities mix (label transfer accuracy across
modalities, and the probability that a same-label cell of the other modality is nearer than an
other-label one), GroupCLIP at the first and last epoch; then trace and barycentric FOSCTTM (in
modality 2's PCA space) of unlabeled vs labeled aligners on the GROOVE latents, and of labeled GW
on PCA per modality (Ryu et al. 2024). Real data: the shipped datasets with the pairing hidden
(each modality keeps an independent 85% of cells; cell types as groups).
"""

from __future__ import annotations

import argparse
import sys
import time

import mudata as md
import numpy as np
import scanpy as sc
import scipy.sparse as sp
import scvi

import scgroove as sg

REAL = {"bmmc_cite_600": ("rna", "protein"), "cbmc_cite_1182": ("rna", "protein"), "bmmc_multiome_500": ("rna", "atac")}


def load(name: str, seed: int) -> tuple[md.MuData, str, tuple[str, str]]:
    if name.startswith("sim_"):
        rho = float(name.split("_")[1])
        mdata = sg.datasets.simulate(
            n_perturbations=20, cells_per_perturbation=100, shared_fraction=rho, keep_fraction=(0.9, 0.85), seed=seed
        )
        return mdata, "perturbation", ("rna", "protein")
    paired = sg.datasets._shipped.SHIPPED[name]()
    return sg.datasets.unpair(paired, label_key="label", fraction=0.85, seed=seed), "label", REAL[name]


def pca(adata, n_comps: int = 30) -> np.ndarray:
    """Standard per-modality preprocessing: library normalisation + log1p for counts, then PCA."""
    x = adata.X.toarray() if sp.issparse(adata.X) else np.asarray(adata.X)
    if x.min() >= 0:
        x = np.log1p(x / np.maximum(x.sum(1, keepdims=True), 1) * 1e4)
    tmp = sc.AnnData(x.astype(np.float32))
    sc.pp.pca(tmp, n_comps=n_comps)
    return tmp.obsm["X_pca"]


def same_label_nearer(z1, z2, labels1, labels2, n: int = 20000, seed: int = 0) -> float:
    """P(d(i, same-label j) < d(i, other-label k)) for random cross-modal triplets (0.5: no mixing)."""
    rng = np.random.default_rng(seed)
    labels1, labels2 = np.asarray(labels1).astype(str), np.asarray(labels2).astype(str)
    wins = []
    for i in rng.integers(0, len(z1), n):
        same = np.flatnonzero(labels2 == labels1[i])
        other = np.flatnonzero(labels2 != labels1[i])
        if len(same) == 0 or len(other) == 0:
            continue
        j, k = rng.choice(same), rng.choice(other)
        wins.append(np.sum((z1[i] - z2[j]) ** 2) < np.sum((z1[i] - z2[k]) ** 2))
    return float(np.mean(wins))


def evaluate(name: str, epochs: int, seed: int) -> list[dict]:
    mdata, key, (m1, m2) = load(name, seed)
    match = sg.datasets.true_matching(mdata, (m1, m2))
    l1, l2 = mdata[m1].obs[key].astype(str).to_numpy(), mdata[m2].obs[key].astype(str).to_numpy()
    n_comps = min(30, mdata[m1].n_vars - 1, mdata[m2].n_vars - 1)
    p1, p2 = pca(mdata[m1], n_comps), pca(mdata[m2], n_comps)
    row = {"dataset": name, "n1": mdata[m1].n_obs, "n2": mdata[m2].n_obs, "labels": len(set(l1) | set(l2))}
    rows = []
    if "X_true_latent" in mdata[m1].obsm:
        row["oracle_foscttm"] = sg.metrics.foscttm(
            mdata[m1].obsm["X_true_latent"], mdata[m2].obsm["X_true_latent"], match
        )
    row["unaligned_pca_foscttm"] = sg.metrics.foscttm(p1, p2, match)
    scvi.settings.seed = seed
    sg.GROOVE.setup_mudata(mdata, perturbation_key=key, modalities=(m1, m2))
    model = sg.GROOVE(mdata, n_latent=32)
    start = time.perf_counter()
    model.train(max_epochs=epochs, enable_progress_bar=False)
    row["train_s"] = time.perf_counter() - start
    gc = model.history["train_contrast"].to_numpy().astype(float).ravel()
    vgc = model.history["validation_contrast"].to_numpy().astype(float).ravel()
    row.update(
        {
            "group_clip_first": gc[0],
            "group_clip_last": gc[-1],
            "val_group_clip_first": vgc[0],
            "val_group_clip_min": vgc.min(),
            "val_group_clip_last": vgc[-1],
        }
    )
    z = model.get_latent_representation()
    z1, z2 = z[m1], z[m2]
    row["groove_foscttm"] = sg.metrics.foscttm(z1, z2, match)
    row["groove_within_label_foscttm"] = sg.metrics.within_label_foscttm(z1, z2, l1, l2, match)
    row["label_transfer_acc"] = sg.metrics.label_transfer_accuracy(z1, z2, l1, l2)
    row["same_label_nearer"] = same_label_nearer(z1, z2, l1, l2)
    row["trace_chance"] = sg.metrics.trace_chance(l1, l2, match)
    rows.append(row)
    aligners = [
        ("GROOVE", "ot", z1, z2, {}),
        ("GROOVE", "labeled_ot", z1, z2, {}),
        ("GROOVE", "labeled_knn", z1, z2, {}),
        ("GROOVE", "labeled_fgw", z1, z2, {"structure1": p1, "structure2": p2}),
        ("PCA per modality", "labeled_gw", p1, p2, {}),
    ]
    for learner, method, a, b, params in aligners:
        start = time.perf_counter()
        coupling = sg.align.align(a, b, l1, l2, method=method, **params)
        rows.append(
            {
                "dataset": name,
                "learner": learner,
                "aligner": method,
                "align_s": time.perf_counter() - start,
                "trace": sg.metrics.trace(coupling, match),
                "bary_foscttm": sg.metrics.barycentric_foscttm(coupling, p2, match),
                "converged": coupling.converged,
            }
        )
    return rows


def main() -> None:
    from _common import print_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--datasets", nargs="+", default=["sim_1.0", "sim_0.8", "sim_0.5", *REAL])
    args = parser.parse_args()
    latent_columns = [
        "dataset",
        "n1",
        "n2",
        "labels",
        "oracle_foscttm",
        "unaligned_pca_foscttm",
        "groove_foscttm",
        "groove_within_label_foscttm",
        "label_transfer_acc",
        "same_label_nearer",
        "group_clip_first",
        "group_clip_last",
        "val_group_clip_first",
        "val_group_clip_min",
        "val_group_clip_last",
        "train_s",
    ]
    align_columns = ["dataset", "learner", "aligner", "trace", "trace_chance", "bary_foscttm", "converged", "align_s"]
    print(f"epochs {args.epochs}, seed {args.seed}; barycentric FOSCTTM in modality 2's PCA space", flush=True)
    for name in args.datasets:  # printed as each dataset finishes, so a cut-off run still reports
        rows = evaluate(name, args.epochs, args.seed)
        latent = [r for r in rows if "aligner" not in r]
        for row in rows:
            row.setdefault("trace_chance", latent[0]["trace_chance"])
        print(f"\n== {name}: latents ==")
        print_table(latent, latent_columns)
        print(f"== {name}: aligners ==")
        print_table([r for r in rows if "aligner" in r], align_columns)
        sys.stdout.flush()


if __name__ == "__main__":
    main()

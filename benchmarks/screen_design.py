"""A screen as it is: control, null perturbations, guides and batches, with and without each feature.

One run = one seed of a simulated screen (100 genes, 30% null, 3 guides per gene of varying
efficiency, 2 donors shared by both modalities with their own technical effects, a control
group) and every set-up asked for, all scored on the same split against the hidden truth next
to the references of the within-group benchmark (label-only + labeled OT, PCA + labeled GW at
each epsilon, label-mean imputation), and the same references told each cell's batch
(``...+batch``: labels stratified by batch). Alignment is always at guide level (the finest label).

    OMP_NUM_THREADS=2 python benchmarks/screen_design.py --seed 0 \
        --out benchmarks/results/screen_design/results.csv

Set-ups (GROOVE's default model in each; only ``setup_mudata`` differs):

* ``plain``: every guide its own group, no control, no batch (scgroove before 0.3);
* ``full``: ``group_key="perturbation"``, ``control_label="control"``, null perturbations merged
  into control, ``batch_key="batch"``;
* ``no_control``: ``full`` without ``control_label`` (so no null test, no control in every batch);
* ``no_null_merge``: ``full`` with ``null_perturbations="keep"``;
* ``no_batch``: ``full`` without ``batch_key``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))

from within_group_screen import (  # noqa: E402
    OT_EPSILON,
    make_truth,
    references,
    score_coupling,
    score_imputation,
)

import scgroove as sg  # noqa: E402
from scgroove.align import stratified_labels  # noqa: E402
from scgroove.benchmark._runner import quiet_libraries  # noqa: E402

SCREEN = {
    "n_perturbations": 100,
    "cells_per_perturbation": 60,
    "null_fraction": 0.3,
    "guides_per_perturbation": 3,
    "n_batches": 2,
    "batch_effect": 0.5,
    "shared_fraction": 0.8,
    "n_features": {"rna": 2000, "protein": 50},
    "library_size": 3000,
    "keep_fraction": (0.9, 0.85),
}
FULL = {"group_key": "perturbation", "control_label": "control", "batch_key": "batch"}
SETUPS: dict[str, dict] = {
    "plain": {},
    "full": FULL,
    "no_control": {k: v for k, v in FULL.items() if k != "control_label"},
    "no_null_merge": {**FULL, "null_perturbations": "keep"},
    "no_batch": {k: v for k, v in FULL.items() if k != "batch_key"},
}
KEY = "guide"
MODALITIES = ("rna", "protein")


def null_detection(mdata) -> dict:
    """Recall and precision of the null perturbations found by set-up, against the simulation's."""
    screen = mdata.uns["groove"]["screen"]
    found = set(screen["null_groups"])
    true = set(mdata.uns["simulation"]["null_perturbations"])
    return {
        "null_found": len(found),
        "null_recall": len(found & true) / max(len(true), 1),
        "null_precision": len(found & true) / max(len(found), 1),
    }


def null_separation(mdata, latent: dict) -> dict:
    """How far the null genes' cells sit from control in a representation, against the active genes.

    For each gene, the distance between its cells' mean and the control cells' mean, in units of
    the control cells' root-mean-square spread, averaged over the null genes and over the active
    genes of the simulation, per modality. In the true latent the null genes are at sampling
    distance from control; a contrast that uses them as negatives pushes them away.
    """
    null = set(mdata.uns["simulation"]["null_perturbations"])
    rows = {}
    for modality in MODALITIES:
        genes = mdata.mod[modality].obs["perturbation"].astype(str).to_numpy()
        z = latent[modality]
        control = z[genes == "control"]
        spread = np.sqrt(((control - control.mean(0)) ** 2).sum(1).mean())
        distance = {
            g: np.linalg.norm(z[genes == g].mean(0) - control.mean(0)) / spread for g in set(genes) - {"control"}
        }
        rows[f"null_separation_{modality}"] = float(np.mean([d for g, d in distance.items() if g in null]))
        rows[f"active_separation_{modality}"] = float(np.mean([d for g, d in distance.items() if g not in null]))
    return rows


def run_setup(name: str, mdata, truth: dict, seed: int, epochs: int) -> list[tuple[str, str, float]]:
    import scvi

    scvi.settings.seed = seed
    start = time.perf_counter()
    sg.GROOVE.setup_mudata(mdata, perturbation_key=KEY, modalities=MODALITIES, **SETUPS[name])
    rows = {"setup_seconds": time.perf_counter() - start}
    if "control_label" in SETUPS[name] and SETUPS[name].get("null_perturbations") != "keep":
        rows.update(null_detection(mdata))
    model = sg.GROOVE(mdata)
    start = time.perf_counter()
    model.train(
        max_epochs=epochs, early_stopping=True, early_stopping_patience=10, enable_progress_bar=False, seed=seed
    )
    seconds = time.perf_counter() - start
    n_epochs = len(model.history["train_loss"])
    rows.update({"train_seconds": seconds, "epochs": n_epochs})
    z = model.get_latent_representation(mdata)
    z1, z2 = z[MODALITIES[0]], z[MODALITIES[1]]
    labels1, labels2 = truth["labels"]
    rows["within_label_foscttm"] = sg.metrics.within_label_foscttm(z1, z2, labels1, labels2, truth["match"])
    rows.update(null_separation(mdata, z))
    # the model's own alignment: labeled OT at guide level, within each batch when it has batches
    rows.update(score_coupling(model.align(epsilon=OT_EPSILON), truth, ""))
    if "batch_key" in SETUPS[name]:
        rows.update(score_coupling(model.align(epsilon=OT_EPSILON, within_batch=False), truth, "across_batches_"))
    decoded = model.get_translation(MODALITIES[0], MODALITIES[1], mdata).to_numpy()
    rows.update(score_imputation(decoded, truth, "decoder_"))
    return [(f"groove_{name}", k, v) for k, v in rows.items()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--setups", nargs="*", default=list(SETUPS), choices=list(SETUPS))
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--no-references", action="store_true")
    parser.add_argument("--out", default="benchmarks/results/screen_design/results.csv")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with quiet_libraries():
        mdata = sg.datasets.simulate(**SCREEN, seed=args.seed)
        truth = make_truth(mdata, KEY, MODALITIES)
        labels = truth["labels"]
        rows = []
        if not args.no_references:
            rows += references(mdata, KEY, MODALITIES, truth)
            # the same references told each cell's batch too (a donor is known in both modalities)
            batches = [mdata.mod[m].obs["batch"].to_numpy() for m in MODALITIES]
            within = {**truth, "labels": [stratified_labels(lab, b) for lab, b in zip(labels, batches, strict=True)]}
            rows += [(f"{name}+batch", k, v) for name, k, v in references(mdata, KEY, MODALITIES, within)]
            true_latent = {m: mdata.mod[m].obsm["X_true_latent"] for m in MODALITIES}
            rows += [("true_latent", k, v) for k, v in null_separation(mdata, true_latent).items()]
        for name in args.setups:
            rows += run_setup(name, mdata, truth, args.seed, args.epochs)
            print(name, {k: round(v, 4) for n, k, v in rows if n == f"groove_{name}"}, flush=True)
    table = pd.DataFrame(rows, columns=["pipeline", "metric", "value"])
    table.insert(0, "seed", args.seed)
    table.insert(0, "dataset", "sim_screen")
    table.to_csv(out, mode="a", header=not out.exists(), index=False)
    print(table.pivot_table(index="pipeline", columns="metric", values="value").round(4).to_string())


if __name__ == "__main__":
    main()

"""The screen features on real paired data with the pairing hidden: a donor covariate and ATAC as LSI.

* ``bmmc_cite_600`` (CITE-seq, two donors in ``obs["batch"]``): GROOVE with and without
  ``batch_key="batch"`` (covariate and matching within each donor), beside the references with
  and without the donor (``+batch``: labels stratified by donor);
* ``bmmc_multiome_500`` (RNA + ATAC): GROOVE on the peaks (``nb``) and on ``sg.pp.atac_lsi``
  (``normal``), with seconds per epoch.

Each seed re-draws the hidden pairing (``sg.datasets.unpair``); every GROOVE row sits beside the
references of the same seed (label-only + labeled OT, PCA + labeled GW at each epsilon,
label-mean imputation), scored as in ``within_group_screen.py``.

    OMP_NUM_THREADS=2 python benchmarks/screen_real.py --seeds 0 1 2 3 4 \
        --out benchmarks/results/screen_design/real.csv
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))

from within_group_screen import (  # noqa: E402
    OT_EPSILON,
    make_truth,
    references,
    score_coupling,
)

import scgroove as sg  # noqa: E402
from scgroove._mudata import new_mudata  # noqa: E402
from scgroove.align import stratified_labels  # noqa: E402
from scgroove.benchmark._runner import quiet_libraries  # noqa: E402


def groove(name, mdata, modalities, truth, seed, epochs, **setup) -> list[tuple[str, str, float]]:
    import scvi

    scvi.settings.seed = seed
    sg.GROOVE.setup_mudata(mdata, perturbation_key="label", modalities=modalities, **setup)
    model = sg.GROOVE(mdata)
    start = time.perf_counter()
    model.train(max_epochs=epochs, enable_progress_bar=False, seed=seed)
    seconds = time.perf_counter() - start
    z = model.get_latent_representation(mdata)
    labels1, labels2 = truth["labels"]
    coupling = sg.align.align(z[modalities[0]], z[modalities[1]], labels1, labels2, "labeled_ot", epsilon=OT_EPSILON)
    rows = {"seconds_per_epoch": seconds / len(model.history["train_loss"])}
    rows.update(score_coupling(coupling, truth, ""))
    return [(name, k, v) for k, v in rows.items()]


def run_seed(seed: int, epochs: int) -> pd.DataFrame:
    rows = []
    paired = sg.datasets.bmmc_cite()
    mdata = sg.datasets.unpair(paired, label_key="label", seed=seed, obs_keys=("batch",))
    modalities = ("rna", "protein")
    truth = make_truth(mdata, "label", modalities)
    cite = references(mdata, "label", modalities, truth)
    # the same references told each cell's donor, as GROOVE with batch_key is
    donors = [mdata.mod[m].obs["batch"].to_numpy() for m in modalities]
    by_donor = {**truth, "labels": [stratified_labels(lab, d) for lab, d in zip(truth["labels"], donors, strict=True)]}
    cite += [(f"{name}+batch", k, v) for name, k, v in references(mdata, "label", modalities, by_donor)]
    cite += groove("groove", mdata, modalities, truth, seed, epochs)
    cite += groove("groove_batch", mdata, modalities, truth, seed, epochs, batch_key="batch")
    rows += [("bmmc_cite_600", *row) for row in cite]

    paired = sg.datasets.bmmc_multiome()
    mdata = sg.datasets.unpair(paired, label_key="label", seed=seed)
    modalities = ("rna", "atac")
    truth = make_truth(mdata, "label", modalities)
    multiome = references(mdata, "label", modalities, truth)
    multiome += groove("groove_peaks", mdata, modalities, truth, seed, epochs)
    lsi = new_mudata({"rna": mdata["rna"].copy(), "atac": sg.pp.atac_lsi(mdata["atac"], n_comps=30)})
    multiome += groove("groove_lsi", lsi, modalities, truth, seed, epochs)
    rows += [("bmmc_multiome_500", *row) for row in multiome]
    table = pd.DataFrame(rows, columns=["dataset", "pipeline", "metric", "value"])
    table.insert(1, "seed", seed)
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--out", default="benchmarks/results/screen_design/real.csv")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with quiet_libraries():
        for seed in args.seeds:
            table = run_seed(seed, args.epochs)
            table.to_csv(out, mode="a", header=not out.exists(), index=False)
            print(
                table.pivot_table(index=["dataset", "pipeline"], columns="metric", values="value").round(4), flush=True
            )


if __name__ == "__main__":
    main()

"""GROOVE on an ATAC-sized modality: seconds per epoch on raw peaks against its LSI, in one process.

A weakly paired RNA + ATAC screen the size of the A549 case (2,244 cells per modality x 52,761
peaks, ~8,000 fragments per cell, so ~85% of a cell's peaks are closed) is simulated; GROOVE is
trained for a few epochs on the peaks themselves (``nb`` over every peak: the cost per epoch grows
with the number of peaks) and on ``sg.pp.atac_lsi`` (50 components, ``normal``). Both runs are
scored on the hidden truth (barycentric FOSCTTM of labeled OT on the latents) next to PCA +
labeled GW and label-only references, so the speed-up is not bought with the matching.

    OMP_NUM_THREADS=2 python benchmarks/atac_scale.py --epochs 3 --out benchmarks/results/atac_scale
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import mudata as md
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))

from _common import current_peak_rss_mib, reset_peak_rss  # noqa: E402

import scgroove as sg  # noqa: E402
from scgroove.align import one_hot_labels  # noqa: E402
from scgroove.benchmark._runner import quiet_libraries  # noqa: E402
from scgroove.model._guide import modality_pca  # noqa: E402

MODALITIES = ("rna", "atac")


def simulate(n_cells: int, n_peaks: int, seed: int) -> md.MuData:
    n_perturbations = 20
    return sg.datasets.simulate(
        n_perturbations=n_perturbations,
        cells_per_perturbation=int(round(n_cells * 0.9 / n_perturbations)),
        modalities={"rna": "counts", "atac": "counts"},
        n_features={"rna": 2000, "atac": n_peaks},
        library_size=8000,
        seed=seed,
    )


def train(mdata: md.MuData, epochs: int, seed: int) -> tuple[float, object]:
    sg.GROOVE.setup_mudata(mdata, perturbation_key="perturbation", modalities=MODALITIES)
    model = sg.GROOVE(mdata)
    start = time.perf_counter()
    model.train(max_epochs=epochs, enable_progress_bar=False, seed=seed, train_size=1.0)
    return time.perf_counter() - start, model


def score(z1, z2, labels, match, target) -> float:
    coupling = sg.align.align(z1, z2, *labels, method="labeled_ot", epsilon=0.05)
    return sg.metrics.barycentric_foscttm(coupling, target, match)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=2244)
    parser.add_argument("--peaks", type=int, default=52761)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/atac_scale")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    with quiet_libraries():
        mdata = simulate(args.cells, args.peaks, args.seed)
        atac = mdata["atac"]
        density = atac.X.nnz / (atac.n_obs * atac.n_vars)
        print(f"rna {mdata['rna'].shape}, atac {atac.shape}, {density:.1%} of entries non-zero", flush=True)
        labels = [mdata[m].obs["perturbation"].astype(str).to_numpy() for m in MODALITIES]
        match = sg.datasets.true_matching(mdata, MODALITIES)
        pca = [modality_pca(mdata[m].X, True) for m in MODALITIES]
        rows.append(("label_only+labeled_ot", "bary_foscttm", score(*one_hot_labels(*labels), labels, match, pca[1])))
        for epsilon in (0.01, 0.03, 0.05):
            coupling = sg.align.align(*pca, *labels, method="labeled_gw", epsilon=epsilon)
            rows.append(
                (f"pca+labeled_gw@{epsilon}", "bary_foscttm", sg.metrics.barycentric_foscttm(coupling, pca[1], match))
            )

        reset_peak_rss()
        seconds, model = train(mdata, args.epochs, args.seed)
        z = model.get_latent_representation()
        rows += [
            ("groove_peaks", "seconds_per_epoch", seconds / args.epochs),
            ("groove_peaks", "peak_rss_mib", current_peak_rss_mib()),
            ("groove_peaks", "bary_foscttm", score(z["rna"], z["atac"], labels, match, pca[1])),
        ]
        print(rows[-3:], flush=True)

        reset_peak_rss()
        start = time.perf_counter()
        lsi = sg.pp.atac_lsi(atac, n_comps=50)
        lsi_seconds = time.perf_counter() - start
        lsi_mdata = sg._mudata.new_mudata({"rna": mdata["rna"].copy(), "atac": lsi})
        seconds, model = train(lsi_mdata, args.epochs, args.seed)
        z = model.get_latent_representation()
        rows += [
            ("groove_lsi50", "lsi_seconds", lsi_seconds),
            ("groove_lsi50", "seconds_per_epoch", seconds / args.epochs),
            ("groove_lsi50", "peak_rss_mib", current_peak_rss_mib()),
            ("groove_lsi50", "bary_foscttm", score(z["rna"], z["atac"], labels, match, pca[1])),
        ]
        print(rows[-4:], flush=True)
    table = pd.DataFrame(rows, columns=["pipeline", "metric", "value"])
    table.insert(0, "epochs", args.epochs)
    table.insert(0, "shape", f"{args.cells} cells x {args.peaks} peaks")
    table.to_csv(out / f"results_epochs{args.epochs}.csv", index=False)
    print(table.pivot_table(index="pipeline", columns="metric", values="value").round(4).to_string())


if __name__ == "__main__":
    main()

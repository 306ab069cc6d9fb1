"""Time and peak memory of every stage of the main job on a simulated screen, at growing size.

Usage: python benchmarks/main_job_scale.py --cells 10000 100000 [--epochs 2] [--max-block-cells N] [--top-k K]
[--out results.csv]

One fresh process per size (its own peak memory). The screen: perturbations of 500 cells each
(plus control), RNA 2000 genes (sparse counts, library ~3000), protein 50 features, 90%/85% of the
cells kept per modality. Stages: simulate, setup_mudata, model construction, train (the guide
coupling, its PCA and the structure prior are built at the start of train and timed apart,
from the model's ``train_seconds_``), write_latent, align (labeled OT),
impute (protein for the RNA cells), write_h5mu. For every stage: wall seconds and the peak RSS of
the process during that stage (the high-water mark is reset before each stage, Linux only; it
includes what earlier stages left in memory, e.g. the data). ``*_linearity`` is the time per
cell relative to the smallest size (1.0 = linear in cells). ``--max-block-cells`` is passed to
``align`` (labels larger than that, i.e. the control group, matched within random parts; without it,
``align``'s default, 2000); the
guide always uses its default. ``--top-k`` is ``align``'s (``auto``, the default: 50 entries per
cell once the coupling has more than 10^7; ``none``: every entry). ``coupling_entries`` is the
number of stored coupling entries, ``max_entries_per_cell`` the most any cell holds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def job(cells: int, epochs: int, max_block_cells: int | None = None, top_k: int | str | None = "auto") -> dict:
    from _common import current_peak_rss_mib, reset_peak_rss

    import scgroove as sg

    row = {}

    def stage(name, function):
        print(f"{time.strftime('%H:%M:%S')} {cells} cells: {name} ...", file=sys.stderr, flush=True)
        reset_peak_rss()
        start = time.perf_counter()
        out = function()
        row[f"{name}_s"] = round(time.perf_counter() - start, 2)
        row[f"{name}_peak_mib"] = round(current_peak_rss_mib())
        return out

    n_perturbations = max(1, cells // 500 - 1)
    mdata = stage(
        "simulate",
        lambda: sg.datasets.simulate(
            n_perturbations=n_perturbations,
            cells_per_perturbation=500,
            n_features={"rna": 2000, "protein": 50},
            library_size=3000,
            keep_fraction=(0.9, 0.85),
            seed=0,
        ),
    )
    stage("setup", lambda: sg.GROOVE.setup_mudata(mdata, perturbation_key="perturbation"))
    model = stage("model", lambda: sg.GROOVE(mdata))
    stage("train", lambda: model.train(max_epochs=epochs, enable_progress_bar=False, train_size=1.0))
    # the one-time work before the epochs, as train() times it (model.train_seconds_)
    for name, seconds in model.train_seconds_.items():
        row[f"{name}_s"] = round(seconds, 2)
    row["guide_s"] = row["structure_guide_s"]
    row["train_per_epoch_s"] = round(model.train_seconds_["fit"] / epochs, 2)
    stage("write_latent", lambda: model.write_latent())
    split = {} if max_block_cells is None else {"max_block_cells": max_block_cells}
    coupling = stage("align", lambda: model.align(top_k=top_k, **split))
    row["coupling_entries"] = coupling.n_entries
    row["max_entries_per_cell"] = coupling.max_entries_per_row()
    stage("impute", lambda: model.impute("rna", "protein"))
    with tempfile.TemporaryDirectory() as folder:
        stage("write_h5mu", lambda: mdata.write_h5mu(Path(folder) / "out.h5mu"))
    row["n_rna"], row["n_protein"] = mdata["rna"].n_obs, mdata["protein"].n_obs
    return row


def main() -> None:
    from _common import in_fresh_process

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, nargs="+", default=[10000, 100000], help="cells per group x groups")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument(
        "--max-block-cells", type=int, help="passed to align (default: its own, 'auto': labels above 2000 cells split)"
    )
    parser.add_argument("--top-k", default="auto", help="align's top_k: auto (default), none or an integer")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    top_k = None if args.top_k == "none" else args.top_k if args.top_k == "auto" else int(args.top_k)
    import pandas as pd

    rows = []
    for cells in args.cells:
        result = in_fresh_process(
            "main_job_scale", "job", cells=cells, epochs=args.epochs, max_block_cells=args.max_block_cells, top_k=top_k
        )
        rows.append({"cells": cells, **result})
        print(rows[-1], flush=True)
    table = pd.DataFrame(rows).set_index("cells")
    stages = ["simulate", "setup", "model", "train", "write_latent", "align", "impute", "write_h5mu"]
    base = table.index.min()
    for stage in [*stages, "structure_pca", "guide", "structure_prior", "train_per_epoch"]:
        column = f"{stage}_s"
        if column in table:
            table[f"{stage}_linearity"] = (table[column] / table.index) / (table.loc[base, column] / base)
    print(table.T.to_string())
    if args.out is not None:
        table.to_csv(args.out)


if __name__ == "__main__":
    main()

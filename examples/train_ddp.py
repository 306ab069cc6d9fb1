r"""Train GROOVE on several devices with Lightning's DDP, then match and write the results on rank 0.

Run it as a script (DDP starts it once per device; it cannot run inside Jupyter):

    python examples/train_ddp.py --out ddp_run                      # a simulated screen, 2 CPU processes (gloo)
    python examples/train_ddp.py --input screen.h5mu --perturbation-key guide \
        --modalities rna protein --accelerator gpu --devices 4 --out ddp_run
    srun python examples/train_ddp.py --input screen.h5mu --perturbation-key guide \
        --accelerator gpu --devices 4 --num-nodes 2 --out ddp_run   # SLURM: one task per GPU

Every process reads the data and trains on its share of the group-balanced batches (the losses
logged are averaged over the processes). Rank 0 then matches the cells (``model.align()``: the
per-label blocks, optionally as Ray tasks with ``--align-backend ray``), imputes the second
modality for the cells of the first, and writes ``OUT/result.h5mu`` and the model ``OUT/model``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import mudata as md

import scgroove as sg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, help="weakly paired .h5mu (default: a simulated screen)")
    parser.add_argument("--perturbation-key", default="perturbation")
    parser.add_argument("--modalities", nargs=2, default=["rna", "protein"])
    parser.add_argument("--accelerator", default="cpu", help="cpu, gpu or auto")
    parser.add_argument("--devices", type=int, default=2, help="processes per node (one per GPU)")
    parser.add_argument("--num-nodes", type=int, default=1)
    parser.add_argument("--max-epochs", type=int, default=50)
    parser.add_argument("--align-backend", choices=["local", "ray"], default="local")
    parser.add_argument("--small", action="store_true", help="a tiny simulated screen and model (a smoke test)")
    parser.add_argument("--out", type=Path, required=True, help="folder for result.h5mu and the model")
    args = parser.parse_args()

    if args.input is not None:
        mdata = md.read_h5mu(args.input)
    else:
        size = {"n_perturbations": 4, "cells_per_perturbation": 60} if args.small else {}
        features = {"rna": 30, "protein": 6} if args.small else {"rna": 2000, "protein": 50}
        mdata = sg.datasets.simulate(**size, n_features=features, seed=0)
    modalities = tuple(args.modalities)
    sg.GROOVE.setup_mudata(mdata, perturbation_key=args.perturbation_key, modalities=modalities)
    model = sg.GROOVE(mdata, **({"n_latent": 4, "n_hidden": 16} if args.small else {}))
    model.train(
        max_epochs=args.max_epochs,
        accelerator=args.accelerator,
        devices=args.devices,
        num_nodes=args.num_nodes,
        strategy="ddp",
        enable_progress_bar=False,
    )
    if model.trainer.global_rank != 0:
        return  # the other processes only trained
    model.write_latent()
    model.align(backend=args.align_backend)
    model.impute(modalities[0], modalities[1])
    args.out.mkdir(parents=True, exist_ok=True)
    model.save(args.out / "model", save_anndata=False, overwrite=True)
    mdata.write_h5mu(args.out / "result.h5mu")
    print(
        f"trained on {model.trainer.world_size} processes for {len(model.history['train_loss'])} epochs; "
        f"wrote {args.out / 'result.h5mu'} and {args.out / 'model'}"
    )


if __name__ == "__main__":
    main()

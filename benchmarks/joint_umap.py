"""Joint UMAP of two GROOVE latents saved by ``within_group_screen.py --diagnose``, coloured by modality and group.

    python benchmarks/joint_umap.py --dataset bmmc_cite_lineage --seed 0 \
        --variants guided_projection guided_distribution \
        --out benchmarks/results/coarse_real/joint_umap_bmmc_cite_lineage.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import anndata as ad
import matplotlib
import numpy as np
import scanpy as sc

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from within_group_screen import load


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", nargs="+", required=True)
    parser.add_argument("--latents", default="benchmarks/results/coarse_real", help="folder of latents_*.npz")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    mdata, key, modalities = load(args.dataset, args.seed)
    groups = np.concatenate([mdata.mod[m].obs[key].astype(str).to_numpy() for m in modalities])
    fig, axes = plt.subplots(len(args.variants), 2, figsize=(11, 4.5 * len(args.variants)), squeeze=False)
    for row, variant in enumerate(args.variants):
        latents = np.load(Path(args.latents) / f"latents_{args.dataset}_{variant}_seed{args.seed}.npz")
        joint = ad.AnnData(np.zeros((len(latents["z1"]) + len(latents["z2"]), 1), dtype=np.float32))
        joint.obsm["z"] = np.vstack([latents["z1"], latents["z2"]])
        joint.obs["modality"] = [modalities[0]] * len(latents["z1"]) + [modalities[1]] * len(latents["z2"])
        joint.obs[key] = groups
        sc.pp.neighbors(joint, use_rep="z", random_state=0)
        sc.tl.umap(joint, random_state=0)
        order = np.random.default_rng(0).permutation(joint.n_obs)  # neither modality drawn on top
        joint = joint[order]
        sc.pl.umap(joint, color="modality", ax=axes[row, 0], show=False, title=f"{variant}: modality")
        sc.pl.umap(joint, color=key, ax=axes[row, 1], show=False, title=f"{variant}: {key}")
    fig.suptitle(f"Joint latent of {args.dataset}, seed {args.seed}")
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    print("wrote", args.out)


if __name__ == "__main__":
    main()

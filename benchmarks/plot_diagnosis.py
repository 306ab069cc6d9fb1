"""Plot the per-epoch diagnosis curves written by ``within_group_screen.py --diagnose``.

    python benchmarks/plot_diagnosis.py benchmarks/results/within_group_screen/diagnosis_sim_rho0.8_*_seed0.csv \
        --out benchmarks/results/within_group_screen/diagnosis.png
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

PANELS = [
    ("within_label_foscttm", "within-label FOSCTTM of the latent\n(lower: the latent matches cells inside groups)"),
    ("group_separation_rna", "group separation, RNA latent\n(share of variance explained by the label)"),
    ("cell_type_purity_rna", "cell-type purity of same-label\nkNN, RNA latent"),
    ("train_contrast", "contrastive loss (train)"),
    ("train_reconstruction_rna", "RNA reconstruction NLL (train)"),
    ("validation_loss", "total validation loss"),
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--out", required=True)
    parser.add_argument("--title", default="What happens to within-group structure during training")
    args = parser.parse_args(argv)
    curves = pd.concat([pd.read_csv(f) for f in args.files], ignore_index=True)
    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    for ax, (column, title) in zip(axes.ravel(), PANELS, strict=True):
        for variant, curve in curves.groupby("variant", sort=False):
            if column in curve:
                ax.plot(curve["epoch"], curve[column], label=variant)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("epoch")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(args.title)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print("wrote", args.out)


if __name__ == "__main__":
    main()

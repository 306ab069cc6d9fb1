"""Plot the per-epoch diagnosis curves written by ``within_group_screen.py --diagnose``.

    python benchmarks/plot_diagnosis.py benchmarks/results/within_group_screen/diagnosis_sim_rho0.8_*_seed0.csv \
        --out benchmarks/results/within_group_screen/diagnosis.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

PANELS = [
    ("within_label_foscttm", "within-label FOSCTTM of the latent\n(lower: the latent matches cells inside groups)"),
    ("latent_trace", "trace of labeled OT on the latent (lines)\nand of the guide (dashed; higher is better)"),
    ("modality_mixing", "modality mixing inside labels\n(1: ideal)"),
    ("cell_type_purity_", "state purity of same-label kNN,\nfirst modality's latent"),
    ("train_contrast", "contrastive loss (train)"),
    ("validation_loss", "total validation loss"),
]


def column_of(curve: pd.DataFrame, name: str) -> str | None:
    """The curve's column for a panel (a trailing "_" takes the first modality's column)."""
    if not name.endswith("_"):
        return name if name in curve and curve[name].notna().any() else None
    return next((c for c in curve.columns if c.startswith(name) and curve[c].notna().any()), None)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--out", required=True)
    parser.add_argument("--title", default="What happens to within-group structure during training")
    args = parser.parse_args(argv)
    # one line per file, named after it (dataset, variant and seed)
    curves = pd.concat(
        [pd.read_csv(f).assign(variant=Path(f).stem.removeprefix("diagnosis_")) for f in args.files], ignore_index=True
    )
    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    for ax, (column, title) in zip(axes.ravel(), PANELS, strict=True):
        for variant, curve in curves.groupby("variant", sort=False):
            found = column_of(curve, column)
            if found is None:
                continue
            (line,) = ax.plot(curve["epoch"], curve[found], label=variant)
            if column == "latent_trace" and "guide_trace" in curve:
                ax.axhline(curve["guide_trace"].iloc[0], color=line.get_color(), linestyle="--", linewidth=1)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("epoch")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(args.title)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print("wrote", args.out)


if __name__ == "__main__":
    main()

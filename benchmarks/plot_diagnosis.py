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
    ("latent_trace", "trace of labeled OT on the latent over the\nguide's own trace (above 1: the latent knows more)"),
    ("modality_mixing", "modality mixing inside labels\n(1: ideal)"),
    ("train_contrast", "contrastive loss (training cells)"),
    ("validation_contrast", "contrastive loss (validation cells;\nrising: the contrast memorises training cells)"),
    ("validation_loss", "total validation loss\n(what early stopping watches)"),
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
    colours = {variant: f"C{i}" for i, variant in enumerate(curves["variant"].unique())}
    for ax, (column, title) in zip(axes.ravel(), PANELS, strict=True):
        for variant, curve in curves.groupby("variant", sort=False):
            found = column_of(curve, column)
            if found is None:
                continue
            values = curve[found]
            if column == "latent_trace":  # relative to the guide, so datasets of any trace share the axis
                if "guide_trace" not in curve:
                    continue
                values = values / curve["guide_trace"]
                ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
            ax.plot(curve["epoch"], values, label=variant, color=colours[variant])
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("epoch")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(args.title)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print("wrote", args.out)


if __name__ == "__main__":
    main()

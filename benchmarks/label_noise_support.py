"""How well ``sg.tl.label_support`` flags the wrong calls of ``label_noise.py``'s simulations (no training).

For each noise setting and seed, the simulation is drawn again, each modality scored on its own,
and the RNA cells' support compared with the truth: AUROC of low support for a wrong call, and the
precision and recall of the flag "support < 0.05" (none of 20 neighbours carries the label).

    OMP_NUM_THREADS=1 python benchmarks/label_noise_support.py --out benchmarks/results/label_noise/support.csv
"""

from __future__ import annotations

import argparse

import pandas as pd
from label_noise import MODALITIES, SUPPORT_THRESHOLD, flag_scores, simulate
from within_group_screen import quiet_libraries

import scgroove as sg

SETTINGS = ((0.1, 0.0), (0.2, 0.0), (0.3, 0.0), (0.0, 0.3), (0.0, 0.6))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", default="benchmarks/results/label_noise/support.csv")
    args = parser.parse_args(argv)
    rows = []
    with quiet_libraries():
        for wrong, escapers in SETTINGS:
            for seed in args.seeds:
                mdata = simulate(wrong, escapers, seed)
                sg.tl.label_support(mdata, "perturbation", MODALITIES)
                obs = mdata[MODALITIES[0]].obs
                kinds = obs["label_noise"].astype(str).to_numpy()
                support = obs["groove_label_support"].to_numpy()
                # flag_scores flags a share above 0.5: give it the doubt, 1 - support, and the 0.05 cut
                values = flag_scores(1 - support, kinds)
                flagged = support < SUPPORT_THRESHOLD
                wrong_cells = kinds == "wrong"
                values["flagged"] = float(flagged.mean())
                if wrong_cells.any():
                    values["flag_precision"] = float((flagged & wrong_cells).sum() / max(flagged.sum(), 1))
                    values["flag_recall"] = float((flagged & wrong_cells).sum() / wrong_cells.sum())
                    true = obs["true_perturbation"].astype(str).to_numpy()
                    votes = obs["groove_neighbour_label"].astype(str).to_numpy()
                    values["neighbour_label_is_true"] = float((votes == true)[wrong_cells].mean())
                if (kinds == "escaper").any():
                    values["escapers_flagged"] = float(flagged[kinds == "escaper"].mean())
                setting = f"wrong{wrong:g}_escapers{escapers:g}"
                rows += [(setting, seed, "label_support", k, v) for k, v in values.items()]
                print(setting, seed, {k: round(v, 3) for k, v in values.items()}, flush=True)
    table = pd.DataFrame(rows, columns=["setting", "seed", "pipeline", "metric", "value"])
    table.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()

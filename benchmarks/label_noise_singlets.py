"""Do two-cell droplets hurt the other cells, or only themselves? Scores on singlet pairs, from kept latents.

A droplet in the protein modality blurs its cells' states, so an RNA cell whose true partner is
such a droplet cannot be matched as well by any method. For every
``latents/wrong0_escapers0_multiplets<m>_seed<s>.npz`` that ``label_noise.py`` kept, this rebuilds
the data and scores GROOVE's latents (labeled OT, and soft labeled OT at 0.25) and PCA + labeled GW
(each epsilon of the benchmark) on the RNA singlets whose partner is a protein singlet: what is
left of the damage is what the droplets do to the rest of the screen. Rows go to a tidy CSV like
``label_noise.py``'s, setting suffixed ``_singlet_pairs``.

    OMP_NUM_THREADS=1 python benchmarks/label_noise_singlets.py benchmarks/results/label_noise \\
        --out benchmarks/results/label_noise/singlets.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from label_noise import load_problem, score
from label_noise_matchers import PATTERN
from within_group_screen import GW_EPSILONS, make_truth, quiet_libraries

import scgroove as sg


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results")
    parser.add_argument("--out", default="benchmarks/results/label_noise/singlets.csv")
    args = parser.parse_args(argv)
    out = Path(args.out)
    for path in sorted((Path(args.results) / "latents").glob("*multiplets*.npz")):
        found = PATTERN.fullmatch(path.name)
        if found is None or float(found["wrong"]) or float(found["escapers"]):
            continue
        seed, multiplets = int(found["seed"]), float(found["multiplets"])
        with quiet_libraries():
            problem = load_problem("sim_rho0.8", 0.0, 0.0, seed, multiplets)
            truth = make_truth(problem.mdata, problem.key, problem.modalities)
            protein_kind = problem.mdata[problem.modalities[1]].obs["label_noise"].astype(str).to_numpy()
            partner_singlet = np.zeros(len(problem.kinds), dtype=bool)
            has = truth["match"] >= 0
            partner_singlet[has] = protein_kind[truth["match"][has]] == "clean"
            kinds = np.where(partner_singlet, problem.kinds, "partner_in_droplet")  # score() keeps clean cells
            z = np.load(path)
            labels = truth["labels"]
            couplings = {
                "groove": sg.align.labeled_ot(z["z1"], z["z2"], *labels),
                "groove+soft_labeled_ot@0.25": sg.align.soft_labeled_ot(z["z1"], z["z2"], *labels),
            }
            for epsilon in GW_EPSILONS:
                couplings[f"pca+labeled_gw@{epsilon}"] = sg.align.labeled_gw(*truth["pca"], *labels, epsilon=epsilon)
            rows = [(name, k, v) for name, c in couplings.items() for k, v in score(c, truth, kinds).items()]
            rows.append(("data", "scored_share", float(((kinds == "clean") & has).sum() / has.sum())))
        table = pd.DataFrame(rows, columns=["pipeline", "metric", "value"])
        table.insert(0, "seed", seed)
        table.insert(0, "setting", f"wrong0_escapers0_multiplets{multiplets:g}_singlet_pairs")
        table.to_csv(out, mode="a", header=not out.exists(), index=False)
        print(path.name, table[table["metric"] == "bary_foscttm"][["pipeline", "value"]].round(4).to_dict("records"))


if __name__ == "__main__":
    main()

"""More matchers on the latents ``label_noise.py`` kept: the soft matcher's penalty, without training again.

For every ``latents/<setting>_seed<s>.npz`` not yet in the output, the data are made again (the
simulation and the real screen's panels and corrupted calls are deterministic in their seed), the
truth rebuilt, and ``soft_labeled_ot`` run at each
``--penalties`` value on GROOVE's latents; rows go to a tidy CSV like ``label_noise.py``'s.

    OMP_NUM_THREADS=1 python benchmarks/label_noise_matchers.py benchmarks/results/label_noise \\
        --out benchmarks/results/label_noise/matchers.csv
    OMP_NUM_THREADS=1 python benchmarks/label_noise_matchers.py benchmarks/results/label_noise \\
        --dataset papalexi_panels --penalties 0.25 --out benchmarks/results/label_noise/real_matchers.csv
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pandas as pd
from label_noise import REAL, load_problem, score, setting_name
from within_group_screen import make_truth, quiet_libraries

import scgroove as sg

PATTERN = re.compile(
    r"wrong(?P<wrong>[\d.]+)_escapers(?P<escapers>[\d.]+)(_multiplets(?P<multiplets>[\d.]+))?_seed(?P<seed>\d+)\.npz"
)
REAL_PATTERN = re.compile(REAL + r"_wrong(?P<wrong>[\d.]+)_seed(?P<seed>\d+)\.npz")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results")
    parser.add_argument("--penalties", nargs="*", type=float, default=[0.1, 0.25])
    parser.add_argument("--out", default="benchmarks/results/label_noise/matchers.csv")
    parser.add_argument("--dataset", default="sim_rho0.8", choices=["sim_rho0.8", REAL])
    args = parser.parse_args(argv)
    out = Path(args.out)
    done = set()
    if out.exists():
        done = set(pd.read_csv(out)[["setting", "seed"]].drop_duplicates().itertuples(index=False, name=None))
    for path in sorted((Path(args.results) / "latents").glob("*.npz")):
        found = (REAL_PATTERN if args.dataset == REAL else PATTERN).fullmatch(path.name)
        if found is None:
            continue
        wrong, seed = float(found["wrong"]), int(found["seed"])
        escapers = float(found["escapers"]) if args.dataset != REAL else 0.0
        multiplets = float(found["multiplets"] or 0) if args.dataset != REAL else 0.0
        setting = setting_name(wrong, escapers, multiplets) if args.dataset != REAL else f"{REAL}_wrong{wrong:g}"
        if (setting, seed) in done:
            continue
        with quiet_libraries():
            problem = load_problem(args.dataset, wrong, escapers, seed, multiplets)
            truth = make_truth(problem.mdata, problem.key, problem.modalities)
            kinds = problem.kinds
            z = np.load(path)
            rows = []
            for penalty in args.penalties:
                coupling = sg.align.soft_labeled_ot(z["z1"], z["z2"], *truth["labels"], label_penalty=penalty)
                values = {"converged": float(coupling.converged), "off_label_mass": coupling.info["off_label_mass"]}
                values.update(score(coupling, truth, kinds))
                rows += [(f"groove+soft_labeled_ot@{penalty}", k, v) for k, v in values.items()]
        table = pd.DataFrame(rows, columns=["pipeline", "metric", "value"])
        table.insert(0, "seed", seed)
        table.insert(0, "setting", setting)
        table.to_csv(out, mode="a", header=not out.exists(), index=False)
        print(setting, seed, table[table["metric"] == "bary_foscttm"][["pipeline", "value"]].to_dict("records"))


if __name__ == "__main__":
    main()

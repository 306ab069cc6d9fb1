"""What capping the stored coupling at k entries per cell costs the matching: the kept latents of ``label_noise.py``.

For every ``latents/<setting>_seed<s>.npz`` that ``label_noise.py`` kept (GROOVE's latents, trained
as a user trains them), the data and truth are made again, the default matcher (``labeled_ot``)
is run once, and the coupling is scored in full and after :meth:`Coupling.top_k` at each
``--k``: barycentric FOSCTTM, trace and imputation on the cells whose label is right, the mass the
cut moved and the entries per cell. Rows go to a tidy CSV (setting, seed, k, metric, value).

    OMP_NUM_THREADS=1 python benchmarks/coupling_cap.py benchmarks/results/label_noise \\
        --out benchmarks/results/coupling_cap/results.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from label_noise import load_problem, score
from label_noise_matchers import PATTERN
from within_group_screen import make_truth, quiet_libraries

import scgroove as sg

K_VALUES = (10, 25, 50, 100)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="label_noise.py's output folder (with its latents/)")
    parser.add_argument("--k", nargs="*", type=int, default=list(K_VALUES))
    parser.add_argument("--out", default="benchmarks/results/coupling_cap/results.csv")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if out.exists():
        done = set(pd.read_csv(out)[["setting", "seed"]].drop_duplicates().itertuples(index=False, name=None))
    for path in sorted((Path(args.results) / "latents").glob("*.npz")):
        found = PATTERN.fullmatch(path.name)
        if found is None:
            continue
        wrong, escapers, seed = float(found["wrong"]), float(found["escapers"]), int(found["seed"])
        multiplets = float(found["multiplets"] or 0)
        setting = path.name.removesuffix(f"_seed{seed}.npz")
        if (setting, seed) in done:
            continue
        with quiet_libraries():
            problem = load_problem("sim_rho0.8", wrong, escapers, seed, multiplets)
            truth = make_truth(problem.mdata, problem.key, problem.modalities)
            z = np.load(path)
            full = sg.align.labeled_ot(z["z1"], z["z2"], *truth["labels"])
            rows = []
            for k, coupling in [(0, full)] + [(k, full.top_k(k)) for k in args.k]:
                values = score(coupling, truth, problem.kinds)
                values["entries_per_cell"] = coupling.to_sparse().nnz / coupling.n1
                values["max_entries_per_cell"] = float(coupling.max_entries_per_row())
                values["mass_moved"] = coupling.info.get("top_k_mass_moved", 0.0)
                rows += [(k, metric, value) for metric, value in values.items()]
        table = pd.DataFrame(rows, columns=["k", "metric", "value"])
        table.insert(0, "seed", seed)
        table.insert(0, "setting", setting)
        table.to_csv(out, mode="a", header=not out.exists(), index=False)
        wide = table.pivot_table(index="k", columns="metric", values="value")
        print(setting, seed, wide[["bary_foscttm", "trace", "cell_pearson", "mass_moved", "entries_per_cell"]].round(4))


if __name__ == "__main__":
    main()

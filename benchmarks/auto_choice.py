"""Which pipeline does ``sg.tl.match(pipeline="auto")`` choose on a dataset, without ground truth?

Records each candidate's held-out label resolution and the choice; the pipelines' scores against
the hidden truth come from ``within_group_screen.py`` on the same dataset and seed. The final
training of a chosen ``groove`` is capped at ``--epochs`` (the choice does not depend on it).

    python benchmarks/auto_choice.py --dataset bmmc_cite_lineage --seed 0 \
        --out benchmarks/results/coarse_real/auto_choice.csv
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
from within_group_screen import COARSE, REAL, SCREEN_SETS, SIMULATIONS, load

import scgroove as sg


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, choices=[*SIMULATIONS, *REAL, *COARSE, *SCREEN_SETS])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", default="benchmarks/results/coarse_real/auto_choice.csv")
    args = parser.parse_args(argv)
    mdata, key, modalities = load(args.dataset, args.seed)
    start = time.perf_counter()
    result = sg.tl.match(
        mdata,
        key,
        "auto",
        modalities=modalities,
        impute="none",
        seed=args.seed,
        setup_kwargs=SCREEN_SETS.get(args.dataset, {}),
        train_kwargs={"max_epochs": args.epochs, "enable_progress_bar": False},
    )
    seconds = time.perf_counter() - start
    scores = result.selection.groupby("pipeline")["resolution"].mean()
    rows = [(args.dataset, args.seed, name, value, name == result.pipeline, seconds) for name, value in scores.items()]
    table = pd.DataFrame(rows, columns=["dataset", "seed", "candidate", "resolution", "chosen", "seconds"])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, mode="a", header=not out.exists(), index=False)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()

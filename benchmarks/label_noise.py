"""Labels as noisy as a real screen's: how much each pipeline loses to wrong guide calls and escapers.

One run = one noise setting x one seed of the screen-scale simulation (``sim_rho0.8`` of
``within_group_screen.py``: 40 perturbations + control, 150 cells each, 2,000 sparse genes and 50
proteins), with ``--wrong`` of each modality's cells given another perturbation's label and
``--escapers`` of each perturbation's cells left in control's state and ``--multiplets`` of each
modality's cells two-cell droplets reported under one of their two labels. Everything is scored on
the same split against the simulator's truth:

* the references: labels alone + labeled OT, PCA + labeled GW and PCA + per-label GW at each
  epsilon, the label-mean imputation;
* GROOVE trained as a user trains it (``GROOVE(mdata).train()``, its default guide and early
  stopping), its latent matched by ``labeled_ot`` (the default) and by ``soft_labeled_ot`` at
  several label penalties;
* with ``--pipelines groove_multiplets_unlabeled``, GROOVE set up as the docs advise for droplets
  with two guide calls: their label set to missing and ``unlabeled="keep"`` (embedded, out of the
  contrast, matched nowhere).

``--dataset papalexi_panels`` runs the same on the real CRISPR screen (its 299 genes as two
disjoint panels, matched within guide, set up with ``group_key="target"`` and
``control_label="non-targeting"``): its labels are the screen's own calls, and ``--wrong``
gives a share of each panel's cells another guide (and that guide's gene) on top, the call
being the truth.

Per coupling: barycentric FOSCTTM, trace and imputation on the RNA cells whose label is right;
for the RNA cells with a wrong label, the share of their mass that reaches their true partner's
label block (``wrong_to_true_block``; 0 for every hard-block matcher); for escapers, their trace
and the share of their mass that leaves their (right) label; for two-cell droplets, the share of
their mass on their first cell's partner (``multiplet_trace``). For the soft matcher, how well its
per-cell off-label share flags the wrong labels (AUROC, precision and recall at 0.5). Rows are
appended to a tidy CSV (setting, seed, pipeline, metric, value).

    OMP_NUM_THREADS=2 python benchmarks/label_noise.py --wrong 0.2 --seed 0 \\
        --out benchmarks/results/label_noise/results.csv
    OMP_NUM_THREADS=2 python benchmarks/label_noise.py --dataset papalexi_panels --wrong 0.2 \\
        --pipelines references groove groove_robust --out benchmarks/results/label_noise/real.csv
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from within_group_screen import (
    GW_EPSILONS,
    OT_EPSILON,
    PER_LABEL_EPSILONS,
    SCREEN,
    SCREEN_SETS,
    SIMULATIONS,
    load,
    make_truth,
    quiet_libraries,
)

import scgroove as sg
from scgroove.align import one_hot_labels
from scgroove.benchmark import label_mean_imputation

MODALITIES = ("rna", "protein")
LABEL_PENALTIES = (0.5, 1.0, 2.0)
#: The real screen as two gene panels (``within_group_screen.py``'s ``papalexi_panels``), set up as a
#: screen; its labels are as called, and ``--wrong`` corrupts a share of them on top (truth: the call).
REAL = "papalexi_panels"


@dataclass
class Problem:
    """One dataset with noisy labels: where the labels are, how to set it up, what happened to each cell."""

    mdata: object
    key: str
    modalities: tuple[str, str]
    kinds: np.ndarray  # per cell of the first modality: clean / wrong / multiplet / escaper
    setup: dict = field(default_factory=dict)

    @property
    def support_key(self) -> str:  # the unit a cell's neighbours are asked about: the gene when guides are grouped
        return self.setup.get("group_key", self.key)


def load_problem(dataset: str, wrong: float, escapers: float, seed: int, multiplets: float = 0.0) -> Problem:
    if dataset == REAL:
        mdata, key, modalities = load(REAL, seed)
        kinds = corrupt_guides(mdata, key, modalities, wrong, group_key="target", seed=seed)
        return Problem(mdata, key, modalities, kinds, dict(SCREEN_SETS[REAL]))
    mdata = simulate(wrong, escapers, seed, multiplets)
    obs = mdata[MODALITIES[0]].obs
    kinds = obs["label_noise"].astype(str).to_numpy() if "label_noise" in obs else np.full(len(obs), "clean")
    return Problem(mdata, "perturbation", MODALITIES, kinds)


def corrupt_guides(mdata, key: str, modalities, fraction: float, group_key: str, seed: int) -> np.ndarray:
    """Give ``fraction`` of each modality's cells another guide (and that guide's gene); the kinds of the first."""
    rng = np.random.default_rng([seed, 7])
    kinds = None
    for modality in modalities:
        obs = mdata[modality].obs
        guides = obs[key].astype(str).to_numpy()
        gene_of = dict(zip(guides, obs[group_key].astype(str), strict=True))
        names = np.array(sorted(gene_of))
        wrong = rng.random(len(guides)) < fraction
        shifted = (np.searchsorted(names, guides[wrong]) + rng.integers(1, len(names), wrong.sum())) % len(names)
        guides[wrong] = names[shifted]
        obs[key] = pd.Categorical(guides, categories=names)
        obs[group_key] = pd.Categorical([gene_of[g] for g in guides])
        if kinds is None:
            kinds = np.where(wrong, "wrong", "clean")
    return kinds


def simulate(wrong: float, escapers: float, seed: int, multiplets: float = 0.0):
    return sg.datasets.simulate(
        **SCREEN,
        **SIMULATIONS["sim_rho0.8"],
        wrong_label_fraction=wrong,
        escaper_fraction=escapers,
        multiplet_fraction=multiplets,
        seed=seed,
    )


def setting_name(wrong: float, escapers: float, multiplets: float = 0.0) -> str:
    """A simulated noise setting's name in the tables (droplets named only where there are some)."""
    name = f"wrong{wrong:g}_escapers{escapers:g}"
    return name + (f"_multiplets{multiplets:g}" if multiplets else "")


def row_shares(coupling, columns_of) -> np.ndarray:
    """Each modality-1 cell's share of its mass on the modality-2 cells that ``columns_of(row, col)`` accepts."""
    T = coupling.to_sparse().tocoo()
    n1 = coupling.n1
    mass = np.bincount(T.row, weights=T.data, minlength=n1)
    hit = columns_of(T.row, T.col)
    on = np.bincount(T.row[hit], weights=T.data[hit], minlength=n1)
    return np.divide(on, mass, out=np.full(n1, np.nan), where=mass > 0)


def score(coupling, truth: dict, kinds: np.ndarray) -> dict:
    """Matching and imputation on the cells whose label is right; what happens to the others."""
    match = truth["match"]
    labels1, labels2 = truth["labels"]
    right = (kinds == "clean") | (kinds == "escaper")
    match_right = np.where(right, match, -1)
    rows = {
        "bary_foscttm": sg.metrics.barycentric_foscttm(coupling, truth["target_pca"], match_right),
        "trace": sg.metrics.trace(coupling, match_right),
    }
    imputed = coupling.barycentric_projection(truth["target_features"])
    has = right & (match >= 0) & ~np.isnan(imputed).any(1)
    scores = sg.metrics.imputation_scores(imputed[has], truth["target_features"][match[has]])
    rows["cell_pearson"], rows["feature_pearson"] = float(scores["cell_pearson"]), float(scores["feature_pearson"])
    partner_label = np.where(match >= 0, labels2[np.maximum(match, 0)], "")
    wrong = (kinds == "wrong") & (match >= 0)
    if wrong.any():
        to_true = row_shares(coupling, lambda r, c: labels2[c] == partner_label[r])
        rows["wrong_to_true_block"] = float(np.nanmean(to_true[wrong]))
        rows["wrong_trace"] = sg.metrics.trace(coupling, np.where(wrong, match, -1))
    escaper = (kinds == "escaper") & (match >= 0)
    if escaper.any():
        rows["escaper_trace"] = sg.metrics.trace(coupling, np.where(escaper, match, -1))
        off = row_shares(coupling, lambda r, c: labels2[c] != labels1[r])
        rows["escaper_off_label"] = float(np.nanmean(off[escaper]))
    multiplet = (kinds == "multiplet") & (match >= 0)
    if multiplet.any():
        rows["multiplet_trace"] = sg.metrics.trace(coupling, np.where(multiplet, match, -1))
    return rows


def flag_scores(share: np.ndarray, kinds: np.ndarray) -> dict:
    """How well a per-cell off-label share flags the wrong labels (and how many escapers it flags)."""
    known = ~np.isnan(share)
    wrong = kinds == "wrong"
    rows = {}
    if wrong[known].any() and (~wrong[known]).any():
        rows["flag_auroc"] = float(roc_auc_score(wrong[known], share[known]))
        flagged = known & (share > 0.5)
        rows["flag_precision"] = float((wrong & flagged).sum() / max(flagged.sum(), 1))
        rows["flag_recall"] = float((wrong & flagged).sum() / max(wrong.sum(), 1))
    if (kinds == "escaper").any():
        rows["escapers_flagged"] = float((share[kinds == "escaper"] > 0.5).mean())
    return rows


def references(truth: dict, kinds: np.ndarray) -> list[tuple[str, str, float]]:
    labels1, labels2 = truth["labels"]
    out = []
    one_hot = one_hot_labels(labels1, labels2)
    coupling = sg.align.align(*one_hot, labels1, labels2, method="labeled_ot", epsilon=OT_EPSILON)
    out += [("label_only+labeled_ot", k, v) for k, v in score(coupling, truth, kinds).items()]
    for method, epsilons in (("labeled_gw", GW_EPSILONS), ("per_label_gw", PER_LABEL_EPSILONS)):
        for epsilon in epsilons:
            coupling = sg.align.align(*truth["pca"], labels1, labels2, method=method, epsilon=epsilon)
            out += [(f"pca+{method}@{epsilon}", k, v) for k, v in score(coupling, truth, kinds).items()]
    imputed = label_mean_imputation(truth["target_features"], labels2, labels1)
    right = np.isin(kinds, ("clean", "escaper")) & (truth["match"] >= 0)
    scores = sg.metrics.imputation_scores(imputed[right], truth["target_features"][truth["match"][right]])
    out += [("label_mean", k, float(scores[k])) for k in ("cell_pearson", "feature_pearson")]
    return out


def groove(problem: Problem, truth: dict, seed: int, latents: Path | None = None) -> list[tuple[str, str, float]]:
    mdata, kinds, first = problem.mdata, problem.kinds, problem.modalities[0]
    sg.GROOVE.setup_mudata(mdata, perturbation_key=problem.key, modalities=problem.modalities, **problem.setup)
    model = sg.GROOVE(mdata)
    start = time.perf_counter()
    model.train(enable_progress_bar=False, seed=seed)
    out = [("groove", "train_seconds", time.perf_counter() - start)]
    out.append(("groove", "epochs", float(len(model.history["train_loss"]))))
    if latents is not None:  # to try other matchers on the same latents without training again
        z = model.get_latent_representation()
        np.savez_compressed(latents, z1=z[first], z2=z[problem.modalities[1]])
    coupling = model.align()  # the default matcher
    out += [("groove", k, v) for k, v in score(coupling, truth, kinds).items()]
    for penalty in LABEL_PENALTIES:
        start = time.perf_counter()
        coupling = model.align(method="soft_labeled_ot", label_penalty=penalty, key_added="soft_coupling")
        name = f"groove+soft_labeled_ot@{penalty}"
        rows = {
            "seconds": time.perf_counter() - start,
            "converged": float(coupling.converged),
            **score(coupling, truth, kinds),
        }
        rows["off_label_mass"] = coupling.info["off_label_mass"]
        rows.update(flag_scores(mdata[first].obs["groove_off_label_share"].to_numpy(), kinds))
        out += [(name, k, v) for k, v in rows.items()]
    return out


def train_with_unlabeled(problem: Problem, key: str, seed: int):
    """GROOVE set up on ``obs[key]`` (missing labels kept unlabeled), trained as a user trains; and its seconds."""
    sg.GROOVE.setup_mudata(
        problem.mdata, perturbation_key=key, modalities=problem.modalities, unlabeled="keep", **problem.setup
    )
    model = sg.GROOVE(problem.mdata)
    start = time.perf_counter()
    model.train(enable_progress_bar=False, seed=seed)
    return model, time.perf_counter() - start


#: The robust variant leaves out of training the cells whose own neighbours never carry their label.
SUPPORT_THRESHOLD = 0.05


def groove_robust(problem: Problem, truth: dict, seed: int, latents: Path | None = None) -> list[tuple]:
    """GROOVE trained without the cells whose label its own modality does not support; matched with all labels.

    ``sg.tl.label_support`` flags them before training; they are set up as unlabeled (out of the
    contrast and the guide, still embedded), and the latents are then matched with every cell's
    label as called, hard and soft.
    """
    mdata, kinds, modalities = problem.mdata, problem.kinds, problem.modalities
    sg.tl.label_support(mdata, problem.support_key, modalities)
    out = []
    for modality in modalities:
        obs = mdata[modality].obs
        doubtful = (obs["groove_label_support"] < SUPPORT_THRESHOLD).to_numpy()
        obs["label_trained"] = obs[problem.key].astype(object).where(~doubtful, None)
        out.append(("groove_robust", f"left_out_{modality}", float(doubtful.mean())))
        wrong = kinds == "wrong" if modality == MODALITIES[0] else None
        if wrong is not None and wrong.any():
            out.append(
                ("groove_robust", "left_out_precision", float((doubtful & wrong).sum() / max(doubtful.sum(), 1)))
            )
            out.append(("groove_robust", "left_out_recall", float((doubtful & wrong).sum() / wrong.sum())))
    model, seconds = train_with_unlabeled(problem, "label_trained", seed)
    out.append(("groove_robust", "train_seconds", seconds))
    z = model.get_latent_representation()
    z1, z2 = z[modalities[0]], z[modalities[1]]
    labels1, labels2 = truth["labels"]
    hard = sg.align.labeled_ot(z1, z2, labels1, labels2)
    out += [("groove_robust", k, v) for k, v in score(hard, truth, kinds).items()]
    for penalty in (0.25,):  # the soft matcher's default
        soft = sg.align.soft_labeled_ot(z1, z2, labels1, labels2, label_penalty=penalty)
        rows = {"converged": float(soft.converged), "off_label_mass": soft.info["off_label_mass"]}
        rows.update(score(soft, truth, kinds))
        rows.update(flag_scores(soft.off_label_share(labels1, labels2)[0], kinds))
        out += [(f"groove_robust+soft_labeled_ot@{penalty}", k, v) for k, v in rows.items()]
    return out


def groove_multiplets_unlabeled(problem: Problem, truth: dict, seed: int, latents: Path | None = None) -> list[tuple]:
    """GROOVE with every droplet of two guide calls set up as unlabeled, as the docs advise.

    A guide caller reports such droplets with both calls (``obs["perturbations_called"]`` holds
    ``"A;B"``); their label is set to missing, they are set up with ``unlabeled="keep"`` (out of
    the contrast and the guide, in no label block), and the other cells are scored as before.
    """
    mdata, modalities = problem.mdata, problem.modalities
    out = []
    for modality in modalities:
        obs = mdata[modality].obs
        droplet = obs["perturbations_called"].astype(str).str.contains(";").to_numpy()
        obs["label_singlets"] = obs[problem.key].astype(object).where(~droplet, None)
        out.append(("groove_multiplets_unlabeled", f"unlabeled_{modality}", float(droplet.mean())))
    model, seconds = train_with_unlabeled(problem, "label_singlets", seed)
    out.append(("groove_multiplets_unlabeled", "train_seconds", seconds))
    coupling = model.align()  # the singlets' labels: the droplets are matched nowhere
    out += [("groove_multiplets_unlabeled", k, v) for k, v in score(coupling, truth, problem.kinds).items()]
    return out


PIPELINES = {
    "groove": groove,
    "groove_robust": groove_robust,
    "groove_multiplets_unlabeled": groove_multiplets_unlabeled,
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wrong", type=float, default=0.0, help="share of each modality's cells with a wrong label")
    parser.add_argument("--escapers", type=float, default=0.0, help="share of each perturbation's cells that escape")
    parser.add_argument(
        "--multiplets", type=float, default=0.0, help="share of each modality's cells that are two-cell droplets"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dataset", default="sim_rho0.8", choices=["sim_rho0.8", REAL])
    parser.add_argument("--pipelines", nargs="*", default=["references", "groove"], choices=["references", *PIPELINES])
    parser.add_argument("--out", default="benchmarks/results/label_noise/results.csv")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with quiet_libraries():
        problem = load_problem(args.dataset, args.wrong, args.escapers, args.seed, args.multiplets)
        truth = make_truth(problem.mdata, problem.key, problem.modalities)
        setting = setting_name(args.wrong, args.escapers, args.multiplets)
        if args.dataset == REAL:
            setting = f"{REAL}_wrong{args.wrong:g}"
        latents = out.parent / "latents" / f"{setting}_seed{args.seed}.npz"
        latents.parent.mkdir(exist_ok=True)
        rows = references(truth, problem.kinds) if "references" in args.pipelines else []
        for name, run in PIPELINES.items():
            if name in args.pipelines:
                rows += run(problem, truth, args.seed, latents)  # only groove keeps its latents
    table = pd.DataFrame(rows, columns=["pipeline", "metric", "value"])
    table.insert(0, "seed", args.seed)
    table.insert(0, "setting", setting)
    table.to_csv(out, mode="a", header=not out.exists(), index=False)
    print(table.pivot_table(index="pipeline", columns="metric", values="value").round(4).to_string())


if __name__ == "__main__":
    main()

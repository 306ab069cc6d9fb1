"""``scgroove`` command line."""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

from scgroove.metrics import METRIC_NAMES

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1
BAD_INPUT = (ValueError, KeyError, TypeError, FileNotFoundError)


def _layers(pairs: list[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    layers = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"--layer takes MODALITY=LAYER, got {pair!r}.")
        modality, layer = pair.split("=", 1)
        layers[modality] = layer
    return layers


def _top_k(value: str) -> int | str | None:
    """``--top-k``: a positive integer, ``auto`` or ``none``; ``ValueError`` (exit 2) otherwise."""
    if value in ("auto", "none"):
        return None if value == "none" else value
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"--top-k must be a positive integer, 'auto' or 'none', not {value!r}.")
    return int(value)


def build_parser() -> argparse.ArgumentParser:
    from scgroove import __version__

    parser = argparse.ArgumentParser(
        prog="scgroove",
        description="Shared latent space, cell matching and imputation for weakly paired single-cell data.",
    )
    parser.add_argument("--version", action="version", version=f"scgroove {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        help="match the cells (default: GROOVE + labeled OT) and impute; write the annotated MuData and a figure",
        description="Match the cells of the two modalities with a pipeline (default: train GROOVE, progress bar, "
        "then labeled OT on its latents), impute modality 2 for the cells of modality 1, and write the annotated "
        "MuData and a summary figure (joint UMAP by modality and by perturbation when the pipeline has one shared "
        "space, within-label coupling specificity, metrics when ground truth exists). Without INPUT, runs on a "
        "built-in simulated screen with hidden ground truth.",
    )
    run.add_argument("input", nargs="?", type=Path, help="weakly paired .h5mu file (default: built-in simulated data)")
    run.add_argument(
        "--perturbation-key",
        default="perturbation",
        help="obs column with the perturbation label in each modality (default: %(default)s)",
    )
    run.add_argument(
        "--modalities",
        nargs=2,
        default=["rna", "protein"],
        metavar=("M1", "M2"),
        help="the two modalities (default: rna protein)",
    )
    run.add_argument(
        "--layer",
        action="append",
        metavar="MODALITY=LAYER",
        help="use this layer instead of .X for a modality (repeatable)",
    )
    run.add_argument(
        "--out", type=Path, default=Path("scgroove_result.h5mu"), help="output .h5mu (default: %(default)s)"
    )
    run.add_argument(
        "--figure", type=Path, default=Path("scgroove_summary.png"), help="summary figure (default: %(default)s)"
    )
    run.add_argument("--max-epochs", type=int, default=100, help="most training epochs (default: %(default)s)")
    run.add_argument(
        "--early-stopping",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="stop when the validation loss has not improved for 15 epochs (default: on; --no-early-stopping "
        "trains all --max-epochs)",
    )
    run.add_argument(
        "--impute",
        choices=["forward", "reverse", "both", "none"],
        default="forward",
        help="imputation: forward = M2 features for the cells of M1, reverse = M1 for M2, both, none "
        "(default: %(default)s)",
    )
    run.add_argument(
        "--backed",
        action="store_true",
        help="read INPUT backed (on disk, read in chunks) instead of loading it into memory",
    )
    run.add_argument("--save-model", type=Path, metavar="DIR", help="save the trained model to this folder")
    run.add_argument("--n-latent", type=int, default=32, help="latent dimension (default: %(default)s)")
    run.add_argument(
        "--control-label",
        metavar="VALUE",
        help="the screen's reference group (non-targeting, DMSO), a value of --group-key when given, else of "
        "--perturbation-key: drawn into every batch, and perturbations that differ from it in neither modality "
        "are merged with it for the contrast (see --null-perturbations)",
    )
    run.add_argument(
        "--group-key",
        metavar="COLUMN",
        help="obs column grouping perturbation labels for the contrast, e.g. the gene of each guide "
        "(matching stays at --perturbation-key level)",
    )
    run.add_argument(
        "--batch-key",
        metavar="COLUMN",
        help="obs column with a batch/donor covariate shared by both modalities, one-hot into the encoders and "
        "decoders; cells are matched within their own batch",
    )
    run.add_argument(
        "--null-perturbations",
        choices=["merge", "keep", "drop"],
        help="with --control-label: perturbations that differ from control in no modality (energy-distance "
        "permutation test) are merged with control for the contrast (default), kept, or left out of training",
    )
    run.add_argument(
        "--unlabeled",
        choices=["error", "keep"],
        help="cells with no perturbation label: refuse them (default) or keep them, embedded but out of the "
        "contrast and matched to no cell",
    )
    run.add_argument(
        "--pipeline",
        choices=["groove", "pca_gw", "pca_per_label_gw", "pca_mapped_ot", "label_only", "auto"],
        default="groove",
        help="representation + aligner, see scgroove.tl.match: groove = GROOVE latents + labeled OT mixed with the "
        "structure prior (see --prior-share), pca_gw = each modality's PCA + labeled GW, pca_per_label_gw = each "
        "modality's PCA + one GW per label, pca_mapped_ot = each modality's PCA + one linear map fitted on all cells "
        "+ labeled OT (the prior alone, no training), label_only = the floor, auto = "
        "chosen by held-out label resolution (default: %(default)s)",
    )
    run.add_argument(
        "--method",
        help="labeled aligner replacing the pipeline's own (labeled_ot, soft_labeled_ot, labeled_gw, per_label_gw, "
        "labeled_fgw, labeled_coot, labeled_knn)",
    )
    run.add_argument(
        "--max-block-cells",
        type=int,
        metavar="N",
        help="labeled aligners: match cells of labels larger than N (e.g. the control) within random parts of at "
        "most N cells, so time and memory stay linear in the label's size (default: exact)",
    )
    run.add_argument(
        "--top-k",
        default="auto",
        metavar="K",
        help="entries kept per cell of the stored coupling: an integer, 'auto' (default: 50 per cell once the "
        "coupling holds more than 10^7 entries) or 'none' (every entry)",
    )
    run.add_argument(
        "--prior-share",
        type=float,
        metavar="S",
        help="--pipeline groove: the structure guide's share (0 to 1) of the final coupling, the rest from labeled "
        "OT on the latent (default: 0.75, scgroove.model.PRIOR_SHARE, for the default guided model; "
        "0 = the latent alone)",
    )
    run.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="CPU threads of torch (default: torch's own, all cores); use 1 when other processes share the cores: "
        "the solvers' many small steps slow down by an order of magnitude when their threads wait for each other",
    )
    run.add_argument("--device", choices=["cpu", "gpu", "auto"], default="auto", help="where to train (default: auto)")
    run.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    bench = sub.add_parser(
        "benchmark",
        help="run the combinatorial benchmark (learners x aligners x datasets x seeds)",
        description="Run the benchmark grid of a TOML config (default: a small grid shipped with scgroove that "
        "finishes on a laptop CPU), write the tidy table, the summary (mean +- s.e.), paired Wilcoxon tests of "
        "GROOVE against the best baseline and every pipeline (GROOVE variants, references, peers) ranked per "
        "dataset with its time (ranking.csv). Finished tasks in --out are reused, so an interrupted run resumes.",
    )
    bench.add_argument("--config", type=Path, help="benchmark TOML file (default: the shipped small config)")
    bench.add_argument(
        "--out", type=Path, default=Path("scgroove_benchmark"), help="output folder (default: %(default)s)"
    )
    bench.add_argument("--backend", choices=["serial", "ray"], help="override the config's backend")
    return parser


def _run(args: argparse.Namespace) -> int:
    from scgroove import _run as job
    from scgroove._mudata import read_mudata

    start = time.perf_counter()
    try:  # everything about the input is checked before any training starts: exit 2
        options = job.RunOptions(
            perturbation_key=args.perturbation_key,
            pipeline=args.pipeline,
            modalities=tuple(args.modalities),
            layers=_layers(args.layer),
            n_latent=args.n_latent,
            max_epochs=args.max_epochs,
            method=args.method,
            accelerator=args.device,
            progress_bar=not args.quiet,
            seed=args.seed,
            early_stopping=args.early_stopping,
            impute=args.impute,
            save_model=args.save_model,
            max_block_cells=args.max_block_cells,
            top_k=_top_k(args.top_k),
            prior_share=args.prior_share,
            control_label=args.control_label,
            group_key=args.group_key,
            batch_key=args.batch_key,
            null_perturbations=args.null_perturbations,
            unlabeled=args.unlabeled,
        )
        job.check_options(options)
        if args.threads is not None:
            if args.threads < 1:
                raise ValueError(f"--threads must be >= 1, got {args.threads}.")
            import torch

            torch.set_num_threads(args.threads)
        if args.input is not None and not args.input.exists():
            raise FileNotFoundError(f"Input file {str(args.input)!r} does not exist.")
        if args.input is None:
            mdata = job.default_dataset(args.seed)
        else:
            mdata = read_mudata(args.input, backed=args.backed)
        source = str(args.input) if args.input is not None else "built-in simulated screen (20 perturbations + control)"
        print(f"scgroove run: {source}", file=sys.stderr)
        plan = job.prepare(mdata, options)
    except BAD_INPUT as error:
        return _bad_input(error)
    try:  # a failure from here on is not the input's fault: show where it happened, exit 1
        result = job.execute(plan, options)
        job.write_outputs(result, args.perturbation_key, args.out, args.figure)
    except Exception:
        traceback.print_exc()
        print("scgroove: error: the run failed after the input was checked (traceback above).", file=sys.stderr)
        return EXIT_FAILED
    for name, value in result.metrics.items():
        print(f"  {METRIC_NAMES.get(name, name):45s} {value:.4f}")
    print(f"wrote {args.out} and {args.figure} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return 0


def _bad_input(error: Exception) -> int:
    message = error.args[0] if isinstance(error, KeyError) and error.args else error
    print(f"scgroove: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _benchmark(args: argparse.Namespace) -> int:
    from scgroove import benchmark

    try:
        config = benchmark.load_config(args.config)
    except BAD_INPUT as error:
        return _bad_input(error)
    if args.backend is not None:
        config["backend"] = args.backend
    start = time.perf_counter()
    table = benchmark.run_benchmark(**config, out_dir=args.out)
    summary = benchmark.summarize(table, "bary_foscttm")
    tests = benchmark.paired_tests(table, "bary_foscttm")
    summary.to_csv(args.out / "summary_bary_foscttm.csv", index=False)
    benchmark.summarize(table, "trace").to_csv(args.out / "summary_trace.csv", index=False)
    tests.to_csv(args.out / "tests_bary_foscttm.csv", index=False)
    ranking = benchmark.rank_pipelines(table, "bary_foscttm")
    ranking.to_csv(args.out / "ranking.csv", index=False)
    with_default = summary[summary["epsilon_choice"] == "default"]
    print(with_default.pivot_table(index=["dataset", "aligner"], columns="learner", values="mean").round(4).to_string())
    print(tests.round(4).to_string(index=False))
    print("\npipelines ranked by barycentric FOSCTTM (each at its best epsilon):")
    print(ranking.round(4).to_string(index=False))
    print(
        f"wrote {args.out}/results.csv, summaries, tests and ranking.csv in {time.perf_counter() - start:.0f} s",
        file=sys.stderr,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``scgroove`` command."""
    args = build_parser().parse_args(argv)
    if args.command == "run":
        return _run(args)
    return _benchmark(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

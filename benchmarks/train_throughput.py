"""Training throughput of GROOVE (cells/s) with each loss term on and off, and scvi-tools' SCVI.

Usage: python benchmarks/train_throughput.py [--cells 10000] [--epochs 3] [--features 2000 100] [--profile]

Each configuration trains in a fresh process (so peak memory is its own) on the same simulated
data: ``--cells`` cells per modality, RNA counts with F features and protein with F features.
Throughput = cells of both modalities drawn per epoch / seconds per epoch (first epoch excluded
as warm-up). The reference is GROOVE with reconstruction only (the plain autoencoder pair) and
scvi-tools' SCVI on the same RNA cells, measured in the same run.
"""

from __future__ import annotations

import argparse
import time

CONFIGS = {
    "GROOVE default (guided GroupCLIP on a projection head)": {},
    "GroupCLIP on the latent (default up to 0.1)": {"contrast": "group", "projection_head": False},
    "no backtranslation": {"use_backtranslation": False},
    "no GroupCLIP": {"use_contrast": False},
    "reconstruction only (reference)": {"use_contrast": False, "use_backtranslation": False},
}


def _data(cells: int, features: int):
    import scgroove as sg

    n_perturbations = 100
    per_group = int(cells / (n_perturbations * 1.0) / 0.9) + 1
    return sg.datasets.simulate(
        n_perturbations=n_perturbations,
        cells_per_perturbation=per_group,
        n_features={"rna": features, "protein": features},
        keep_fraction=0.9,
        seed=0,
    )


def _epoch_timer():
    import lightning.pytorch as pl

    class EpochTimer(pl.Callback):
        """Wall time of each training epoch."""

        def __init__(self):
            self.times: list[float] = []

        def on_train_epoch_start(self, trainer, module):
            self.start = time.perf_counter()

        def on_train_epoch_end(self, trainer, module):
            self.times.append(time.perf_counter() - self.start)

    return EpochTimer()


def groove_run(cells: int, features: int, epochs: int, flags: dict) -> dict:
    import scvi
    from _common import peak_rss_mib

    import scgroove as sg

    mdata = _data(cells, features)
    scvi.settings.seed = 0
    sg.GROOVE.setup_mudata(mdata, perturbation_key="perturbation", modalities=("rna", "protein"))
    model = sg.GROOVE(mdata, n_latent=32, **flags)

    guide, guide_s = None, 0.0
    if model.module.needs_guide:
        start = time.perf_counter()
        guide = sg.model.structure_guide(model)  # once per training, before the first epoch
        guide_s = time.perf_counter() - start
    timer = _epoch_timer()
    model.train(
        max_epochs=epochs,
        accelerator="cpu",
        enable_progress_bar=False,
        train_size=1.0,
        callbacks=[timer],
        guide=guide,
    )
    per_epoch = sum(timer.times[1:]) / max(1, len(timer.times) - 1)
    sampler_cells = 2 * max(mdata["rna"].n_obs, mdata["protein"].n_obs)  # both modalities, ~one pass each
    return {
        "n_rna": mdata["rna"].n_obs,
        "n_protein": mdata["protein"].n_obs,
        "epoch_s": per_epoch,
        "cells_per_s": sampler_cells / per_epoch,
        "guide_s": guide_s,
        "peak_rss_mib": peak_rss_mib(),
    }


PHASES = (
    "groove.first_step.forward",
    "groove.guide_block",
    "groove.contrast",
    "groove.first_step.backward",
    "groove.first_step.optimizer",
    "groove.backtranslation.forward",
    "groove.pseudo_samples",
    "groove.backtranslation.backward",
    "groove.backtranslation.optimizer",
    "groove.logging",
)


def profile_run(cells: int, features: int, epochs: int, flags: dict) -> dict:
    """Where one training epoch's time goes: the plan's ``groove.*`` profiler ranges, data loading apart.

    The first ``epochs - 1`` epochs warm up; the last runs under ``torch.profiler`` (CPU activity),
    whose ranges give each phase's wall time summed over the epoch's batches (nested ranges, the
    contrast inside the first forward, pseudo-samples inside the backtranslation forward, are
    parts of their parent). Data loading is timed by iterating the training loader alone once.
    """
    import lightning.pytorch as pl
    import scvi
    import torch
    from _common import peak_rss_mib

    import scgroove as sg

    mdata = _data(cells, features)
    scvi.settings.seed = 0
    sg.GROOVE.setup_mudata(mdata, perturbation_key="perturbation", modalities=("rna", "protein"))
    model = sg.GROOVE(mdata, n_latent=32, **flags)
    start = time.perf_counter()
    guide = sg.model.structure_guide(model) if model.module.needs_guide else None
    guide_s = time.perf_counter() - start

    class ProfileLastEpoch(pl.Callback):
        def __init__(self):
            self.profiler, self.epoch_s, self.loader_s = None, None, None

        def on_train_epoch_start(self, trainer, module):
            if trainer.current_epoch == epochs - 1:
                loader = trainer.train_dataloader
                begin = time.perf_counter()
                for _ in loader:
                    pass
                self.loader_s = time.perf_counter() - begin
                self.profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
                self.profiler.__enter__()
                self.start = time.perf_counter()

        def on_train_epoch_end(self, trainer, module):
            if self.profiler is not None and self.epoch_s is None:
                self.epoch_s = time.perf_counter() - self.start
                self.profiler.__exit__(None, None, None)

    callback = ProfileLastEpoch()
    model.train(
        max_epochs=epochs,
        accelerator="cpu",
        enable_progress_bar=False,
        train_size=1.0,
        callbacks=[callback],
        guide=guide,
    )
    totals = {
        event.key: event.cpu_time_total / 1e6 for event in callback.profiler.key_averages() if event.key in PHASES
    }
    return {
        "epoch_s_profiled": callback.epoch_s,
        "data_loading_s": callback.loader_s,
        "guide_s": guide_s,
        **{phase: totals.get(phase, 0.0) for phase in PHASES},
        "peak_rss_mib": peak_rss_mib(),
    }


def scvi_run(cells: int, features: int, epochs: int) -> dict:
    import scvi
    from _common import peak_rss_mib

    adata = _data(cells, features)["rna"].copy()
    scvi.settings.seed = 0
    scvi.model.SCVI.setup_anndata(adata)
    model = scvi.model.SCVI(adata, n_latent=32)

    timer = _epoch_timer()
    model.train(
        max_epochs=epochs,
        accelerator="cpu",
        enable_progress_bar=False,
        train_size=1.0,
        callbacks=[timer],
        batch_size=256,
    )
    per_epoch = sum(timer.times[1:]) / max(1, len(timer.times) - 1)
    return {
        "n_rna": adata.n_obs,
        "epoch_s": per_epoch,
        "cells_per_s": adata.n_obs / per_epoch,
        "peak_rss_mib": peak_rss_mib(),
    }


def main() -> None:
    from _common import in_fresh_process, print_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--features", type=int, nargs="+", default=[2000, 100])
    parser.add_argument(
        "--profile", action="store_true", help="only the default model: where one epoch's time goes, by phase"
    )
    args = parser.parse_args()
    if args.profile:
        for features in args.features:
            result = in_fresh_process(
                "train_throughput", "profile_run", cells=args.cells, features=features, epochs=args.epochs, flags={}
            )
            print(f"features {features}, cells per modality ~{args.cells}, last of {args.epochs} epochs profiled")
            epoch = result.get("epoch_s_profiled") or float("nan")
            for key, value in result.items():
                share = (
                    f"  {value / epoch:6.1%} of the epoch"
                    if key.startswith("groove.") or key == "data_loading_s"
                    else ""
                )
                print(f"  {key:36s} {value:9.3f}{share}")
        return
    rows = []
    for features in args.features:
        reference = None
        for name, flags in CONFIGS.items():
            result = in_fresh_process(
                "train_throughput", "groove_run", cells=args.cells, features=features, epochs=args.epochs, flags=flags
            )
            rows.append({"features": features, "model": name, **result})
            if "reference" in name:
                reference = result.get("cells_per_s")
        scvi_result = in_fresh_process(
            "train_throughput", "scvi_run", cells=args.cells, features=features, epochs=args.epochs
        )
        rows.append({"features": features, "model": "scvi-tools SCVI (RNA only, batch 256)", **scvi_result})
        for row in rows:
            if row["features"] == features and reference and "cells_per_s" in row:
                row["vs_reference"] = row["cells_per_s"] / reference
    print(
        f"cells per modality ~{args.cells}, epochs {args.epochs} (first excluded), CPU threads: "
        f"{__import__('torch').get_num_threads()}"
    )
    columns = ["features", "model", "n_rna", "epoch_s", "cells_per_s", "vs_reference", "guide_s", "peak_rss_mib"]
    print_table(rows, [*columns, "error"])


if __name__ == "__main__":
    main()

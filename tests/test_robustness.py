"""Edge cases: odd group sizes, many labels, degenerate features and cells. No NaN, no crash."""

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import scgroove as sg

QUIET = {"enable_progress_bar": False}


def screen(labels1, labels2, n_genes=30, n_proteins=6, seed=0):
    rng = np.random.default_rng(seed)
    codes1 = pd.factorize(labels1)[0]
    rna = rng.poisson(1 + (codes1 % 5)[:, None], (len(labels1), n_genes)).astype(np.float32)
    protein = rng.normal(size=(len(labels2), n_proteins)).astype(np.float32)
    obs1 = pd.DataFrame({"perturbation": labels1}, index=[f"r{i}" for i in range(len(labels1))])
    obs2 = pd.DataFrame({"perturbation": labels2}, index=[f"p{i}" for i in range(len(labels2))])
    return md.MuData(
        {
            "rna": ad.AnnData(rna, obs=obs1, var=pd.DataFrame(index=[f"g{j}" for j in range(n_genes)])),
            "protein": ad.AnnData(protein, obs=obs2, var=pd.DataFrame(index=[f"a{j}" for j in range(n_proteins)])),
        }
    )


def train_align_impute(mdata, epochs=2):
    sg.GROOVE.setup_mudata(mdata, perturbation_key="perturbation", modalities=("rna", "protein"))
    model = sg.GROOVE(mdata, n_latent=4, n_hidden=16)
    model.train(max_epochs=epochs, **QUIET)
    coupling = model.align()
    imputed = model.impute("rna", "protein")
    return model, coupling, imputed


def test_label_with_a_single_cell():
    labels1 = np.array(["a"] * 30 + ["b"] * 30 + ["lonely"])
    labels2 = np.array(["a"] * 20 + ["b"] * 20 + ["lonely"])
    model, coupling, imputed = train_align_impute(screen(labels1, labels2))
    assert np.isfinite(model.history["train_loss"].to_numpy().astype(float)).all()
    assert coupling.to_sparse()[60, 40] == pytest.approx(1 / 61, rel=1e-3)  # the lonely pair is matched
    assert np.isfinite(imputed.to_numpy()).all()


def test_more_than_a_thousand_labels():
    rng = np.random.default_rng(1)
    labels1 = np.array([f"g{k}" for k in rng.integers(0, 1200, 4000)])
    labels2 = np.array([f"g{k}" for k in rng.integers(0, 1200, 3000)])
    mdata = screen(labels1, labels2)
    model, coupling, imputed = train_align_impute(mdata, epochs=1)
    shared = np.isin(labels1, labels2)
    assert len(coupling.blocks) == len(np.intersect1d(labels1, labels2)) > 1000
    np.testing.assert_allclose(coupling.row_mass[shared], 1 / shared.sum(), rtol=1e-2)
    assert np.isnan(imputed.to_numpy()[~shared]).all() and np.isfinite(imputed.to_numpy()[shared]).all()


def test_zero_variance_features_and_all_zero_cells():
    labels = np.array(["a", "b", "c"] * 20)
    mdata = screen(labels, labels[:45])
    rna = mdata["rna"].X.copy()
    rna[:5] = 0  # empty cells (library size 0)
    rna[:, 0] = 0  # a gene never seen
    mdata["rna"].X = sp.csr_matrix(rna)
    mdata["protein"].X[:, 1] = 3.0  # constant protein
    model, coupling, imputed = train_align_impute(mdata)
    for m in ("rna", "protein"):
        assert np.isfinite(model.get_latent_representation(modality=m)).all()
    assert np.isfinite(imputed.to_numpy()).all()
    assert np.isfinite(model.get_reconstruction("rna")).all()
    assert np.allclose(model.get_reconstruction("rna")[:5], 0)  # library 0 -> expected counts 0


def test_early_stopping_stops_and_needs_validation(small_mdata):
    sg.GROOVE.setup_mudata(small_mdata, perturbation_key="perturbation", modalities=("rna", "protein"))
    model = sg.GROOVE(small_mdata, n_latent=4, n_hidden=32)
    with pytest.raises(ValueError, match="validation cells"):
        model.train(max_epochs=5, early_stopping=True, train_size=1.0, **QUIET)
    model.train(max_epochs=400, early_stopping=True, early_stopping_patience=3, **QUIET)
    assert len(model.history["train_loss"]) < 400
    # the default stops by itself when there are validation cells, and trains every epoch without them
    model = sg.GROOVE(small_mdata, n_latent=4, n_hidden=32)
    model.train(max_epochs=400, early_stopping_patience=3, **QUIET)
    assert len(model.history["train_loss"]) < 400
    model = sg.GROOVE(small_mdata, n_latent=4, n_hidden=32)
    model.train(max_epochs=4, train_size=1.0, **QUIET)
    assert len(model.history["train_loss"]) == 4


def test_interrupted_training_resumes_from_checkpoint(small_mdata, tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    sg.GROOVE.setup_mudata(small_mdata, perturbation_key="perturbation", modalities=("rna", "protein"))
    first = sg.GROOVE(small_mdata, n_latent=4, n_hidden=16)
    checkpoint = ModelCheckpoint(dirpath=tmp_path, save_last=True, every_n_epochs=1)
    first.train(max_epochs=3, callbacks=[checkpoint], enable_checkpointing=True, **QUIET)
    assert (tmp_path / "last.ckpt").exists()
    resumed = sg.GROOVE(small_mdata, n_latent=4, n_hidden=16)
    resumed.train(max_epochs=5, ckpt_path=str(tmp_path / "last.ckpt"), **QUIET)
    assert resumed.trainer.current_epoch == 5 and len(resumed.history["train_loss"]) == 2
    assert np.isfinite(resumed.get_latent_representation(modality="rna")).all()


def test_sampler_epochs_differ_and_are_reproducible():
    from scgroove.model._batching import GroupBalancedBatchSampler

    labels = np.repeat(np.arange(5), 20)
    sampler = GroupBalancedBatchSampler(labels, labels, np.arange(100), np.arange(100), 2, 4, seed=3)
    sampler.set_epoch(7)
    epoch_7 = [b[0].tolist() for b in sampler]
    sampler.set_epoch(8)
    epoch_8 = [b[0].tolist() for b in sampler]
    sampler.set_epoch(7)
    assert [b[0].tolist() for b in sampler] == epoch_7 != epoch_8
    first = next(iter(sampler))
    assert len(first[0]) == len(first[1]) == 8  # 2 groups x 4 cells from each modality
    assert set(labels[first[0]]) == set(labels[first[1]])  # the same groups in both modalities


def test_backed_h5mu_trains_without_loading(tmp_path):
    mdata = sg.datasets.simulate(
        n_perturbations=3, cells_per_perturbation=15, n_features={"rna": 20, "protein": 5}, seed=4
    )
    mdata["rna"].X = sp.csr_matrix(mdata["rna"].X)
    mdata.write_h5mu(tmp_path / "screen.h5mu")
    backed = md.read_h5mu(tmp_path / "screen.h5mu", backed=True)
    assert not isinstance(backed["rna"].X, np.ndarray | sp.spmatrix)  # on disk
    sg.GROOVE.setup_mudata(backed, perturbation_key="perturbation", modalities=("rna", "protein"))
    model = sg.GROOVE(backed, n_latent=4, n_hidden=16)
    assert model.module.heads["1"].name == "nb"
    model.train(max_epochs=2, **QUIET)
    z = model.get_latent_representation(modality="rna")
    in_memory = md.read_h5mu(tmp_path / "screen.h5mu")
    np.testing.assert_allclose(model.get_latent_representation(in_memory, modality="rna"), z, atol=1e-5)
    model.align()
    imputed = model.impute("rna", "protein")  # the backed protein counts are read in row chunks
    assert np.isfinite(imputed.to_numpy()).all()


DDP_SCRIPT = """
import numpy as np, scgroove as sg, scvi
if __name__ == "__main__":
    scvi.settings.seed = 0
    mdata = sg.datasets.simulate(n_perturbations=4, cells_per_perturbation=60, n_features={"rna": 30, "protein": 6})
    sg.GROOVE.setup_mudata(mdata, perturbation_key="perturbation", modalities=("rna", "protein"))
    model = sg.GROOVE(mdata, n_latent=4, n_hidden=16)
    model.train(max_epochs=2, accelerator="cpu", devices=2, strategy="ddp", enable_progress_bar=False)
    rank = model.trainer.global_rank
    single = model.trainer.datamodule.train_sampler.n_batches
    line = (f"RANK {rank} WORLD {model.trainer.world_size} BATCHES {model.trainer.num_training_batches} "
            f"SINGLE {single} HISTORY {len(model.history.get('train_loss', []))} "
            f"FINITE {np.isfinite(model.get_latent_representation(modality='rna')).all()}")
    with open(f"rank{rank}.txt", "w") as handle:  # one file per rank: a shared stdout pipe interleaves the lines
        handle.write(line)
"""


def test_ddp_two_processes_on_cpu_gloo(tmp_path):
    """Smoke test of multi-device training: Lightning's DDP (gloo on CPU) with devices=2."""
    import subprocess
    import sys

    script = tmp_path / "ddp_train.py"
    script.write_text(DDP_SCRIPT)
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    written = [tmp_path / f"rank{rank}.txt" for rank in (0, 1)]
    lines = sorted(path.read_text() for path in written if path.exists())
    assert len(lines) == 2 and all("WORLD 2" in line and "FINITE True" in line for line in lines)
    for line in lines:  # Lightning shards the group-balanced batches across the two ranks
        batches, single = int(line.split("BATCHES ")[1].split()[0]), int(line.split("SINGLE ")[1].split()[0])
        assert single >= 2 and batches == int(np.ceil(single / 2)), line
    assert "HISTORY 2" in lines[0]  # rank 0 holds the history


def test_the_ddp_example_trains_on_two_processes_and_writes_its_results(tmp_path):
    """examples/train_ddp.py, the script docs/scaling.md points to, runs as documented (gloo on CPU)."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "examples" / "train_ddp.py"
    out = tmp_path / "ddp_run"
    result = subprocess.run(
        [sys.executable, str(script), "--small", "--max-epochs", "2", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "trained on 2 processes for 2 epochs" in result.stdout
    written = md.read_h5mu(out / "result.h5mu")
    assert written["rna"].obsm["X_groove"].shape == (written["rna"].n_obs, 4)
    coupling = written.uns["groove"]["coupling"]
    assert coupling["matrix"].shape == (written["rna"].n_obs, written["protein"].n_obs)
    imputed = written["rna"].obsm["groove_imputed_protein"]
    assert imputed.shape == (written["rna"].n_obs, written["protein"].n_vars) and np.isfinite(imputed).all().all()
    assert (out / "model" / "model.pt").exists()

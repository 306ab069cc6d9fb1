import matplotlib
import mudata as md
import numpy as np
import pytest

import scgroove as sg
from scgroove.cli import main

matplotlib.use("Agg")


@pytest.fixture
def input_file(tmp_path):
    mdata = sg.datasets.simulate(
        n_perturbations=4, cells_per_perturbation=25, n_features={"rna": 40, "protein": 8}, seed=5
    )
    mdata["rna"].obs = mdata["rna"].obs.rename(columns={"perturbation": "guide"})
    mdata["protein"].obs = mdata["protein"].obs.rename(columns={"perturbation": "guide"})
    path = tmp_path / "input.h5mu"
    mdata.write_h5mu(path)
    return path


def test_run_on_a_file_writes_results_and_figure(input_file, tmp_path, capsys):
    out, figure = tmp_path / "out.h5mu", tmp_path / "fig.png"
    code = main(
        [
            "run",
            str(input_file),
            "--perturbation-key",
            "guide",
            "--max-epochs",
            "2",
            "--n-latent",
            "4",
            "--out",
            str(out),
            "--figure",
            str(figure),
            "--device",
            "cpu",
            "--quiet",
        ]
    )
    assert code == 0
    result = md.read_h5mu(out)
    assert result["rna"].obsm["X_groove"].shape[1] == 4
    assert result["rna"].obsm["groove_imputed_protein"].shape == (result["rna"].n_obs, 8)
    assert result.uns["groove"]["coupling"]["method"] == "labeled_ot"
    # the stored scores are the benchmark's own, recomputed from the written results
    metrics = result.uns["groove"]["metrics"]
    truth = sg.benchmark.DatasetTruth.from_mudata(result, "guide", ("rna", "protein"))
    expected = sg.benchmark.score_against_truth(
        truth,
        latents=(result["rna"].obsm["X_groove"], result["protein"].obsm["X_groove"]),
        coupling=sg.align.Coupling.from_uns(result.uns["groove"]["coupling"]),
        imputed=result["rna"].obsm["groove_imputed_protein"],
    )
    assert set(metrics) == set(sg.metrics.METRIC_NAMES) == set(expected)
    for name, value in expected.items():
        assert metrics[name] == pytest.approx(value, rel=1e-6), name
    assert figure.stat().st_size > 10_000 and figure.read_bytes()[:4] == b"\x89PNG"
    # the summary's joint UMAP is of the coupled latent, written with the results
    assert result.uns["groove"]["joint_umap"]["use_rep"] == "X_match_coupled"
    assert result["protein"].obsm["X_match_coupled"].shape == result["protein"].obsm["X_groove"].shape
    printed = capsys.readouterr().out
    assert f"{sg.metrics.METRIC_NAMES['bary_foscttm']}" in printed and f"{metrics['bary_foscttm']:.4f}" in printed


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "missing.h5mu"], "does not exist"),
        (["run", "{input}", "--perturbation-key", "nope"], "'nope' not found"),
        (["run", "{input}", "--perturbation-key", "guide", "--modalities", "rna", "atac"], "'atac' not found"),
        (["run", "{input}", "--perturbation-key", "guide", "--layer", "rna"], "MODALITY=LAYER"),
    ],
)
def test_bad_input_exits_2_with_a_message(args, message, input_file, tmp_path, capsys):
    args = [a.replace("{input}", str(input_file)) for a in args]
    code = main([*args, "--out", str(tmp_path / "o.h5mu"), "--figure", str(tmp_path / "f.png"), "--quiet"])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o.h5mu").exists()


def test_every_run_option_reaches_the_main_job(input_file, tmp_path, monkeypatch):
    import scgroove._run

    calls = {}

    def fake_execute(model, options):
        calls["model"], calls["options"] = model, options
        raise KeyboardInterrupt  # stop before any training

    monkeypatch.setattr(scgroove._run, "execute", fake_execute)
    argv = ["run", str(input_file), "--perturbation-key", "guide", "--modalities", "protein", "rna"]
    argv += ["--max-epochs", "7", "--n-latent", "5", "--method", "labeled_gw", "--early-stopping"]
    argv += ["--device", "cpu", "--seed", "3", "--quiet", "--impute", "both"]
    argv += ["--max-block-cells", "500", "--pipeline", "pca_gw", "--top-k", "40"]
    argv += ["--control-label", "control", "--null-perturbations", "keep", "--unlabeled", "keep"]
    with pytest.raises(KeyboardInterrupt):
        main(argv)
    plan, options = calls["model"], calls["options"]
    assert list(plan.mdata["rna"].obs_names) == list(md.read_h5mu(input_file)["rna"].obs_names)
    assert plan.modalities == ("protein", "rna") and plan.model_kwargs == {"n_latent": 5}
    assert plan.pipeline == "pca_gw" and plan.aligner == "labeled_gw" and plan.prior_share is None
    assert plan.aligner_params == {"max_block_cells": 500}
    assert plan.train_kwargs == {
        "max_epochs": 7,
        "accelerator": "cpu",
        "early_stopping": True,
        "enable_progress_bar": False,
    }
    assert (options.perturbation_key, options.max_epochs, options.method, options.accelerator) == (
        "guide",
        7,
        "labeled_gw",
        "cpu",
    )
    assert options.early_stopping and options.impute == "both" and options.seed == 3 and not options.progress_bar
    assert options.max_block_cells == 500 and options.pipeline == "pca_gw"
    assert options.top_k == 40 and plan.top_k == 40
    assert plan.setup_kwargs == {"control_label": "control", "null_perturbations": "keep", "unlabeled": "keep"}


def test_prior_share_reaches_the_groove_pipeline(input_file, monkeypatch):
    import scgroove._run

    calls = {}

    def fake_execute(plan, options):
        calls["plan"] = plan
        raise KeyboardInterrupt  # stop before any training

    monkeypatch.setattr(scgroove._run, "execute", fake_execute)
    with pytest.raises(KeyboardInterrupt):
        main(["run", str(input_file), "--perturbation-key", "guide", "--quiet", "--prior-share", "0.25"])
    assert calls["plan"].pipeline == "groove" and calls["plan"].prior_share == 0.25


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--method", "labeled_ott"], "'labeled_ott' is not a labeled aligner"),
        (["--pipeline", "pca_gw", "--method", "labeled_ot"], "needs one shared space; --pipeline 'pca_gw' has two"),
        (["--pipeline", "auto", "--method", "labeled_gw"], "cannot be combined with --pipeline auto"),
        (["--pipeline", "pca_gw", "--save-model", "m"], "--save-model needs --pipeline groove"),
        (["--n-latent", "0"], "must be >= 1"),
        (["--modalities", "rna", "rna"], "two different modalities"),
        (["--method", "labeled_knn", "--max-block-cells", "9"], "not to --method 'labeled_knn'"),
        (["--max-block-cells", "0"], "--max-block-cells must be >= 1"),
        (["--threads", "0"], "--threads must be >= 1"),
        (["--top-k", "0"], "--top-k must be a positive integer, 'auto' or 'none', not '0'"),
        (["--top-k", "many"], "--top-k must be a positive integer, 'auto' or 'none', not 'many'"),
        (["--control-label", "DMSO"], "control_label 'DMSO' has no cells in modality 'rna'"),
        (["--batch-key", "donor"], "batch_key 'donor' not found in mdata['rna'].obs"),
        (["--group-key", "gene"], "group_key 'gene' not found"),
        (["--null-perturbations", "drop"], "needs control_label"),
        (["--prior-share", "1.5"], "--prior-share must be in [0, 1], got 1.5"),
        (["--pipeline", "pca_gw", "--prior-share", "0.5"], "--prior-share needs --pipeline groove"),
    ],
)
def test_options_are_checked_before_any_training(extra, message, input_file, tmp_path, monkeypatch, capsys):
    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(sg.GROOVE, "train", no_training)
    code = main(["run", str(input_file), "--perturbation-key", "guide", "--quiet", *extra])
    assert code == 2 and message in capsys.readouterr().err


def test_a_failure_during_training_shows_its_traceback_and_exits_1(input_file, tmp_path, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise ValueError("something inside training")

    monkeypatch.setattr(sg.GROOVE, "train", broken)
    code = main(["run", str(input_file), "--perturbation-key", "guide", "--quiet", "--out", str(tmp_path / "o.h5mu")])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" in err and "something inside training" in err
    assert not (tmp_path / "o.h5mu").exists()


def test_backed_input_saved_model_and_both_imputations(input_file, tmp_path):
    out = tmp_path / "out.h5mu"
    argv = ["run", str(input_file), "--perturbation-key", "guide", "--max-epochs", "2", "--n-latent", "4"]
    argv += ["--backed", "--impute", "both", "--save-model", str(tmp_path / "model"), "--quiet"]
    assert main([*argv, "--out", str(out), "--figure", str(tmp_path / "f.png"), "--device", "cpu"]) == 0
    result = md.read_h5mu(out)
    assert result["rna"].obsm["groove_imputed_protein"].shape == (result["rna"].n_obs, 8)
    assert result["protein"].obsm["groove_imputed_rna"].shape == (result["protein"].n_obs, 40)
    loaded = sg.GROOVE.load(str(tmp_path / "model"), result)
    np.testing.assert_allclose(
        loaded.get_latent_representation(modality="rna"), result["rna"].obsm["X_groove"], atol=1e-5
    )


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.strip() == f"scgroove {sg.__version__}"


def test_default_dataset_has_truth():
    from scgroove._run import default_dataset

    mdata = default_dataset()
    assert mdata["rna"].n_obs != mdata["protein"].n_obs
    assert (sg.datasets.true_matching(mdata) >= 0).sum() > 1000
    assert np.isin(["control"], mdata["rna"].obs["perturbation"]).all()


def test_help_states_the_default_prior_share(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"default: {sg.model.PRIOR_SHARE}, scgroove.model.PRIOR_SHARE" in help_text

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
    metrics = result.uns["groove"]["metrics"]
    assert 0 <= metrics["FOSCTTM (latent)"] <= 1 and metrics["trace"] > 0
    assert figure.stat().st_size > 10_000 and figure.read_bytes()[:4] == b"\x89PNG"
    assert "FOSCTTM (latent)" in capsys.readouterr().out


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


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in (
        "--perturbation-key",
        "--modalities",
        "--layer",
        "--out",
        "--figure",
        "--max-epochs",
        "--device",
        "--method",
        "--seed",
        "--quiet",
        "built-in simulated",
    ):
        assert option in text


def test_default_dataset_has_truth():
    from scgroove._run import default_dataset

    mdata = default_dataset()
    assert mdata["rna"].n_obs != mdata["protein"].n_obs
    assert (sg.datasets.true_matching(mdata) >= 0).sum() > 1000
    assert np.isin(["control"], mdata["rna"].obs["perturbation"]).all()

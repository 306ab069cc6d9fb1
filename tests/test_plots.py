"""Plots: shared palettes stored as scanpy stores them, legends that fit, show/save, figures that say something."""

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex

import scgroove as sg

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture
def embedded():
    mdata = sg.datasets.simulate(
        n_perturbations=20, cells_per_perturbation=12, n_features={"rna": 30, "protein": 6}, seed=3
    )
    rng = np.random.default_rng(0)
    for m in ("rna", "protein"):
        obs = mdata[m].obs
        obs["perturbation"] = pd.Categorical(obs["perturbation"].astype(str))
        mdata[m].obsm["X_groove_umap"] = rng.normal(size=(mdata[m].n_obs, 2))
    mdata.uns["groove"] = {"joint_umap": {"modalities": ["rna", "protein"]}}
    yield mdata
    plt.close("all")


def _face_colors(ax, collection=0):
    return {to_hex(c) for c in ax.collections[collection].get_facecolors()}


def test_joint_embedding_shares_one_palette_and_stores_it_as_scanpy_does(embedded):
    protein = embedded["protein"]
    categories = list(protein.obs["perturbation"].cat.categories)
    protein.uns["perturbation_colors"] = ["#000000"] + ["#123456"] * (len(categories) - 1)  # user's colours
    sg.pl.joint_embedding(embedded, "perturbation")
    rna_colors = dict(
        zip(embedded["rna"].obs["perturbation"].cat.categories, embedded["rna"].uns["perturbation_colors"], strict=True)
    )
    protein_colors = dict(zip(categories, protein.uns["perturbation_colors"], strict=True))
    assert rna_colors == protein_colors  # one label, one colour, in both modalities
    assert protein_colors[categories[0]] == "#000000"  # stored colours are reused
    # a non-categorical column is not converted: nothing is written for it
    embedded["rna"].obs["state"] = embedded["rna"].obs["cell_type"].astype(str)
    embedded["protein"].obs["state"] = embedded["protein"].obs["cell_type"].astype(str)
    sg.pl.joint_embedding(embedded, "state")
    assert "state_colors" not in embedded["rna"].uns and embedded["rna"].obs["state"].dtype == object


def test_control_is_grey_and_modalities_never_share_a_category_colour(embedded):
    import scanpy as sc

    sg.pl.joint_embedding(embedded, "perturbation")
    colors = dict(
        zip(embedded["rna"].obs["perturbation"].cat.categories, embedded["rna"].uns["perturbation_colors"], strict=True)
    )
    assert colors["control"] == "#7f7f7f" and list(colors.values()).count("#7f7f7f") == 1
    ax = sg.pl.joint_embedding(embedded, "modality")
    modality_colors = _face_colors(ax, 0)
    assert len(modality_colors) == 2 and not modality_colors & {to_hex(c) for c in sc.pl.palettes.default_102}
    # a control registered under another name is the grey one
    for m in ("rna", "protein"):
        obs = embedded[m].obs
        obs["arm"] = pd.Categorical(np.where(obs["perturbation"] == "control", "DMSO", obs["perturbation"].astype(str)))
        embedded[m].uns.pop("arm_colors", None)
    embedded.uns["groove"]["screen"] = {"control_label": "DMSO"}
    sg.pl.joint_embedding(embedded, "arm")
    arm = dict(zip(embedded["rna"].obs["arm"].cat.categories, embedded["rna"].uns["arm_colors"], strict=True))
    assert arm["DMSO"] == "#7f7f7f"


def test_joint_embedding_legend_fits_or_says_what_is_hidden(embedded):
    ax = sg.pl.joint_embedding(embedded, "perturbation")
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(texts) == 21 and "control" in texts and ax.get_legend().get_bbox_to_anchor().x0 > 0
    ax = sg.pl.joint_embedding(embedded, "perturbation", max_legend=8)
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(texts) == 9 and texts[-1] == "(+13 more not shown)"
    ax = sg.pl.joint_embedding(embedded, "perturbation", legend_loc="on data")
    assert ax.get_legend() is None and len(ax.texts) == 21
    assert ax.get_xlabel() == "UMAP 1"
    with pytest.raises(ValueError, match="legend_loc"):
        sg.pl.joint_embedding(embedded, "perturbation", legend_loc="upper left")


def test_one_modality_panel_keeps_the_other_in_grey_and_the_same_limits(embedded):
    both = sg.pl.joint_embedding(embedded, "perturbation")
    ax = sg.pl.joint_embedding(embedded, "perturbation", modality="protein")
    assert _face_colors(ax, 0) == {"#d9d9d9"} and len(ax.collections[0].get_offsets()) == embedded["rna"].n_obs
    assert len(ax.collections[1].get_offsets()) == embedded["protein"].n_obs
    np.testing.assert_allclose(ax.get_xlim(), both.get_xlim())
    with pytest.raises(KeyError, match="atac"):
        sg.pl.joint_embedding(embedded, "perturbation", modality="atac")


def test_show_and_save_as_in_scanpy(embedded, tmp_path):
    path = tmp_path / "umap.png"
    assert sg.pl.joint_embedding(embedded, "modality", save=path) is not None
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert sg.pl.joint_embedding(embedded, "modality", show=True) is None


def test_imputation_scatter_has_equal_axes_and_the_identity_line():
    rng = np.random.default_rng(1)
    measured = rng.gamma(2.0, size=200)
    ax = sg.pl.imputation_scatter(measured, 0.5 * measured + 3, "CD4")
    assert ax.get_xlim() == ax.get_ylim() and ax.get_aspect() == 1.0
    (line,) = ax.get_lines()
    np.testing.assert_allclose(line.get_xdata(), line.get_ydata())
    assert ax.get_title() == "CD4: Pearson r = 1.00" and ax.get_xlabel() == "measured (log1p counts)"
    with pytest.raises(ValueError, match="same length"):
        sg.pl.imputation_scatter(measured, measured[:10])


def test_partner_specificity_is_one_for_a_coupling_that_knows_only_the_labels():
    labels1, labels2 = np.repeat(["a", "b"], 5), np.repeat(["a", "b"], [4, 6])
    x1, x2 = np.random.default_rng(2).normal(size=(10, 3)), np.random.default_rng(3).normal(size=(10, 3))
    uniform = sg.align.align(np.zeros((10, 1)), np.zeros((10, 1)), labels1, labels2, method="labeled_ot")
    np.testing.assert_allclose(sg.pl.partner_specificity(uniform)["specificity"], 1.0, rtol=1e-6)
    sharp = sg.align.align(x1, x2, labels1, labels2, method="labeled_ot", epsilon=1e-3)
    table = sg.pl.partner_specificity(sharp)
    assert (table["specificity"] < 0.6).all() and set(table["block_size"]) == {4, 6}


def test_coupling_specificity_reads_the_stored_blocks(embedded):
    labels = [embedded[m].obs["perturbation"].astype(str).to_numpy() for m in ("rna", "protein")]
    x1, x2 = embedded["rna"].obsm["X_groove_umap"], embedded["protein"].obsm["X_groove_umap"]
    coupling = sg.align.align(x1, x2, *labels, method="labeled_ot")
    embedded.uns["groove"]["coupling"] = {**coupling.to_uns(), "modalities": ["rna", "protein"]}
    ax = sg.pl.coupling_specificity(embedded, max_labels=5)
    assert len(ax.get_yticklabels()) == 5 and "16 smaller labels not shown" in ax.get_title()
    unlabeled = sg.align.align(x1, x2, method="ot")
    embedded.uns["groove"]["plain"] = {**unlabeled.to_uns(), "modalities": ["rna", "protein"]}
    with pytest.raises(ValueError, match="no label blocks"):
        sg.pl.coupling_specificity(embedded, "plain")


def test_benchmark_heatmap_reads_well_and_says_what_is_missing():
    summary = pd.DataFrame(
        {
            "dataset": "d",
            "epsilon_choice": "default",
            "learner": ["groove", "groove", "pca", "pca"],
            "aligner": ["labeled_ot", "labeled_gw", "labeled_ot", "labeled_gw"],
            "mean": [0.01, 0.02, np.nan, 0.30],
        }
    )
    ax = sg.pl.benchmark_heatmap(summary, "d")
    texts = {t.get_text(): t.get_color() for t in ax.texts}
    assert texts["n/a"] == "grey"
    # lower is better: the best value is drawn darkest, so its text is white; the worst is black
    assert texts["0.010"] == "white" and texts["0.300"] == "black"
    assert "lower is better" in ax.figure.axes[-1].get_ylabel()


def test_sensitivity_landscape_marks_the_defaults_and_an_optimum_on_the_edge():
    rows = [
        ("d", 0, beta, temperature, "", np.nan, "within_label_foscttm", beta + temperature)
        for beta in (0.0, 0.5, 1.0)
        for temperature in (0.05, 0.1, 0.2)
    ]
    table = pd.DataFrame(rows, columns=sg.benchmark._sensitivity.SENSITIVITY_COLUMNS)
    ax = sg.pl.sensitivity_landscape(table)
    star = [c for c in ax.collections if c.get_label() == "default"][0]
    np.testing.assert_allclose(star.get_offsets(), [[1.0, 0.1]])
    assert "grid's edge" in ax.get_title()  # the best (0, 0.05) is a corner


def test_modality_mixing_plot_orders_labels_and_marks_failures(tmp_path):
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(size=(90, 3)), rng.normal(size=(80, 3))
    labels1, labels2 = rng.choice(list("abc"), 90), rng.choice(list("abc"), 80)
    x2[labels2 == "b"] += 20  # label b: its modalities apart
    table = sg.metrics.modality_mixing(x1, x2, labels1, labels2, n_neighbors=5)
    ax = sg.pl.modality_mixing(table, save=tmp_path / "mixing.png", show=False)
    labels = [tick.get_text() for tick in ax.get_xticklabels()]
    assert labels[0] == "b"  # worst first
    heights = [bar.get_height() for bar in ax.patches]
    assert heights == sorted(heights) and heights[0] == 0.0
    assert ax.patches[0].get_facecolor()[:3] == pytest.approx((0.839, 0.153, 0.157), abs=0.01)  # red below 0.8
    assert (tmp_path / "mixing.png").stat().st_size > 0
    with pytest.raises(KeyError, match="mixing"):
        sg.pl.modality_mixing(table.drop(columns="mixing"))

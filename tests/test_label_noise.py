"""Noisy labels: the simulator's knobs and their truth, the soft matcher, the per-cell flag."""

import numpy as np
import ot
import pytest
import scipy.sparse as sp
from sklearn.metrics import roc_auc_score

import scgroove as sg

SMALL = {"n_perturbations": 6, "cells_per_perturbation": 40, "n_features": {"rna": 60, "protein": 12}, "seed": 2}


def test_simulated_label_noise_is_recorded_and_off_by_default():
    clean = sg.datasets.simulate(**SMALL)
    assert "label_noise" not in clean["rna"].obs  # defaults reproduce earlier simulations
    noisy = sg.datasets.simulate(**SMALL, wrong_label_fraction=(0.25, 0.0), multiplet_fraction=(0.0, 0.2))
    rna, protein = noisy["rna"].obs, noisy["protein"].obs
    wrong = rna["label_noise"] == "wrong"
    assert wrong.mean() == pytest.approx(0.25, abs=0.07)
    assert (rna["perturbation"][wrong].astype(str) != rna["true_perturbation"][wrong].astype(str)).all()
    assert (rna["perturbation"][~wrong].astype(str) == rna["true_perturbation"][~wrong].astype(str)).all()
    assert (protein["label_noise"] != "wrong").all()  # each modality has its own fraction
    # nothing but the labels changed where only labels were corrupted
    np.testing.assert_array_equal(noisy["rna"].X, clean["rna"].X)
    # a two-cell droplet holds its first cell's counts and more, under one of its two cells' labels
    multiplet = (protein["label_noise"] == "multiplet").to_numpy()
    assert multiplet.mean() == pytest.approx(0.2, abs=0.07)
    np.testing.assert_allclose(noisy["protein"].X[~multiplet], clean["protein"].X[~multiplet])
    assert not np.allclose(noisy["protein"].X[multiplet], clean["protein"].X[multiplet])
    called = protein["perturbations_called"][multiplet].str.split(";")
    assert all(p in c for p, c in zip(protein["perturbation"][multiplet].astype(str), called, strict=True))
    assert noisy.uns["simulation"]["multiplet_fraction"] == [0.0, 0.2]


def test_multiplet_counts_add_the_second_cell():
    options = {**SMALL, "n_features": {"rna": 1000, "protein": 12}, "library_size": 300}
    clean = sg.datasets.simulate(**options)
    noisy = sg.datasets.simulate(**options, multiplet_fraction=0.3)
    assert sp.issparse(noisy["rna"].X)
    multiplet = (noisy["rna"].obs["label_noise"] == "multiplet").to_numpy()
    difference = (noisy["rna"].X - clean["rna"].X).toarray()
    assert (difference >= 0).all() and (difference[multiplet].sum(1) > 0).all()
    assert (difference[~multiplet] == 0).all()


def test_escapers_keep_control_state_in_both_modalities():
    noisy = sg.datasets.simulate(**SMALL, escaper_fraction=0.5)
    rna, protein = noisy["rna"], noisy["protein"]
    for adata in (rna, protein):
        obs = adata.obs
        escaper = (obs["label_noise"] == "escaper").to_numpy()
        assert escaper.mean() == pytest.approx(0.5 * 6 / 7, abs=0.08)  # control cells cannot escape
        assert (obs["perturbation"][escaper] != "control").all()
        assert (obs["perturbation"].astype(str) == obs["true_perturbation"].astype(str)).all()  # labels are right
    # an unperturbed cell's two views share one state (no modality-specific effect), as control's do
    match = sg.datasets.true_matching(noisy)
    paired = match >= 0
    kind = rna.obs["label_noise"].to_numpy()[paired]
    # escaping is the cell's, not the view's
    assert (protein.obs["label_noise"].to_numpy()[match[paired]] == kind).all()
    gap = np.abs(rna.obsm["X_true_latent"][paired] - protein.obsm["X_true_latent"][match[paired]]).max(1)
    control = (rna.obs["perturbation"] == "control").to_numpy()[paired]
    assert gap[kind == "escaper"].max() < 1e-5 and gap[control].max() < 1e-5
    assert gap[(kind == "clean") & ~control].min() > 1e-3


def test_similar_wrong_labels_are_other_groups():
    noisy = sg.datasets.simulate(**SMALL, wrong_label_fraction=0.3, wrong_label_target="similar")
    obs = noisy["rna"].obs
    wrong = obs["label_noise"] == "wrong"
    assert wrong.any() and (obs["perturbation"][wrong].astype(str) != obs["true_perturbation"][wrong].astype(str)).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"wrong_label_fraction": 1.0}, "wrong_label_fraction"),
        ({"multiplet_fraction": (0.1, -0.1)}, "multiplet_fraction"),
        ({"wrong_label_fraction": 0.6, "multiplet_fraction": 0.5}, "below 1"),
        ({"escaper_fraction": 1.5}, "escaper_fraction"),
        ({"wrong_label_target": "nearest"}, "wrong_label_target"),
    ],
)
def test_label_noise_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sg.datasets.simulate(n_perturbations=2, cells_per_perturbation=5, **kwargs)


@pytest.fixture(scope="module")
def clusters():
    """Five labelled clusters in a shared space; 20% of modality 1's labels are wrong."""
    rng = np.random.default_rng(0)
    n, n_labels = 300, 5
    centres = rng.normal(0, 3, (n_labels, 6))
    true1, true2 = rng.integers(0, n_labels, n), rng.integers(0, n_labels, n)
    x1 = centres[true1] + rng.normal(size=(n, 6))
    x2 = centres[true2] + rng.normal(size=(n, 6))
    called = true1.copy()
    wrong = rng.random(n) < 0.2
    called[wrong] = (true1[wrong] + rng.integers(1, n_labels, wrong.sum())) % n_labels
    name = np.array([f"L{k}" for k in range(n_labels)])
    return x1, x2, name[called], name[true2], name[true1], wrong


def test_soft_labeled_ot_is_labeled_ot_when_crossing_costs_too_much(clusters):
    x1, x2, labels1, labels2, _, _ = clusters
    hard = sg.align.labeled_ot(x1, x2, labels1, labels2, tol=1e-8, max_iter=20000)
    soft = sg.align.align(x1, x2, labels1, labels2, method="soft_labeled_ot", label_penalty=500.0, tol=1e-8)
    assert soft.converged and soft.info["off_label_mass"] < 1e-10
    assert abs(hard.to_sparse() - soft.to_sparse()).sum() < 1e-5


def test_soft_labeled_ot_solves_the_entropic_problem_on_its_support(clusters):
    """Brute force: POT's Sinkhorn on the dense cost, pairs outside the support made impossible."""
    x1, x2, labels1, labels2, _, _ = clusters
    rows = slice(0, 80)
    x1, labels1 = x1[rows], labels1[rows]
    soft = sg.align.soft_labeled_ot(x1, x2, labels1, labels2, label_penalty=0.5, n_candidates=4, tol=1e-10)
    T = soft.to_sparse().toarray()
    support = soft.blocks[0].plan.toarray() > 0
    assert support.sum() < support.size  # a sparse support: blocks plus a few candidates per cell
    same = labels1[:, None] == labels2[None, :]
    assert support[same].all()  # every same-label pair is on the support
    off = support & ~same
    assert 0 < off.sum() <= 4 * (len(x1) + len(x2))  # at most k candidates per cell, both ways
    mean_cost = soft.info["mean_block_cost"]
    cost = ((x1[:, None, :] - x2[None, :, :]) ** 2).sum(-1) + 0.5 * mean_cost * ~same
    cost[~support] = 1e6 * mean_cost
    a, b = T.sum(1), T.sum(0)
    reference = ot.sinkhorn(a, b, cost, soft.info["reg"], method="sinkhorn_log", stopThr=1e-12, numItermax=50000)
    np.testing.assert_allclose(T, reference, atol=1e-7)
    np.testing.assert_allclose(a, 1 / len(x1), rtol=1e-6)  # every cell of a shared label carries 1/n1


def test_soft_labeled_ot_sends_wrong_labels_to_their_true_block_and_flags_them(clusters):
    x1, x2, labels1, labels2, true1, wrong = clusters
    T = sg.align.soft_labeled_ot(x1, x2, labels1, labels2, label_penalty=1.0)
    hard = sg.align.labeled_ot(x1, x2, labels1, labels2)
    for coupling, expected in ((T, (0.5, 1.0)), (hard, (0.0, 0.0))):
        plan = coupling.to_sparse().toarray()
        to_true = (plan * (true1[:, None] == labels2[None, :])).sum(1) / plan.sum(1)
        assert expected[0] <= to_true[wrong].mean() <= expected[1]
    share1, share2 = T.off_label_share(labels1, labels2)
    assert share1[~wrong].mean() < 0.05 and roc_auc_score(wrong, share1) > 0.95
    plan = T.to_sparse().toarray()
    off = labels1[:, None] != labels2[None, :]
    np.testing.assert_allclose(share2, (plan * off).sum(0) / plan.sum(0))
    assert T.info["off_label_mass"] == pytest.approx((plan * off).sum())


def test_off_label_share_is_nan_without_mass_and_checks_lengths():
    coupling = sg.align.Coupling.from_matrix(np.array([[0.5, 0.0], [0.0, 0.0], [0.25, 0.25]]))
    share1, share2 = coupling.off_label_share(["a", "b", "a"], ["a", "b"])
    np.testing.assert_allclose(share1, [0.0, np.nan, 0.5])
    np.testing.assert_allclose(share2, [0.0, 1.0])
    with pytest.raises(ValueError, match="3/2 entries"):
        coupling.off_label_share(["a"], ["a", "b"])


@pytest.mark.parametrize(("option", "value"), [("label_penalty", -1.0), ("n_candidates", -2)])
def test_soft_labeled_ot_bad_options(clusters, option, value):
    x1, x2, labels1, labels2, _, _ = clusters
    with pytest.raises(ValueError, match=option):
        sg.align.soft_labeled_ot(x1, x2, labels1, labels2, **{option: value})


@pytest.mark.parametrize("method", ["labeled_ot", "labeled_gw", "soft_labeled_ot"])
def test_cells_without_a_label_are_in_no_block(clusters, method):
    x1, x2, labels1, labels2, _, _ = clusters
    labels1 = labels1.astype(object)
    labels1[:20] = None
    labels1[20:30] = np.nan
    coupling = sg.align.align(x1, x2, labels1, labels2, method=method)
    mass = coupling.row_mass
    assert mass[:30].sum() == 0.0 and (mass[30:] > 0).all()
    assert mass.sum() == pytest.approx(1.0, abs=1e-3)


def _with_unlabeled_cells(mdata, n: int):
    obs = mdata["rna"].obs
    obs["perturbation"] = obs["perturbation"].astype(object)
    obs.loc[obs.index[:n], "perturbation"] = np.nan
    return mdata


def test_unlabeled_cells_are_an_error_that_names_the_option(small_mdata):
    mdata = _with_unlabeled_cells(small_mdata, 12)
    with pytest.raises(ValueError, match=r"'rna'.*12 missing values.*unlabeled='keep'"):
        sg.GROOVE.setup_mudata(mdata, perturbation_key="perturbation")
    with pytest.raises(ValueError, match="unlabeled must be"):
        sg.GROOVE.setup_mudata(mdata, perturbation_key="perturbation", unlabeled="drop")
    assert "_groove_perturbation" not in mdata["rna"].obs  # nothing written before the error


def test_reserved_label_value_is_refused(small_mdata):
    obs = small_mdata["rna"].obs
    obs["perturbation"] = obs["perturbation"].astype(str)
    obs.loc[obs.index[:3], "perturbation"] = "_groove_unlabeled"
    with pytest.raises(ValueError, match="reserved value"):
        sg.GROOVE.setup_mudata(small_mdata, perturbation_key="perturbation", unlabeled="keep")


def test_unlabeled_cells_are_kept_embedded_and_never_matched(small_mdata):
    mdata = _with_unlabeled_cells(small_mdata, 12)
    sg.GROOVE.setup_mudata(mdata, perturbation_key="perturbation", unlabeled="keep")
    screen = mdata.uns["groove"]["screen"]
    assert screen["unlabeled"] == "keep" and screen["unlabeled_cells"] == {"rna": 12, "protein": 0}
    model = sg.GROOVE(mdata)
    assert model._dataset().labels[1][:12].tolist() == [-1] * 12  # out of the contrast and the batches
    model.train(max_epochs=2, enable_progress_bar=False)
    model.write_latent()
    assert np.isfinite(mdata["rna"].obsm["X_groove"]).all()  # still embedded
    for method in ("labeled_ot", "soft_labeled_ot"):
        coupling = model.align(method=method)
        assert coupling.row_mass[:12].sum() == 0.0 and (coupling.row_mass[12:] > 0).all()
    share = mdata["rna"].obs["groove_off_label_share"].to_numpy()
    assert np.isnan(share[:12]).all() and (share[12:] >= 0).all()
    imputed = model.impute("rna", "protein")
    assert imputed.iloc[:12].isna().all().all() and imputed.iloc[12:].notna().all().all()
    assert mdata["rna"].obs["perturbation"].isna().sum() == 12  # the user's column is left as it was


def test_label_support_is_the_share_of_neighbours_with_the_label():
    mdata = sg.datasets.simulate(**SMALL, wrong_label_fraction=0.2, effect_size=5.0)
    obs = mdata["rna"].obs
    obs["perturbation"] = obs["perturbation"].astype(object)
    obs.loc[obs.index[:5], "perturbation"] = np.nan
    before = {m: mdata[m].obs.columns.tolist() for m in mdata.mod}
    sg.tl.label_support(mdata, "perturbation", n_neighbors=10)
    for modality in mdata.mod:  # only the two documented columns are added
        added = set(mdata[modality].obs.columns) - set(before[modality])
        assert added == {"groove_label_support", "groove_neighbour_label"}
    # brute force on the same PCA
    from scgroove.model._guide import modality_pca

    space = modality_pca(mdata["rna"].X, log_normalize=True, n_comps=30)
    distance = ((space[:, None] - space[None]) ** 2).sum(-1)
    np.fill_diagonal(distance, np.inf)
    neighbours = np.argsort(distance, axis=1)[:, :10]
    labels = obs["perturbation"].to_numpy()
    expected = np.array([np.mean(labels[n] == lab) for n, lab in zip(neighbours, labels, strict=True)])
    support = obs["groove_label_support"].to_numpy()
    assert np.isnan(support[:5]).all() and obs["groove_neighbour_label"][:5].notna().all()
    np.testing.assert_allclose(support[5:], expected[5:])
    wrong = (obs["label_noise"] == "wrong").to_numpy()
    assert roc_auc_score(wrong[5:], -support[5:]) > 0.8  # wrong guide calls have little support
    assert obs["perturbation"][:5].isna().all()  # the user's labels are untouched


def test_label_support_bad_input(small_mdata):
    with pytest.raises(KeyError, match="'guide' not found in mdata\\['rna'\\]"):
        sg.tl.label_support(small_mdata, "guide")
    with pytest.raises(ValueError, match="n_neighbors"):
        sg.tl.label_support(small_mdata, "perturbation", n_neighbors=0)
    with pytest.raises(KeyError, match="'atac' not found"):
        sg.tl.label_support(small_mdata, "perturbation", modalities=("rna", "atac"))


@pytest.mark.parametrize("pipeline", ["groove", "pca_gw"])
def test_match_keeps_unlabeled_cells_without_a_partner(small_mdata, pipeline):
    mdata = _with_unlabeled_cells(small_mdata, 10)
    with pytest.raises(ValueError, match="unlabeled='keep'"):
        sg.tl.match(mdata, pipeline=pipeline, impute="none")
    result = sg.tl.match(
        mdata,
        pipeline=pipeline,
        impute="forward",
        setup_kwargs={"unlabeled": "keep"},
        train_kwargs={"max_epochs": 2, "enable_progress_bar": False},
    )
    mass = result.coupling.row_mass
    assert mass[:10].sum() == 0.0 and (mass[10:] > 0).all()
    imputed = mdata["rna"].obsm["groove_imputed_protein"]
    assert imputed.iloc[:10].isna().all().all() and imputed.iloc[10:].notna().all().all()


def test_auto_pipeline_refuses_unlabeled_cells(small_mdata):
    mdata = _with_unlabeled_cells(small_mdata, 3)
    with pytest.raises(ValueError, match="needs every cell labelled"):
        sg.tl.match(mdata, pipeline="auto", setup_kwargs={"unlabeled": "keep"})


def test_soft_labeled_ot_splits_large_labels_like_labeled_ot(clusters):
    x1, x2, labels1, labels2, _, _ = clusters
    whole = sg.align.soft_labeled_ot(x1, x2, labels1, labels2)
    split = sg.align.soft_labeled_ot(x1, x2, labels1, labels2, max_block_cells=20)
    assert split.blocks[0].plan.nnz < whole.blocks[0].plan.nnz / 2  # pairs grow with the parts, not the label
    np.testing.assert_allclose(split.row_mass, whole.row_mass, rtol=1e-3)  # per-cell mass unchanged
    assert split.params["max_block_cells"] == 20 and split.converged

"""Screens as they are: control, null perturbations, guides of one gene, batches, and their bad inputs."""

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from scipy.spatial.distance import cdist

import scgroove as sg


def screen(seed: int = 0, **kwargs) -> md.MuData:
    options = {
        "n_perturbations": 8,
        "cells_per_perturbation": 45,
        "null_fraction": 0.25,
        "guides_per_perturbation": 3,
        "n_batches": 2,
        "effect_size": 3.0,
        "n_features": {"rna": 80, "protein": 15},
        "seed": seed,
    }
    return sg.datasets.simulate(**{**options, **kwargs})


FULL = {"group_key": "perturbation", "control_label": "control", "batch_key": "batch"}
QUICK_TEST = {"n_permutations": 199}


def setup(mdata, **kwargs):
    kwargs.setdefault("effect_test", QUICK_TEST)
    sg.GROOVE.setup_mudata(mdata, perturbation_key="guide", modalities=("rna", "protein"), **kwargs)


def obs_snapshot(mdata):
    return {m: mdata.mod[m].obs.copy() for m in mdata.mod}


# -- simulator ----------------------------------------------------------------------------------
def test_simulated_screen_has_null_perturbations_guides_and_batches():
    mdata = screen()
    null = mdata.uns["simulation"]["null_perturbations"]
    assert len(null) == 2  # 25% of 8
    obs = mdata["rna"].obs
    assert set(obs["batch"]) == {"batch_0", "batch_1"}
    assert all(guide.startswith(gene + "_g") for guide, gene in zip(obs["guide"], obs["perturbation"], strict=True))
    assert obs.groupby("perturbation", observed=True)["guide"].nunique().eq(3).all()
    # a null perturbation's true latent is distributed as control's; an active one is not
    latent, genes = mdata["rna"].obsm["X_true_latent"], obs["perturbation"].astype(str).to_numpy()
    control = latent[genes == "control"].mean(0)
    shift = {g: np.linalg.norm(latent[genes == g].mean(0) - control) for g in set(genes) - {"control"}}
    assert max(shift[g] for g in null) < min(shift[g] for g in set(shift) - set(null))


def test_simulator_defaults_add_no_screen_columns():
    obs = sg.datasets.simulate(n_perturbations=3, cells_per_perturbation=10)["rna"].obs
    assert "guide" not in obs and "batch" not in obs


def test_large_count_modalities_are_drawn_in_chunks_straight_into_csr(monkeypatch):
    import scgroove.datasets._simulate as simulator

    options = {"n_perturbations": 4, "cells_per_perturbation": 50, "n_features": {"rna": 300}, "library_size": 600}
    whole = sg.datasets.simulate(**options, n_batches=2, seed=3)["rna"].X
    monkeypatch.setattr(simulator, "CHUNKED_ENTRIES", 1000)
    monkeypatch.setattr(simulator, "CHUNK_CELLS", 64)
    chunked = sg.datasets.simulate(**options, n_batches=2, seed=3)["rna"].X
    assert sp.issparse(chunked) and chunked.shape == whole.shape
    # the same model, other draws: library sizes and per-gene means agree
    libraries = [np.median(np.asarray(x.sum(1))) for x in (whole, chunked)]
    assert libraries[1] == pytest.approx(libraries[0], rel=0.05)
    gene_means = [np.asarray(x.mean(0)).ravel() for x in (whole, chunked)]
    assert np.corrcoef(*gene_means)[0, 1] > 0.95


@pytest.mark.parametrize(
    ("option", "value"), [("null_fraction", 1.5), ("guides_per_perturbation", 0), ("guide_efficiency", (0.9, 0.2))]
)
def test_simulator_refuses_bad_screen_knobs(option, value):
    with pytest.raises(ValueError, match=option):
        sg.datasets.simulate(n_perturbations=3, cells_per_perturbation=10, **{option: value})


# -- the effect test ----------------------------------------------------------------------------
def test_energy_distance_matches_its_definition_and_detects_a_shift():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 4)), rng.normal(size=(40, 4))
    energy, pvalue = sg.tl.energy_distance_test(x, y, 499, rng)
    assert energy == pytest.approx(2 * cdist(x, y).mean() - cdist(x, x).mean() - cdist(y, y).mean())
    assert pvalue > 0.05
    _, shifted = sg.tl.energy_distance_test(x, y + 1.0, 499, rng)
    assert shifted == pytest.approx(1 / 500)


def test_perturbation_effects_finds_the_null_perturbations():
    mdata = screen()
    table = sg.tl.perturbation_effects(mdata, "perturbation", "control", batch_key="batch", n_permutations=199)
    assert "control" not in table.index and len(table) == 8
    assert {"rna_pvalue", "protein_padj", "rna_energy_distance", "protein_n_cells", "effect"} <= set(table.columns)
    assert sorted(table.index[~table["effect"]]) == sorted(mdata.uns["simulation"]["null_perturbations"])


def test_perturbation_effects_in_one_modality_only():
    """A screen measured with one assay (a CROP-seq or Perturb-seq screen) is tested in that assay."""
    mdata = screen()
    rna = sg.tl.perturbation_effects(
        mdata, "perturbation", "control", modalities=("rna",), batch_key="batch", n_permutations=199
    )
    assert not any(column.startswith("protein_") for column in rna.columns) and len(rna) == 8
    assert (rna["effect"] == (rna["rna_padj"] < 0.05)).all()
    assert sorted(rna.index[~rna["effect"]]) == sorted(mdata.uns["simulation"]["null_perturbations"])


def test_a_group_too_small_to_test_is_never_called_null():
    mdata = screen()
    for m in ("rna", "protein"):
        obs = mdata.mod[m].obs
        genes = obs["perturbation"].astype(str).to_numpy()
        rows = np.flatnonzero(genes == "P000")
        genes[rows[2:]] = "P001"  # leave P000 with two cells
        obs["perturbation"] = genes
    table = sg.tl.perturbation_effects(mdata, "perturbation", "control", n_permutations=99)
    assert np.isnan(table.loc["P000", "rna_pvalue"]) and bool(table.loc["P000", "effect"])


# -- set-up: design and records -------------------------------------------------------------------
def test_setup_records_the_screen_design():
    mdata = screen()
    setup(mdata, **FULL)
    record = mdata.uns["groove"]["screen"]
    null = mdata.uns["simulation"]["null_perturbations"]
    assert sorted(record["null_groups"]) == sorted(null)
    groups = dict(zip(record["labels"], record["contrast_groups"], strict=True))
    assert groups["P000_g2"] in ("P000", "control")
    for guide, group in groups.items():
        gene = guide.rsplit("_g", 1)[0]
        assert group == ("control" if gene in null else gene)
    assert set(record["effects"]["perturbation"]) == {f"P{p:03d}" for p in range(8)}
    # the guide stays the alignment label
    model = sg.GROOVE(mdata, n_latent=4)
    assert len(model._label_categories()) == 27


def test_null_perturbations_keep_runs_no_test_and_drop_excludes_from_training():
    mdata = screen()
    setup(mdata, **FULL, null_perturbations="keep")
    record = mdata.uns["groove"]["screen"]
    assert "effects" not in record and list(record["null_groups"]) == []
    setup(mdata, **FULL, null_perturbations="drop")
    model = sg.GROOVE(mdata, n_latent=4)
    dataset = model._dataset()
    null = set(mdata.uns["simulation"]["null_perturbations"])
    genes = mdata["rna"].obs["perturbation"].astype(str).to_numpy()
    assert (dataset.labels[1][np.isin(genes, list(null))] == -1).all()
    assert (dataset.labels[1][~np.isin(genes, list(null))] >= 0).all()
    sampler = sg.model._batching.GroupBalancedBatchSampler(
        dataset.labels[1], dataset.labels[2], np.arange(len(genes)), np.arange(len(dataset.labels[2])), 4, 4
    )
    drawn = np.concatenate([rows for rows, _ in sampler])
    assert not np.isin(genes[drawn], list(null)).any()


def test_control_is_drawn_into_every_batch():
    mdata = screen()
    setup(mdata, **FULL, null_perturbations="keep")
    model = sg.GROOVE(mdata, n_latent=4)
    dataset = model._dataset()
    control = model._control_code()
    splitter = sg.model._batching.WeaklyPairedDataSplitter(
        dataset, 1.0, groups_per_batch=3, cells_per_group=4, always_group=control
    )
    for rows_1, rows_2 in splitter.train_sampler:
        assert (dataset.labels[1][rows_1] == control).sum() == 4
        assert (dataset.labels[2][rows_2] == control).sum() == 4


def test_guides_of_one_gene_are_one_contrast_group_and_train():
    mdata = screen(null_fraction=0.0, n_batches=1)
    setup(mdata, group_key="perturbation")
    model = sg.GROOVE(mdata, n_latent=4, n_hidden=16)
    codes, names = model._contrast_codes()
    assert len(names) == 9 and len(codes) == 27
    by_guide = dict(zip(model._label_categories(), codes, strict=True))
    assert by_guide["P003_g1"] == by_guide["P003_g2"] == by_guide["P003_g3"] != by_guide["P004_g1"]
    model.train(max_epochs=2, enable_progress_bar=False, seed=0)
    assert np.isfinite(model.history["train_loss"].to_numpy(dtype=float)).all()


# -- set-up: bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"control_label": "DMSO", "group_key": "perturbation"}, ValueError, "'DMSO'.*not a value of 'perturbation'"),
        ({"group_key": "gene"}, KeyError, "group_key 'gene' not found in mdata\\['rna'\\]"),
        ({"batch_key": "donor"}, KeyError, "batch_key 'donor' not found"),
        ({"null_perturbations": "merge"}, ValueError, "needs control_label"),
        (
            {"control_label": "control", "group_key": "perturbation", "null_perturbations": "ignore"},
            ValueError,
            "one of",
        ),
    ],
)
def test_bad_screen_keys_are_refused_before_anything_is_written(kwargs, error, message):
    mdata = screen()
    before = obs_snapshot(mdata)
    with pytest.raises(error, match=message):
        setup(mdata, **kwargs)
    for m, obs in before.items():
        pd.testing.assert_frame_equal(mdata.mod[m].obs, obs)
    assert "groove" not in mdata.uns


def test_control_absent_from_one_modality_is_refused():
    mdata = screen()
    protein = mdata["protein"]
    mdata = md.MuData({"rna": mdata["rna"], "protein": protein[protein.obs["perturbation"] != "control"].copy()})
    with pytest.raises(ValueError, match="'control' has no cells in modality 'protein'"):
        setup(mdata, control_label="control", group_key="perturbation")


def test_a_batch_of_one_modality_only_is_refused():
    mdata = screen()
    batches = mdata["protein"].obs["batch"].astype(str).to_numpy()
    batches[:5] = "batch_9"
    mdata["protein"].obs["batch"] = batches
    with pytest.raises(ValueError, match="'batch_9'.*modality 'protein' but not in 'rna'"):
        setup(mdata, batch_key="batch")


def test_a_guide_of_two_genes_is_refused():
    mdata = screen()
    obs = mdata["protein"].obs
    genes = obs["perturbation"].astype(str).to_numpy()
    genes[np.flatnonzero(obs["guide"].astype(str) == "P000_g1")[0]] = "P001"
    obs["perturbation"] = genes
    with pytest.raises(ValueError, match="'P000_g1'.*'P000'.*'P001' in \\['protein'\\]"):
        setup(mdata, group_key="perturbation")


def test_missing_batch_values_are_refused():
    mdata = screen()
    obs = mdata["rna"].obs
    obs["batch"] = obs["batch"].astype(object)
    obs.iloc[0, obs.columns.get_loc("batch")] = None
    with pytest.raises(ValueError, match="batch_key.*1 missing"):
        setup(mdata, batch_key="batch")


# -- batch covariates ---------------------------------------------------------------------------
def test_batch_covariates_enter_encoders_and_decoders_and_survive_save_load(tmp_path):
    mdata = screen()
    setup(mdata, **FULL)
    model = sg.GROOVE(mdata, n_latent=4, n_hidden=16)
    assert model.module.n_batch == 2
    assert model.module.encoders["1"][0].in_features == 80 + 2
    assert model.module.decoders["2"][0].in_features == 4 + 2
    model.train(max_epochs=2, enable_progress_bar=False, seed=0)
    x = torch.ones(3, 80)
    z_0 = model.module.encode(x, 1, torch.zeros(3, dtype=torch.long))
    z_1 = model.module.encode(x, 1, torch.ones(3, dtype=torch.long))
    assert not torch.allclose(z_0, z_1)
    with pytest.raises(ValueError, match="pass each cell's batch"):
        model.module.encode(x, 1)
    latent = model.get_latent_representation(modality="protein")
    model.save(tmp_path / "model")
    loaded = sg.GROOVE.load(tmp_path / "model", mdata)
    np.testing.assert_allclose(loaded.get_latent_representation(modality="protein"), latent, atol=1e-6)
    assert loaded.contrast_groups == model.contrast_groups


def test_query_data_uses_its_own_batches_and_unknown_batches_are_refused():
    mdata = screen()
    setup(mdata, batch_key="batch", null_perturbations=None)
    model = sg.GROOVE(mdata, n_latent=4, n_hidden=16)
    model.train(max_epochs=1, enable_progress_bar=False, seed=0)
    full = model.get_latent_representation(modality="rna")
    in_batch_1 = {m: (mdata[m].obs["batch"] == "batch_1").to_numpy() for m in ("rna", "protein")}
    query = md.MuData({m: mdata[m][in_batch_1[m]].copy() for m in ("rna", "protein")})
    np.testing.assert_allclose(model.get_latent_representation(query, "rna"), full[in_batch_1["rna"]], atol=1e-5)
    unknown = md.MuData({m: mdata[m][in_batch_1[m]].copy() for m in ("rna", "protein")})
    for m in ("rna", "protein"):
        unknown[m].obs["batch"] = "batch_7"
    with pytest.raises(ValueError, match="batch_7 not found"):
        model.get_latent_representation(unknown, "rna")


# -- the data contract ----------------------------------------------------------------------------
def contract_mdata(x_rna):
    labels = np.array(["a", "b"])[np.arange(len(x_rna)) % 2]
    rna = ad.AnnData(x_rna, obs=pd.DataFrame({"perturbation": labels}, index=[f"r{i}" for i in range(len(x_rna))]))
    protein = ad.AnnData(
        np.random.default_rng(0).normal(size=(10, 3)).astype(np.float32),
        obs=pd.DataFrame({"perturbation": labels[:10]}, index=[f"p{i}" for i in range(10)]),
    )
    mdata = md.MuData({"rna": rna, "protein": protein})
    sg.GROOVE.setup_mudata(mdata, perturbation_key="perturbation")
    return mdata


def test_counts_contract():
    counts = np.random.default_rng(0).poisson(3, (12, 6)).astype(np.float32)
    lognorm = np.log1p(counts)
    with pytest.raises(ValueError, match="'rna' has non-integer values.*'nb'.*raw counts"):
        sg.GROOVE(contract_mdata(lognorm), likelihoods={"rna": "nb"})
    with pytest.warns(UserWarning, match="'rna' is non-negative but not integer.*'normal'"):
        model = sg.GROOVE(contract_mdata(lognorm))
    assert model.module.heads["1"].name == "normal"
    with_negative = counts.copy()
    with_negative[0, 0] = -1
    with pytest.raises(ValueError, match="'rna' holds integers like counts but has negative values"):
        sg.GROOVE(contract_mdata(with_negative))
    sg.GROOVE(contract_mdata(with_negative), likelihoods={"rna": "normal"})  # declared: accepted, no error


# -- ATAC ----------------------------------------------------------------------------------------
def test_atac_lsi_selects_peaks_drops_the_depth_component_and_leaves_the_input():
    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    depth = rng.uniform(0.02, 0.3, 200)  # cells differ in depth, which the first component follows
    peaks = sp.csr_matrix((rng.random((200, 500)) < depth[:, None]) * rng.integers(1, 4, (200, 500)))
    atac = ad.AnnData(peaks.astype(np.float32), obs=pd.DataFrame(index=[f"a{i}" for i in range(200)]))
    before = atac.X.copy()
    lsi = sg.pp.atac_lsi(atac, n_comps=8, n_top_peaks=100)
    assert lsi.shape == (200, 8) and list(lsi.var_names[:2]) == ["LSI_1", "LSI_2"]
    cells_per_peak = np.asarray((atac.X > 0).sum(0)).ravel()
    most_open = atac.var_names[cells_per_peak >= np.sort(cells_per_peak)[-100]]
    assert len(lsi.uns["atac_lsi"]["peaks"]) == 100 and set(lsi.uns["atac_lsi"]["peaks"]) <= set(most_open)
    assert lsi.uns["atac_lsi"]["loadings"].shape == (100, 8)
    assert (atac.X != before).nnz == 0 and sp.issparse(atac.X)
    kept_first = sg.pp.atac_lsi(atac, n_comps=8, n_top_peaks=100, drop_first=False)
    depth = np.log(np.asarray(atac.X.sum(1)).ravel())
    depth_correlation = [abs(np.corrcoef(x[:, 0], depth)[0, 1]) for x in (kept_first.X, lsi.X)]
    assert depth_correlation[0] > 0.8 > depth_correlation[1]
    with pytest.raises(ValueError, match="n_comps must be between"):
        sg.pp.atac_lsi(atac, n_comps=500)
    atac.X = atac.X.toarray() - 1
    with pytest.raises(ValueError, match="negative"):
        sg.pp.atac_lsi(atac)


def test_coupling_repr_is_one_line():
    coupling = sg.align.align(
        np.zeros((4, 2)), np.zeros((4, 2)), np.array(list("aabb")), np.array(list("abab")), method="labeled_ot"
    )
    text = repr(coupling)
    assert "\n" not in text and "2 block(s)" in text and "4 x 4 cells" in text


def test_matching_stays_within_each_batch_unless_asked_otherwise():
    mdata = screen()
    setup(mdata, **FULL, null_perturbations="keep")
    model = sg.GROOVE(mdata, n_latent=4, n_hidden=16)
    model.train(max_epochs=1, enable_progress_bar=False, seed=0)
    batches = [mdata[m].obs["batch"].to_numpy() for m in ("rna", "protein")]

    def cross_batch_mass(coupling):
        plan = coupling.to_sparse().tocoo()
        return plan.data[batches[0][plan.row] != batches[1][plan.col]].sum()

    within = model.align()
    assert cross_batch_mass(within) == 0 and {b.label for b in within.blocks} == set(model._label_categories())
    assert cross_batch_mass(model.align(within_batch=False)) > 0.2  # the prior too is matched across batches
    assert cross_batch_mass(model.align(within_batch=False, prior_share=1.0)) > 0.1
    guide = sg.model.structure_guide(model)
    assert cross_batch_mass(guide) == 0
    # a label whose cells sit in another batch in the other modality: those cells get no partner, said aloud
    protein_batches = mdata["protein"].obs["batch"].astype(str).to_numpy()
    protein_batches[mdata["protein"].obs["guide"].astype(str).to_numpy() == "P000_g1"] = "batch_0"
    rna_batches = mdata["rna"].obs["batch"].astype(str).to_numpy()
    rna_batches[mdata["rna"].obs["guide"].astype(str).to_numpy() == "P000_g1"] = "batch_1"
    mdata["protein"].obs["batch"], mdata["rna"].obs["batch"] = protein_batches, rna_batches
    setup(mdata, batch_key="batch")
    model = sg.GROOVE(mdata, n_latent=4, n_hidden=16)
    with pytest.warns(UserWarning, match="cells of modality 'rna' have no cell of their label in their own batch"):
        model.align()


def test_auto_selection_on_a_screen_with_guides_of_genes():
    # the rule merges labels (guides of different genes, and the control): the quick models of the
    # selection drop the options that name label values, and the final model keeps all of them
    mdata = screen(seed=3, n_perturbations=4, cells_per_perturbation=30)
    result = sg.tl.match(
        mdata,
        "guide",
        "auto",
        impute="none",
        setup_kwargs={"group_key": "perturbation", "control_label": "control", "batch_key": "batch"},
        train_kwargs={"max_epochs": 2, "enable_progress_bar": False, "accelerator": "cpu"},
        selection_repeats=1,
        selection_epochs=1,
    )
    candidates = {"groove", "pca_mapped_ot", "pca_gw", "pca_per_label_gw", "label_only"}
    assert result.pipeline in candidates and set(result.selection["pipeline"]) == candidates
    scores = result.selection.groupby("pipeline")["resolution"].mean()
    assert result.pipeline == scores.idxmax() and scores["groove"] > 0

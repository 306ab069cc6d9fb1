import mudata as md
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from conftest import shared_file

import scgroove as sg


def test_simulate_structure_and_truth(small_mdata):
    rna, protein = small_mdata["rna"], small_mdata["protein"]
    assert rna.n_vars == 60 and protein.n_vars == 12
    assert rna.n_obs != protein.n_obs  # keep_fraction (0.9, 0.8)
    assert not set(rna.obs_names) & set(protein.obs_names)
    assert set(rna.obs["perturbation"].cat.categories) == {f"P{p:03d}" for p in range(6)} | {"control"}
    assert np.all(rna.X == np.round(rna.X)) and rna.X.min() >= 0  # counts
    match = sg.datasets.true_matching(small_mdata)
    paired = match >= 0
    assert 0 < paired.sum() < rna.n_obs
    # a true pair has the same perturbation and cell type
    for key in ("perturbation", "cell_type"):
        assert (rna.obs[key].to_numpy()[paired] == protein.obs[key].to_numpy()[match[paired]]).all()
    assert small_mdata.uns["simulation"]["shared_fraction"] == 0.8


def test_simulate_survives_h5mu(small_mdata, tmp_path):
    small_mdata.write_h5mu(tmp_path / "sim.h5mu")
    back = md.read_h5mu(tmp_path / "sim.h5mu")
    np.testing.assert_array_equal(sg.datasets.true_matching(back), sg.datasets.true_matching(small_mdata))
    assert back.uns["simulation"]["seed"] == 1


def test_shared_fraction_controls_oracle_alignment():
    scores = []
    for rho in (1.0, 0.5, 0.0):
        mdata = sg.datasets.simulate(n_perturbations=8, cells_per_perturbation=30, shared_fraction=rho, seed=0)
        match = sg.datasets.true_matching(mdata)
        scores.append(
            sg.metrics.foscttm(mdata["rna"].obsm["X_true_latent"], mdata["protein"].obsm["X_true_latent"], match)
        )
    assert scores[0] == 0.0 and scores[0] < scores[1] < scores[2]


def test_simulate_is_reproducible_and_options_work():
    a = sg.datasets.simulate(
        n_perturbations=3,
        cells_per_perturbation=[5, 10, 20, 4],
        seed=3,
        modalities={"rna": "counts", "atac": "binary"},
        heterogeneous_perturbations=1,
    )
    b = sg.datasets.simulate(
        n_perturbations=3,
        cells_per_perturbation=[5, 10, 20, 4],
        seed=3,
        modalities={"rna": "counts", "atac": "binary"},
        heterogeneous_perturbations=1,
    )
    np.testing.assert_array_equal(a["atac"].X, b["atac"].X)
    assert set(np.unique(a["atac"].X)) <= {0.0, 1.0}
    assert a["rna"].obs["perturbation"].value_counts()["P002"] == 20
    assert set(a["rna"].obs.loc[a["rna"].obs["perturbation"] == "P000", "response_group"]) == {0, 1}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"shared_fraction": 1.5}, "shared_fraction"),
        ({"keep_fraction": 0}, "keep_fraction"),
        ({"modalities": {"rna": "counts"}}, "two modalities"),
        ({"modalities": {"a": "counts", "b": "images"}}, "kind"),
    ],
)
def test_simulate_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sg.datasets.simulate(n_perturbations=2, cells_per_perturbation=5, **kwargs)


def test_unpair_real_data():
    paired = md.read_h5mu(shared_file("bmmc_cite_600.h5mu"))
    weak = sg.datasets.unpair(paired, label_key="label", fraction=0.85, seed=0)
    rna, protein = weak["rna"], weak["protein"]
    assert rna.n_obs == protein.n_obs == 510
    assert not set(rna.obs_names) & set(protein.obs_names)
    match = sg.datasets.true_matching(weak)
    paired_rows = match >= 0
    assert 0.7 * 510 < paired_rows.sum() < 510
    # the hidden truth is right: a pair's measured data equal the original cell's
    i = np.flatnonzero(paired_rows)[0]
    original = rna.obs["true_cell"].iloc[i]
    np.testing.assert_array_equal(rna.X[i].toarray(), paired["rna"][original].X.toarray())
    np.testing.assert_array_equal(protein.X[match[i]].toarray(), paired["protein"][original].X.toarray())
    assert (rna.obs["label"].to_numpy()[paired_rows] == protein.obs["label"].to_numpy()[match[paired_rows]]).all()
    assert sp.issparse(rna.X) and "log_normalized" in rna.layers
    assert paired["rna"].n_obs == 600  # input untouched
    # a donor covariate comes along on request, cell by cell
    with_donor = sg.datasets.unpair(paired, label_key="label", seed=0, obs_keys=("batch",))
    donor = with_donor["protein"].obs["batch"].astype(str).to_numpy()
    original = with_donor["protein"].obs["true_cell"].to_numpy()
    assert (donor == paired.obs["batch"].astype(str).reindex(original).to_numpy()).all()
    assert "batch" not in weak["rna"].obs
    with pytest.raises(KeyError, match="obs_keys: 'donor'"):
        sg.datasets.unpair(paired, label_key="label", obs_keys=("donor",))


def test_lineages_coarsen_every_bmmc_cell_type():
    cite, multiome = sg.datasets.bmmc_cite(), sg.datasets.bmmc_multiome()
    for mdata in (cite, multiome):
        lineage = mdata.obs["lineage"].astype(str)
        assert 6 <= lineage.nunique() <= 8  # coarse groups, each holding several fine types
        assert (mdata.obs.groupby("label", observed=True)["lineage"].nunique() == 1).all()  # a type has one lineage
        for adata in mdata.mod.values():
            assert (adata.obs["lineage"].astype(str) == lineage.reindex(adata.obs_names)).all()
    assert cite.obs.loc[cite.obs["label"] == "CD14+ Mono", "lineage"].unique().tolist() == ["Mono/DC"]
    assert cite.obs.loc[cite.obs["label"] == "T reg", "lineage"].unique().tolist() == ["CD4 T"]
    assert set(cite.obs.loc[cite.obs["label"].str.contains("CD8"), "lineage"]) == {"CD8 T"}
    cbmc = sg.datasets.cbmc_cite()
    assert (cbmc.obs["lineage"].astype(str) == cbmc.obs["label"].astype(str)).all()  # already coarse
    with pytest.raises(ValueError, match="'Alien cell' has no lineage"):
        sg.datasets._shipped.lineage_of(["CD14+ Mono", "Alien cell"])


def test_papalexi_screen_and_gene_panels():
    screen = sg.datasets.papalexi_eccite()
    rna = screen["rna"]
    assert rna.shape == (9428, 299) and set(screen.mod) == {"rna", "guides"}
    assert (rna.obs["target"] == "non-targeting").sum() == 965 and rna.obs["target"].nunique() == 26
    panels = sg.datasets.gene_panels(rna, seed=1)
    a, b = panels["panel_a"], panels["panel_b"]
    assert a.n_obs == b.n_obs == 9428 and a.n_vars + b.n_vars == 299
    assert not set(a.var_names) & set(b.var_names)  # disjoint panels
    # the same cells: each panel is the assay's columns, cell by cell
    np.testing.assert_array_equal(a.X[:5].toarray(), rna[:5, a.var_names].X.toarray())
    assert (a.obs["guide"] == rna.obs["guide"]).all()
    other = sg.datasets.gene_panels(rna, seed=2)
    assert set(other["panel_a"].var_names) != set(a.var_names)  # a new split per seed
    weak = sg.datasets.unpair(panels, label_key="guide", seed=0, obs_keys=("target",))
    assert weak["panel_a"].n_obs == round(0.85 * 9428) and "target" in weak["panel_b"].obs
    assert rna.n_vars == 299  # input untouched
    with pytest.raises(ValueError, match="two different modality names"):
        sg.datasets.gene_panels(rna, names=("x", "x"))


def test_unpair_errors():
    paired = md.MuData(
        {
            "a": __import__("anndata").AnnData(np.ones((3, 2)), obs=pd.DataFrame(index=list("xyz"))),
            "b": __import__("anndata").AnnData(np.ones((3, 2)), obs=pd.DataFrame(index=list("xyz"))),
        }
    )
    with pytest.raises(KeyError, match="nope"):
        sg.datasets.unpair(paired, label_key="nope")
    with pytest.raises(ValueError, match="fraction"):
        sg.datasets.unpair(paired, fraction=2)


def test_simulate_library_size_gives_sparse_droplet_like_counts():
    mdata = sg.datasets.simulate(
        n_perturbations=3, cells_per_perturbation=30, n_features={"rna": 400, "protein": 8}, library_size=300, seed=0
    )
    rna = mdata["rna"].X
    assert sp.issparse(rna) and (rna.nnz / np.prod(rna.shape)) < 0.5
    assert 200 < np.median(np.asarray(rna.sum(1)).ravel()) < 450
    assert mdata.uns["simulation"]["library_size"] == 300
    assert not sp.issparse(sg.datasets.simulate(n_perturbations=3, cells_per_perturbation=30, seed=0)["rna"].X)


def test_the_package_own_calls_raise_no_future_warning_and_name_no_internal_column():
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        paired = sg.datasets.bmmc_cite()
        mdata = sg.datasets.unpair(paired, label_key="label", seed=0)
        sg.datasets.simulate(n_perturbations=3, cells_per_perturbation=10, seed=0)
        sg.GROOVE.setup_mudata(mdata, perturbation_key="label")
    messages = [str(w.message) for w in caught]
    assert not [w for w in caught if issubclass(w.category, FutureWarning)], messages
    assert not [m for m in messages if "_scvi" in m or "not unique" in m], messages
    # the small groups are still reported, in the user's terms
    small = [m for m in messages if "fewer than 3 cells" in m]
    assert len(small) == 2 and all("'label'" in m for m in small)
    assert paired.var_names.is_unique and "CD69_protein" in paired["protein"].var_names

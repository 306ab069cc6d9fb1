"""sg.tl.coupled_latent: both modalities moved towards their partners, so that one space mixes them."""

import mudata as md
import numpy as np
import pytest
import scipy.sparse as sp
from anndata import AnnData

import scgroove as sg
from scgroove._results import write_coupling
from scgroove.align import Coupling


def _mdata(z1, z2, labels1, labels2, plan, key="coupling"):
    mods = {}
    for name, z, labels in (("rna", z1, labels1), ("protein", z2, labels2)):
        adata = AnnData(np.zeros((len(z), 2), dtype=np.float32))
        adata.obs_names = [f"{name}_{i}" for i in range(len(z))]
        adata.obs["perturbation"] = labels
        adata.obsm["X_groove"] = z
        mods[name] = adata
    mdata = md.MuData(mods)
    write_coupling(mdata, Coupling.from_matrix(plan), ("rna", "protein"), "perturbation", key)
    return mdata


def test_each_cell_moves_towards_its_partners_mean_entry_by_entry():
    rng = np.random.default_rng(0)
    z1, z2 = rng.normal(size=(5, 3)), rng.normal(size=(4, 3))
    plan = rng.random((5, 4)) * (rng.random((5, 4)) > 0.4)
    plan[:, 0] = np.maximum(plan[:, 0], 0.1)
    plan[4] = 0.0  # a cell of modality 1 without a partner
    mdata = _mdata(z1, z2, ["a"] * 5, ["a"] * 4, plan)
    before = {m: mdata[m].obsm["X_groove"].copy() for m in ("rna", "protein")}
    sg.tl.coupled_latent(mdata, share=0.3)
    expected1 = [0.7 * z1[i] + 0.3 * plan[i] @ z2 / plan[i].sum() for i in range(4)] + [z1[4]]
    expected2 = [0.7 * z2[j] + 0.3 * plan[:, j] @ z1 / plan[:, j].sum() for j in range(4)]
    np.testing.assert_allclose(mdata["rna"].obsm["X_groove_coupled"], expected1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mdata["protein"].obsm["X_groove_coupled"], expected2, rtol=1e-5, atol=1e-6)
    record = mdata.uns["groove"]["coupled_latent"]
    assert record["cells_without_partner"] == [1, 0] and record["share"] == 0.3
    assert record["modalities"] == ["rna", "protein"] and record["use_rep"] == "X_groove"
    for m in ("rna", "protein"):  # the latent it started from is untouched
        np.testing.assert_array_equal(mdata[m].obsm["X_groove"], before[m])
    sg.tl.coupled_latent(mdata, share=0, key_added="same")
    np.testing.assert_allclose(mdata["rna"].obsm["same"], z1, rtol=1e-6)


def test_a_modality_offset_cancels_at_the_default_share_and_the_modalities_mix():
    rng = np.random.default_rng(1)
    n, labels = 60, np.repeat(["a", "b", "c"], 20)
    z1 = rng.normal(size=(n, 4)) + np.repeat(np.eye(4)[:3] * 6, 20, axis=0)
    perm = np.concatenate([np.flatnonzero(labels == lab)[rng.permutation(20)] for lab in ("a", "b", "c")])
    z2 = z1[perm] + np.array([8.0, -6.0, 0.0, 3.0])  # modality 2 = the same cells, shifted
    plan = np.zeros((n, n))
    plan[perm, np.arange(n)] = 1.0 / n  # the true partners
    mdata = _mdata(z1, z2, labels, labels[perm], plan)
    sg.tl.coupled_latent(mdata)
    e1, e2 = mdata["rna"].obsm["X_groove_coupled"], mdata["protein"].obsm["X_groove_coupled"]
    np.testing.assert_allclose(e1[perm], e2, atol=1e-5)  # a cell and its partner meet halfway
    mixing_before = sg.metrics.mean_modality_mixing(z1, z2, labels, labels[perm])
    mixing_after = sg.metrics.mean_modality_mixing(e1, e2, labels, labels[perm])
    assert mixing_before < 0.1 and mixing_after > 0.9


def test_bad_inputs_are_refused_with_the_key_or_value():
    rng = np.random.default_rng(2)
    z1, z2 = rng.normal(size=(4, 3)), rng.normal(size=(3, 3))
    mdata = _mdata(z1, z2, ["a"] * 4, ["a"] * 3, np.ones((4, 3)))
    for share in (-0.1, 1.5, True, "half"):
        with pytest.raises(ValueError, match="share"):
            sg.tl.coupled_latent(mdata, share=share)
    with pytest.raises(KeyError, match="'other'"):
        sg.tl.coupled_latent(mdata, coupling_key="other")
    with pytest.raises(KeyError, match="X_missing"):
        sg.tl.coupled_latent(mdata, use_rep="X_missing")
    mdata["protein"].obsm["X_own"] = rng.normal(size=(3, 5))
    mdata["rna"].obsm["X_own"] = z1
    with pytest.raises(ValueError, match="not one shared space"):
        sg.tl.coupled_latent(mdata, use_rep="X_own")
    write_coupling(mdata, Coupling.from_matrix(sp.csr_matrix(np.ones((2, 3)))), ("rna", "protein"), "perturbation")
    with pytest.raises(ValueError, match="couples 2 x 3 cells"):
        sg.tl.coupled_latent(mdata)
    assert "X_groove_coupled" not in mdata["rna"].obsm


def test_after_groove_the_coupled_latent_mixes_more_and_embeds(small_mdata):
    sg.GROOVE.setup_mudata(small_mdata, perturbation_key="perturbation")
    model = sg.GROOVE(small_mdata, n_latent=8)
    model.train(max_epochs=3, enable_progress_bar=False)
    model.write_latent()
    model.align()
    sg.tl.coupled_latent(small_mdata)
    labels = [small_mdata[m].obs["perturbation"].astype(str).to_numpy() for m in ("rna", "protein")]
    latent = [small_mdata[m].obsm["X_groove"] for m in ("rna", "protein")]
    coupled = [small_mdata[m].obsm["X_groove_coupled"] for m in ("rna", "protein")]
    assert coupled[0].shape == latent[0].shape and coupled[0].dtype == np.float32
    assert sg.metrics.mean_modality_mixing(*coupled, *labels) > sg.metrics.mean_modality_mixing(*latent, *labels)
    sg.tl.joint_umap(small_mdata, use_rep="X_groove_coupled", key_added="X_coupled_umap")
    assert small_mdata["protein"].obsm["X_coupled_umap"].shape == (small_mdata["protein"].n_obs, 2)


def test_the_benchmark_scores_the_coupled_latents_mixing_as_the_tool_computes_it():
    rng = np.random.default_rng(3)
    labels = np.repeat(["a", "b"], 30)
    z1 = rng.normal(size=(60, 3)) + np.repeat(np.eye(3)[:2] * 8, 30, axis=0)
    z2 = z1 + np.array([6.0, 0.0, -6.0])
    plan = np.diag(np.full(60, 1 / 60))
    coupling = Coupling.from_matrix(plan)
    truth = sg.benchmark.DatasetTruth(
        match=np.arange(60), labels1=labels, labels2=labels, target_space=z2, target_values=z2, source_space=z1
    )
    scores = sg.benchmark.score_against_truth(truth, latents=(z1, z2), coupling=coupling)
    assert scores["modality_mixing"] < 0.1 and scores["coupled_modality_mixing"] > 0.9
    moved = coupling.coupled_latents(z1, z2)
    assert scores["coupled_modality_mixing"] == pytest.approx(sg.metrics.mean_modality_mixing(*moved, labels, labels))
    with pytest.raises(ValueError, match="share"):
        coupling.coupled_latents(z1, z2, share=2)
    with pytest.raises(ValueError, match="one shared space"):
        coupling.coupled_latents(z1, z2[:, :2])
    assert "coupled_modality_mixing" not in sg.benchmark.score_against_truth(truth, coupling=coupling)

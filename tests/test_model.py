import mudata as md
import numpy as np
import pytest
import scanpy as sc
import scipy.sparse as sp
import scvi
import torch
from conftest import shared_file

import scgroove as sg

QUIET = {"enable_progress_bar": False}


def setup(mdata, **kwargs):
    sg.GROOVE.setup_mudata(mdata, perturbation_key="perturbation", modalities=("rna", "protein"), **kwargs)


def cross_modal_label_accuracy(model, mdata, key="perturbation"):
    z = model.get_latent_representation(modality=None)
    return sg.metrics.label_transfer_accuracy(z["rna"], z["protein"], mdata["rna"].obs[key], mdata["protein"].obs[key])


def test_training_aligns_groups_and_logs_every_term(small_mdata):
    scvi.settings.seed = 0
    setup(small_mdata)
    # plain GroupCLIP on the latent: what it does is pull same-label cells of both modalities together
    model = sg.GROOVE(small_mdata, n_latent=8, n_hidden=64, contrast="group", projection_head=False)
    untrained = cross_modal_label_accuracy(model, small_mdata)
    model.train(max_epochs=80, early_stopping=False, **QUIET)  # the whole curve, not where it stopped
    history = model.history
    for split in ("train", "validation"):
        for term in ("loss", "reconstruction_rna", "reconstruction_protein", "contrast", "backtranslation"):
            assert f"{split}_{term}" in history, f"{split}_{term}"
    contrast = history["train_contrast"].to_numpy().ravel().astype(float)
    assert contrast[-3:].mean() < 0.5 * contrast[:3].mean()
    trained = cross_modal_label_accuracy(model, small_mdata)
    assert trained > 0.7 and trained > untrained + 0.3
    z = model.get_latent_representation(modality="protein")
    assert z.shape == (small_mdata["protein"].n_obs, 8) and np.isfinite(z).all()


def test_ablation_flags_change_the_losses(small_mdata):
    setup(small_mdata)
    model = sg.GROOVE(small_mdata, n_latent=4, n_hidden=32, use_contrast=False, use_backtranslation=False)
    model.train(max_epochs=2, **QUIET)
    assert "train_backtranslation" not in model.history
    # GroupCLIP is still measured (logged) but not optimised: the loss is reconstruction only
    h = model.history
    total = h["train_loss"].to_numpy().astype(float).ravel()
    recon = (
        h["train_reconstruction_rna"].to_numpy().astype(float)
        + h["train_reconstruction_protein"].to_numpy().astype(float)
    ).ravel()
    np.testing.assert_allclose(total, recon, rtol=1e-5)
    with pytest.raises(ValueError, match="At least one"):
        sg.GROOVE(small_mdata, use_reconstruction=False, use_contrast=False)


def test_write_latent_works_with_scanpy_and_h5mu(small_mdata, tmp_path):
    setup(small_mdata)
    model = sg.GROOVE(small_mdata, n_latent=6, n_hidden=32)
    model.train(max_epochs=2, **QUIET)
    model.write_latent()
    for m in ("rna", "protein"):
        assert small_mdata[m].obsm["X_groove"].shape == (small_mdata[m].n_obs, 6)
    sc.pp.neighbors(small_mdata["rna"], use_rep="X_groove", n_neighbors=5, method="gauss", transformer="sklearn")
    assert "connectivities" in small_mdata["rna"].obsp
    assert small_mdata.uns["groove"]["latent"]["key_added"] == "X_groove"
    small_mdata.write_h5mu(tmp_path / "out.h5mu")
    back = md.read_h5mu(tmp_path / "out.h5mu")
    np.testing.assert_allclose(back["protein"].obsm["X_groove"], small_mdata["protein"].obsm["X_groove"])


def test_save_load_and_query_transfer(small_mdata, tmp_path):
    setup(small_mdata)
    model = sg.GROOVE(small_mdata, n_latent=5, n_hidden=32)
    model.train(max_epochs=2, **QUIET)
    z = model.get_latent_representation(modality="rna")
    model.save(tmp_path / "model", save_anndata=True)
    loaded = sg.GROOVE.load(tmp_path / "model")
    np.testing.assert_allclose(loaded.get_latent_representation(modality="rna"), z, rtol=1e-5, atol=1e-6)
    # without data: likelihoods were saved resolved
    model.save(tmp_path / "weights")
    query = sg.datasets.simulate(
        n_perturbations=6, cells_per_perturbation=10, n_features={"rna": 60, "protein": 12}, seed=1
    )
    bare = sg.GROOVE.load(tmp_path / "weights", adata=query)
    z_query = bare.get_latent_representation(modality="protein")
    np.testing.assert_allclose(
        z_query, model.get_latent_representation(query, modality="protein"), rtol=1e-5, atol=1e-6
    )
    assert z_query.shape == (query["protein"].n_obs, 5)


def test_same_seed_same_latents(small_mdata):
    latents = []
    for _ in range(2):
        scvi.settings.seed = 42
        setup(small_mdata)
        model = sg.GROOVE(small_mdata, n_latent=4, n_hidden=32)
        model.train(max_epochs=3, **QUIET)
        latents.append(model.get_latent_representation(modality="rna"))
    np.testing.assert_array_equal(latents[0], latents[1])


def test_sparse_input_and_other_likelihoods():
    mdata = sg.datasets.simulate(
        n_perturbations=4,
        cells_per_perturbation=20,
        modalities={"rna": "counts", "atac": "binary"},
        n_features={"rna": 40, "atac": 30},
        seed=2,
    )
    for m in mdata.mod:
        mdata[m].X = sp.csr_matrix(mdata[m].X)
    sg.GROOVE.setup_mudata(mdata, perturbation_key="perturbation", modalities=("rna", "atac"))
    model = sg.GROOVE(mdata, n_latent=4, n_hidden=16, variant="out", similarity="euclidean")
    assert model.module.heads["2"].name == "bernoulli"
    model.train(max_epochs=2, **QUIET)
    translated = model.get_translation("rna", "atac")
    assert translated.shape == (mdata["rna"].n_obs, 30)
    assert list(translated.columns) == list(mdata["atac"].var_names)
    assert ((translated.to_numpy() >= 0) & (translated.to_numpy() <= 1)).all()
    counts = model.get_translation("atac", "rna", library_size=1000.0)
    np.testing.assert_allclose(counts.sum(1), 1000.0, rtol=1e-4)


def test_labels_of_one_modality_only_train_reconstruction(small_mdata):
    protein = small_mdata["protein"]
    protein.obs["perturbation"] = protein.obs["perturbation"].astype(str).replace({"P000": "P999"})
    setup(small_mdata)
    model = sg.GROOVE(small_mdata, n_latent=4, n_hidden=32)
    model.train(max_epochs=2, **QUIET)
    assert np.isfinite(model.history["train_loss"].to_numpy().astype(float)).all()
    cats = small_mdata["rna"].obs["_groove_perturbation"].cat.categories
    assert list(cats) == list(small_mdata["protein"].obs["_groove_perturbation"].cat.categories)
    assert {"P000", "P999"} <= set(cats)
    # P000 cells (RNA only) get no positives: neither guide mass nor a same-label partner, so the
    # contrast only ever pushes them away; moving them further from every protein cell can only
    # lower the loss, and moving them onto protein cells of another label can only raise it
    orphan = (small_mdata["rna"].obs["perturbation"] == "P000").to_numpy()
    guide = sg.model.structure_guide(model)
    assert (guide.row_mass[orphan] == 0).all() and (guide.row_mass[~orphan] > 0).all()
    z = model.get_latent_representation()
    labels = {m: torch.as_tensor(small_mdata[m].obs["_groove_perturbation"].cat.codes.to_numpy()) for m in z}
    z1, z2 = torch.as_tensor(z["rna"]), torch.as_tensor(z["protein"])
    loss = sg.losses.group_clip_loss(z1, z2, labels["rna"], labels["protein"], 0.1)
    away, onto = z1.clone(), z1.clone()
    away[orphan] = -z2.mean(0)
    onto[orphan] = z2[: orphan.sum()]
    assert sg.losses.group_clip_loss(away, z2, labels["rna"], labels["protein"], 0.1) < loss
    assert sg.losses.group_clip_loss(onto, z2, labels["rna"], labels["protein"], 0.1) > loss


def test_real_cite_seq_with_hidden_pairing():
    paired = md.read_h5mu(shared_file("bmmc_cite_600.h5mu"))
    mdata = sg.datasets.unpair(paired, label_key="label", fraction=0.85, seed=0)
    scvi.settings.seed = 0
    sg.GROOVE.setup_mudata(mdata, perturbation_key="label", modalities=("rna", "protein"))
    model = sg.GROOVE(mdata, n_latent=16, n_hidden=128)
    model.train(max_epochs=15, **QUIET)
    z = model.get_latent_representation()
    accuracy = sg.metrics.label_transfer_accuracy(
        z["rna"], z["protein"], mdata["rna"].obs["label"], mdata["protein"].obs["label"]
    )
    assert accuracy > 0.4  # 40 unbalanced cell types; chance (largest class) is ~0.15
    gc = model.history["train_contrast"].to_numpy().astype(float).ravel()
    assert gc[-1] < gc[0]


@pytest.mark.gpu
def test_trains_on_gpu(small_mdata, gpu):
    setup(small_mdata)
    model = sg.GROOVE(small_mdata, n_latent=4, n_hidden=32)
    model.train(max_epochs=2, accelerator="gpu", devices=1, **QUIET)
    assert next(model.module.parameters()).device.type == "cuda"
    assert np.isfinite(model.get_latent_representation(modality="rna")).all()


def test_align_impute_and_denoise_write_back(small_mdata, tmp_path):
    setup(small_mdata)
    model = sg.GROOVE(small_mdata, n_latent=6, n_hidden=32)
    model.train(max_epochs=3, **QUIET)
    rna, protein = small_mdata["rna"], small_mdata["protein"]
    with pytest.raises(KeyError, match="call model.align"):  # no silent align() inside impute
        model.impute("rna", "protein", method="coupling")
    assert "coupling" not in small_mdata.uns.get("groove", {})
    model.write_latent(key_added="X_mine")
    coupling = model.align(method="labeled_ot")
    assert coupling.n1 == rna.n_obs and coupling.n2 == protein.n_obs
    stored = small_mdata.uns["groove"]["coupling"]
    assert stored["method"] == "labeled_ot" and stored["matrix"].shape == (rna.n_obs, protein.n_obs)
    assert stored["matrix"].sum() == pytest.approx(1.0, abs=1e-3)
    # latents pass in memory: align writes no latent next to the one the user chose to keep
    assert "X_groove" not in rna.obsm and "X_mine" in rna.obsm
    # coupling imputation = barycentric projection of the measured protein
    imputed = model.impute("rna", "protein", method="coupling")
    np.testing.assert_allclose(imputed.to_numpy(), coupling.barycentric_projection(protein.X), rtol=1e-4, atol=1e-5)
    assert list(imputed.columns) == list(protein.var_names) and list(imputed.index) == list(rna.obs_names)
    back = model.impute("protein", "rna", method="coupling")  # uses the transpose
    assert back.shape == (protein.n_obs, rna.n_vars) and np.isfinite(back.to_numpy()).all()
    decoded = model.impute("rna", "protein", method="decoder")
    assert decoded.shape == imputed.shape
    assert small_mdata.uns["groove"]["imputation"]["rna_to_protein"]["method"] == "decoder"
    model.write_denoised()
    assert rna.layers["groove_denoised"].shape == rna.shape
    np.testing.assert_allclose(rna.layers["groove_denoised"].sum(1), np.asarray(rna.X.sum(1)).ravel(), rtol=1e-3)
    small_mdata.write_h5mu(tmp_path / "all.h5mu")
    read = md.read_h5mu(tmp_path / "all.h5mu")
    stored_back = sg.align.Coupling.from_uns(read.uns["groove"]["coupling"])
    assert abs(stored_back.to_sparse() - coupling.to_sparse()).max() < 1e-9
    np.testing.assert_allclose(read["rna"].obsm["groove_imputed_protein"].to_numpy(), decoded.to_numpy(), rtol=1e-6)
    assert "groove_denoised" in read["protein"].layers
    with pytest.raises(ValueError, match="coupling' or 'decoder"):
        model.impute("rna", "protein", method="magic")
    with pytest.raises(KeyError, match="atac"):
        model.impute("rna", "atac")


def test_imputation_sizes_and_outputs(small_mdata):
    setup(small_mdata)
    model = sg.GROOVE(small_mdata, n_latent=4, n_hidden=16)
    model.train(max_epochs=1, **QUIET)
    full = model.align()
    protein = small_mdata["protein"]
    chosen = list(protein.var_names[[3, 0]])
    subset = model.impute("rna", "protein", features=chosen)
    assert list(subset.columns) == chosen
    np.testing.assert_allclose(subset.to_numpy(), full.pull(protein.X[:, [3, 0]]), rtol=1e-5)
    adata = model.impute("rna", "protein", output="anndata")
    assert adata.shape == (small_mdata["rna"].n_obs, protein.n_vars) and adata.X.dtype == np.float32
    assert list(adata.obs_names) == list(small_mdata["rna"].obs_names)
    assert small_mdata.uns["groove"]["imputation"]["rna_to_protein"]["output"] == "anndata"
    with pytest.raises(ValueError, match="too large for obsm"):
        model.impute("rna", "protein", max_obsm_bytes=100)
    with pytest.raises(KeyError, match="not in modality 'protein'"):
        model.impute("rna", "protein", features=["nope"])
    with pytest.raises(ValueError, match="dense denoised layer of 'rna'"):
        model.write_denoised(max_bytes=1000)
    assert "groove_denoised" not in small_mdata["protein"].layers  # refused before anything is written
    sparse = model.align(top_k=2)
    stored = small_mdata.uns["groove"]["coupling"]["matrix"]
    assert np.diff(stored.indptr).max() <= 2 and 0 < sparse.info["top_k_mass_moved"] < 1
    assert small_mdata.uns["groove"]["coupling"]["info"]["top_k"] == 2
    full = model.align()  # "auto": a small coupling is stored whole
    assert "top_k" not in full.info and full.n_entries == full.to_sparse().nnz > 2 * small_mdata["rna"].n_obs
    assert model.align(top_k=None).n_entries == full.n_entries
    for bad in (0, 2.5, "all", True):
        with pytest.raises(ValueError, match="top_k must be a positive integer, 'auto' or None"):
            model.align(top_k=bad)


def test_align_uses_the_labels_registered_at_setup(small_mdata):
    setup(small_mdata)
    model = sg.GROOVE(small_mdata, n_latent=4, n_hidden=16)
    model.train(max_epochs=1, **QUIET)
    before = model.align().to_sparse()
    # editing obs after set-up must not make training and alignment disagree
    small_mdata["protein"].obs["perturbation"] = np.roll(small_mdata["protein"].obs["perturbation"].to_numpy(), 7)
    after = model.align().to_sparse()
    assert abs(after - before).max() < 1e-9


def test_labels_in_one_modality_get_no_partner(small_mdata):
    protein = small_mdata["protein"]
    protein.obs["perturbation"] = protein.obs["perturbation"].astype(str).replace({"P000": "P999"})
    setup(small_mdata)
    model = sg.GROOVE(small_mdata, n_latent=4, n_hidden=32)
    model.train(max_epochs=1, **QUIET)
    coupling = model.align()
    orphan = (small_mdata["rna"].obs["perturbation"] == "P000").to_numpy()
    assert (coupling.row_mass[orphan] == 0).all() and (coupling.row_mass[~orphan] > 0).all()
    imputed = model.impute("rna", "protein")
    assert imputed[orphan].isna().all().all() and not imputed[~orphan].isna().any().any()


@pytest.mark.parametrize("contrast", ["instance", "within"])
def test_alternative_contrasts_train_as_ablations(small_mdata, contrast):
    scvi.settings.seed = 0
    setup(small_mdata)
    model = sg.GROOVE(small_mdata, n_latent=8, n_hidden=32, contrast=contrast, use_backtranslation=False)
    assert model.module.contrast == contrast
    assert {"instance": "instance CLIP", "within": "SupCon within modality"}[contrast] in model._model_summary_string
    model.train(max_epochs=15, **QUIET)
    contrastive = model.history["train_contrast"].to_numpy().ravel().astype(float)
    assert np.isfinite(contrastive).all() and contrastive[-3:].mean() < contrastive[:3].mean()


def test_unknown_contrast_is_refused(small_mdata):
    setup(small_mdata)
    with pytest.raises(ValueError, match="contrast must be one of"):
        sg.GROOVE(small_mdata, contrast="pairs")


def test_label_aware_vae_trains_aligns_labels_and_round_trips(small_mdata, tmp_path):
    scvi.settings.seed = 0
    sg.LabelAwareVAE.setup_mudata(small_mdata, perturbation_key="perturbation", modalities=("rna", "protein"))
    model = sg.LabelAwareVAE(small_mdata, n_latent=8, n_hidden=64, adversarial_weight=0.5)
    untrained = cross_modal_label_accuracy(model, small_mdata)
    model.train(max_epochs=60, **QUIET)
    for term in ("reconstruction_rna", "kl_protein", "label_rna", "modality_adversary", "loss"):
        assert f"validation_{term}" in model.history, term
    assert "backtranslation" not in "".join(model.history)
    trained = cross_modal_label_accuracy(model, small_mdata)
    assert trained > 0.6 and trained > untrained + 0.2
    z = model.get_latent_representation(modality="rna")
    np.testing.assert_allclose(model.get_latent_representation(modality="rna"), z)  # posterior mean: deterministic
    model.save(tmp_path / "vae")
    loaded = sg.LabelAwareVAE.load(tmp_path / "vae", small_mdata)
    np.testing.assert_allclose(loaded.get_latent_representation(modality="rna"), z, atol=1e-5)
    assert loaded.module.adversarial_weight == 0.5
    model.align()
    assert np.isfinite(model.impute("rna", "protein").to_numpy()).all()


def test_modality_adversary_reverses_the_encoder_gradient():
    import torch

    from scgroove.module import AdversarialVAEModule

    torch.manual_seed(0)
    module = AdversarialVAEModule(
        5,
        4,
        "normal",
        "normal",
        n_labels=2,
        n_latent=3,
        n_hidden=8,
        kl_weight=0.0,
        label_weight=0.0,
        adversarial_weight=1.0,
    )
    module.eval()
    x1 = torch.randn(6, 5)
    z1 = module.encode(x1, 1)
    logits = module.modality_classifier(z1)
    # d(cross-entropy)/d(z) directly, and through the reversal layer used in the loss
    z_direct = z1.detach().requires_grad_(True)
    torch.nn.functional.cross_entropy(module.modality_classifier(z_direct), torch.zeros(6, dtype=torch.long)).backward()
    z_reversed = z1.detach().requires_grad_(True)
    from scgroove.module._adversarial_vae import _ReverseGradient

    reversed_logits = module.modality_classifier(_ReverseGradient.apply(z_reversed))
    torch.testing.assert_close(reversed_logits, logits)
    torch.nn.functional.cross_entropy(reversed_logits, torch.zeros(6, dtype=torch.long)).backward()
    torch.testing.assert_close(z_reversed.grad, -z_direct.grad)


def test_within_group_options_train_and_log_their_terms(small_mdata):
    scvi.settings.seed = 0
    setup(small_mdata)
    model = sg.GROOVE(
        small_mdata, n_latent=8, n_hidden=32, contrast="ot_refined", ot_warmup_epochs=2, geometry_weight=1.0
    )
    assert (
        "OT-refined GroupCLIP" in model._model_summary_string and "within-group geometry" in model._model_summary_string
    )
    model.train(max_epochs=6, **QUIET)
    refinement = model.history["ot_refinement"].to_numpy().ravel().astype(float)
    np.testing.assert_allclose(refinement, [0, 0, 0.5, 1, 1, 1])  # 2 plain epochs, then a 2-epoch ramp
    geometry = model.history["train_geometry"].to_numpy().ravel().astype(float)
    assert np.isfinite(geometry).all() and geometry[-1] < geometry[0]
    with pytest.raises(ValueError, match="geometry_weight"):
        sg.GROOVE(small_mdata, geometry_weight=-1.0)


def test_default_guided_model_keeps_within_group_structure_that_groupclip_loses(small_mdata):
    match = sg.datasets.true_matching(small_mdata)
    labels = [small_mdata[m].obs["perturbation"].to_numpy() for m in ("rna", "protein")]
    within = {}
    for name, flags in {"default": {}, "groupclip": {"contrast": "group", "projection_head": False}}.items():
        scvi.settings.seed = 0
        setup(small_mdata)
        model = sg.GROOVE(small_mdata, n_latent=8, n_hidden=32, **flags)
        model.train(max_epochs=40, **QUIET)
        z = model.get_latent_representation()
        within[name] = sg.metrics.within_label_foscttm(z["rna"], z["protein"], *labels, match)
        if name == "default":
            assert "structure-guided GroupCLIP on a projection head" in model._model_summary_string
            assert sum(p.numel() for p in model.module.projection.parameters()) > 0
            guide = sg.model.structure_guide(model)
    # measured 0.18 (default) vs 0.33 (plain GroupCLIP, which collapses each group)
    assert within["default"] < within["groupclip"] - 0.05 and within["default"] < 0.3
    n1, n2 = small_mdata["rna"].n_obs, small_mdata["protein"].n_obs
    assert (guide.n1, guide.n2) == (n1, n2) and abs(guide.row_mass.sum() - 1) < 1e-6
    # the guide follows the truth inside labels far better than uniform mass does
    assert sg.metrics.trace(guide, match) > 2 * sg.metrics.trace_chance(*labels, match)


def test_guide_is_checked_before_training(small_mdata):
    setup(small_mdata)
    guided = sg.GROOVE(small_mdata, n_latent=4, n_hidden=16, contrast="guided")
    with pytest.raises(ValueError, match="guide has shape"):
        guided.train(max_epochs=1, guide=sp.identity(5, format="csr"), **QUIET)
    with pytest.raises(TypeError, match="Coupling or a scipy sparse"):
        guided.train(max_epochs=1, guide=np.eye(3), **QUIET)
    plain = sg.GROOVE(small_mdata, n_latent=4, n_hidden=16, contrast="group")
    with pytest.raises(ValueError, match='contrast="guided" only'):
        plain.train(max_epochs=1, guide=sp.identity(5, format="csr"), **QUIET)


def test_distribution_and_cycle_terms_train_and_are_logged(small_mdata):
    scvi.settings.seed = 0
    setup(small_mdata)
    model = sg.GROOVE(small_mdata, n_latent=8, n_hidden=32, distribution_weight=1.0, cycle_weight=1.0)
    summary = model._model_summary_string
    assert "within-label Sinkhorn divergence" in summary and "latent cycle" in summary
    model.train(max_epochs=8, **QUIET)
    for term in ("sinkhorn_divergence", "latent_cycle"):
        values = model.history[f"train_{term}"].to_numpy().ravel().astype(float)
        assert np.isfinite(values).all() and values[-1] < values[0], term
    with pytest.raises(ValueError, match="distribution_weight"):
        sg.GROOVE(small_mdata, distribution_weight=-1.0)


def test_align_keeps_the_structure_prior(small_mdata, tmp_path):
    """A guided model's coupling is (1 - prior_share) * labeled OT on the latent + prior_share * its prior."""
    setup(small_mdata)
    model = sg.GROOVE(small_mdata, n_latent=6, n_hidden=32)
    assert model.prior_ is None
    with pytest.raises(ValueError, match=r"prior_share must be a number in \[0, 1\]"):
        model.align(prior_share=2.0)  # checked before anything is computed
    model.train(max_epochs=3, **QUIET)
    prior = model.prior_
    assert prior.method == "mapped_ot" and prior.params["guide_method"] == "labeled_gw"
    assert (prior.n1, prior.n2) == (small_mdata["rna"].n_obs, small_mdata["protein"].n_obs)
    # the prior is structure_prior through the structure guide the model was trained with
    guide = sg.model.structure_guide(model)
    np.testing.assert_allclose(
        prior.to_sparse().toarray(), sg.model.structure_prior(model, guide=guide).to_sparse().toarray(), rtol=1e-5
    )
    latent_only = model.align(prior_share=0).to_sparse().toarray()
    default = model.align()
    assert model.prior_share() == sg.model.PRIOR_SHARE == default.params["prior_weight"]
    share = sg.model.PRIOR_SHARE
    expected = (1 - share) * latent_only + share * prior.to_sparse().toarray()
    np.testing.assert_allclose(default.to_sparse().toarray(), expected, rtol=1e-5, atol=1e-12)
    stored = small_mdata.uns["groove"]["coupling"]
    assert stored["params"]["prior_weight"] == share and abs(stored["matrix"] - sp.csr_matrix(expected)).max() < 1e-9
    # other aligners take no prior unless asked; the soft matcher's off-label share is its own
    soft = model.align(method="soft_labeled_ot")
    assert "prior_weight" not in soft.params
    off_label = small_mdata["rna"].obs["groove_off_label_share"].to_numpy().copy()
    assert model.align(method="soft_labeled_ot", prior_share=0.5).params["prior_weight"] == 0.5
    np.testing.assert_allclose(small_mdata["rna"].obs["groove_off_label_share"].to_numpy(), off_label, rtol=1e-5)
    model.align()  # the default coupling stored again
    # the prior is saved with the model; without one (a model of scgroove < 0.2) it is recomputed
    model.save(tmp_path / "m", overwrite=True)
    loaded = sg.GROOVE.load(tmp_path / "m", adata=small_mdata)
    np.testing.assert_allclose(loaded.align().to_sparse().toarray(), expected, rtol=1e-5, atol=1e-12)
    loaded.prior_ = None
    np.testing.assert_allclose(loaded.align().to_sparse().toarray(), expected, rtol=1e-5, atol=1e-12)
    # a model trained without a guide mixes in nothing unless asked
    plain = sg.GROOVE(small_mdata, n_latent=6, n_hidden=32, contrast="group")
    plain.train(max_epochs=2, **QUIET)
    assert plain.prior_ is None and plain.prior_share() == 0.0 and "prior_weight" not in plain.align().params
    assert plain.align(prior_share=0.25).params["prior_weight"] == 0.25


def test_align_splits_large_labels_by_default_and_train_times_its_stages(small_mdata):
    """max_block_cells="auto" splits labels above AUTO_MAX_BLOCK_CELLS only; train() times the guide apart."""
    setup(small_mdata)
    model = sg.GROOVE(small_mdata, n_latent=6, n_hidden=32)
    model.train(max_epochs=2, **QUIET)
    seconds = model.train_seconds_
    assert set(seconds) == {"structure_pca", "structure_guide", "structure_prior", "fit"}
    assert all(value > 0 for value in seconds.values())
    n_labels = small_mdata["rna"].obs["perturbation"].nunique()
    default = model.align(prior_share=0)
    # every label here is far below 2000 cells: the default is the exact coupling, its split recorded
    assert default.params["max_block_cells"] == sg.align.AUTO_MAX_BLOCK_CELLS == 2000
    assert len(default.blocks) == n_labels
    np.testing.assert_array_equal(
        default.to_sparse().toarray(), model.align(prior_share=0, max_block_cells=None).to_sparse().toarray()
    )
    split = model.align(prior_share=0, max_block_cells=10)  # every label cut into parts of at most 10 cells
    assert split.params["max_block_cells"] == 10 and len(split.blocks) > 2 * n_labels
    assert max(max(len(b.rows), len(b.cols)) for b in split.blocks) <= 10
    np.testing.assert_allclose(split.row_mass, default.row_mass, rtol=1e-3)  # per-cell mass unchanged (to tol)
    with_prior = model.align(max_block_cells=10)  # the prior, split as the guide is, mixes in too
    assert with_prior.params["prior_weight"] == sg.model.PRIOR_SHARE
    assert model.align(method="labeled_knn").params.get("max_block_cells") is None  # "auto" skips it
    with pytest.raises(ValueError, match="not to method 'labeled_knn'"):
        model.align(method="labeled_knn", max_block_cells=10)
    with pytest.raises(ValueError, match="positive number of cells"):
        model.align(max_block_cells=0)
    # a guide passed in is not computed again: its time is the time of nothing
    model.train(max_epochs=1, guide=model.prior_, **QUIET)
    assert model.train_seconds_["structure_guide"] < 0.05 and model.train_seconds_["fit"] > 0

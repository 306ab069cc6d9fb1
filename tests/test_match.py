import matplotlib
import numpy as np
import pytest

import scgroove as sg

matplotlib.use("Agg")

QUICK = {"max_epochs": 3, "enable_progress_bar": False, "accelerator": "cpu"}


@pytest.mark.parametrize("pipeline", ["groove", "pca_gw", "pca_per_label_gw", "pca_mapped_ot", "label_only"])
def test_every_pipeline_writes_the_same_keys(small_mdata, pipeline):
    obs_before = {m: small_mdata[m].obs.copy() for m in ("rna", "protein")}
    result = sg.tl.match(small_mdata, "perturbation", pipeline, train_kwargs=QUICK, impute="both")
    n_rna, n_protein = small_mdata["rna"].n_obs, small_mdata["protein"].n_obs
    # the representation, the coupling, both imputations and the record: the same keys for every pipeline
    assert small_mdata["rna"].obsm["X_match"].shape[0] == n_rna
    assert small_mdata["protein"].obsm["X_match"].shape[0] == n_protein
    stored = small_mdata.uns["groove"]["coupling"]
    assert stored["modalities"] == ["rna", "protein"] and "block_labels" in stored
    assert stored["matrix"].shape == (n_rna, n_protein)
    assert small_mdata["rna"].obsm["groove_imputed_protein"].shape == (n_rna, small_mdata["protein"].n_vars)
    assert small_mdata["protein"].obsm["groove_imputed_rna"].shape == (n_protein, small_mdata["rna"].n_vars)
    assert small_mdata.uns["groove"]["imputation"]["rna_to_protein"]["coupling_method"] == result.coupling.method
    record = small_mdata.uns["groove"]["match"]
    expected = sg.tl.PIPELINES[pipeline]
    assert (record["pipeline"], record["aligner"], record["shared_space"]) == (
        pipeline,
        expected.aligner,
        expected.shared_space,
    )
    assert result.coupling.method == expected.aligner and record["seconds"] > 0
    # the imputation is the coupling's barycentric projection of the measured protein
    np.testing.assert_allclose(
        small_mdata["rna"].obsm["groove_imputed_protein"].to_numpy(),
        result.coupling.pull(small_mdata["protein"].X),
        rtol=1e-4,
        atol=1e-5,
    )
    assert (result.model is not None) == (pipeline == "groove")
    # a shared space also gets the coupled latent (cells moved halfway to their partners); own spaces cannot
    has_coupled = [("X_match_coupled" in small_mdata[m].obsm) for m in ("rna", "protein")]
    assert has_coupled == [expected.shared_space] * 2
    if expected.shared_space:
        partners = result.coupling.pull(small_mdata["protein"].obsm["X_match"])
        np.testing.assert_allclose(
            small_mdata["rna"].obsm["X_match_coupled"],
            0.5 * small_mdata["rna"].obsm["X_match"] + 0.5 * partners,
            rtol=1e-4,
            atol=1e-5,
        )
        assert small_mdata.uns["groove"]["coupled_latent"]["use_rep"] == "X_match"
    if pipeline == "groove":  # GROOVE's latent is also where write_latent puts it
        np.testing.assert_array_equal(small_mdata["rna"].obsm["X_groove"], small_mdata["rna"].obsm["X_match"])
    # plots read any pipeline's result
    sg.pl.coupling_specificity(small_mdata, show=False)
    figure = sg.pl.summary(small_mdata, "perturbation", show=False)
    # no joint UMAP was computed: coupling and scores only, and the title says why
    assert len(figure.axes) == 2
    own_spaces = pipeline in ("pca_gw", "pca_per_label_gw", "pca_mapped_ot")
    reason = "each modality matched in its own space" if own_spaces else "run scgroove.tl.joint_umap"
    assert reason in figure._suptitle.get_text()
    if own_spaces:  # no setup_mudata, so not a single obs column was touched
        for m, obs in obs_before.items():
            assert list(small_mdata[m].obs.columns) == list(obs.columns)


def test_pipelines_differ_as_their_names_say(small_mdata):
    """The floor knows only the labels; PCA + labeled GW finds the hidden partners inside them."""
    match = sg.datasets.true_matching(small_mdata)
    floor = sg.tl.match(small_mdata, pipeline="label_only", impute="none").coupling
    pca_gw = sg.tl.match(small_mdata, pipeline="pca_gw", impute="none").coupling
    for block in floor.blocks:  # uniform inside each label
        np.testing.assert_allclose(block.plan, block.plan.mean(), rtol=1e-3)
    chance = sg.metrics.trace_chance(
        small_mdata["rna"].obs["perturbation"], small_mdata["protein"].obs["perturbation"], match
    )
    assert sg.metrics.trace(floor, match) == pytest.approx(chance, rel=0.05)
    assert sg.metrics.trace(pca_gw, match) > 3 * chance
    # one GW per label: each label's block is its own problem, so it equals per_label_gw on that label alone
    per_label = sg.tl.match(small_mdata, pipeline="pca_per_label_gw", impute="none").coupling
    # blocks of ~35 cells hold little structure of their own: above chance, well below labeled GW
    assert per_label.method == "per_label_gw" and 1.2 * chance < sg.metrics.trace(per_label, match)
    x1, x2 = small_mdata["rna"].obsm["X_match"], small_mdata["protein"].obsm["X_match"]
    labels1 = small_mdata["rna"].obs["perturbation"].astype(str).to_numpy()
    labels2 = small_mdata["protein"].obs["perturbation"].astype(str).to_numpy()
    # solved to a tight tolerance both ways (batched, the blocks iterate until the slowest converges)
    tight = sg.tl.match(small_mdata, pipeline="pca_per_label_gw", impute="none", aligner_params={"tol": 1e-9})
    block = tight.coupling.blocks[0]
    alone = sg.align.per_label_gw(x1[block.rows], x2[block.cols], labels1[block.rows], labels2[block.cols], tol=1e-9)
    np.testing.assert_allclose(block.plan / block.plan.sum(), alone.blocks[0].plan, atol=1e-8)


def test_groove_pipeline_matches_as_the_model_aligns(small_mdata):
    """sg.tl.match(pipeline="groove") returns what GROOVE.align returns: the guide kept as a prior."""
    result = sg.tl.match(small_mdata, pipeline="groove", impute="none", train_kwargs=QUICK)
    assert result.coupling.params["prior_weight"] == sg.model.PRIOR_SHARE
    by_model = result.model.align(key_added="again")
    np.testing.assert_allclose(result.coupling.to_sparse().toarray(), by_model.to_sparse().toarray(), atol=1e-7)
    latent_only = sg.tl.match(small_mdata, pipeline="groove", impute="none", train_kwargs=QUICK, prior_share=0)
    assert "prior_weight" not in latent_only.coupling.params
    np.testing.assert_allclose(
        latent_only.coupling.to_sparse().toarray(),
        latent_only.model.align(prior_share=0, key_added="again").to_sparse().toarray(),
        atol=1e-7,
    )


def test_auto_records_the_rule_and_every_candidate(small_mdata):
    result = sg.tl.match(
        small_mdata, pipeline="auto", impute="none", train_kwargs=QUICK, selection_repeats=1, selection_epochs=2
    )
    record = small_mdata.uns["groove"]["match"]
    candidates = ["groove", "pca_mapped_ot", "pca_gw", "pca_per_label_gw", "label_only"]
    assert record["rule"] == "label_resolution" and record["selection"]["pipeline"] == sorted(candidates)
    scores = dict(zip(record["selection"]["pipeline"], record["selection"]["resolution"], strict=True))
    assert result.pipeline == record["pipeline"] == max(scores, key=scores.get)
    assert all(0 <= value <= 1 for value in scores.values())
    assert set(result.selection["pipeline"]) == set(candidates)
    # the labels alone resolve merged labels at chance: the share of same-label pairs inside a merged block
    assert scores["label_only"] < max(scores.values())


def test_aligner_and_its_parameters_replace_the_pipelines_own(small_mdata):
    result = sg.tl.match(small_mdata, pipeline="pca_gw", aligner_params={"epsilon": 0.05, "max_block_cells": 20})
    assert result.coupling.params["epsilon"] == 0.05 and result.coupling.params["max_block_cells"] == 20
    assert all(len(block.rows) <= 20 for block in result.coupling.blocks)
    assert small_mdata.uns["groove"]["match"]["aligner_params"] == {"epsilon": 0.05, "max_block_cells": 20}
    result = sg.tl.match(small_mdata, pipeline="label_only", aligner="labeled_knn", aligner_params={"n_neighbors": 3})
    assert result.coupling.method == small_mdata.uns["groove"]["match"]["aligner"] == "labeled_knn"


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"pipeline": "scvi"}, ValueError, "Unknown pipeline 'scvi'"),
        ({"pipeline": "pca_gw", "aligner": "labeled_ot"}, ValueError, "needs one shared space"),
        ({"pipeline": "auto", "aligner": "labeled_gw"}, ValueError, "cannot be combined with pipeline='auto'"),
        ({"aligner": "ot"}, ValueError, "'ot' is not a labeled aligner"),
        ({"aligner_params": {"epsilom": 0.1}}, TypeError, "['epsilom'] are not parameters of 'labeled_ot'"),
        ({"impute": "sideways"}, ValueError, "impute must be one of"),
        ({"perturbation_key": "guide"}, KeyError, "'guide'"),
        ({"modalities": ("rna", "atac")}, KeyError, "'atac' not found"),
        ({"layers": {"rna": "counts"}}, KeyError, "Layer 'counts' not found in modality 'rna'"),
        ({"setup_kwargs": {"control": "control"}}, TypeError, "['control'] are not screen options"),
        ({"setup_kwargs": {"control_label": "DMSO"}}, ValueError, "'DMSO' has no cells in modality 'rna'"),
        ({"prior_share": 1.5}, ValueError, "prior_share must be a number in [0, 1]"),
        ({"pipeline": "pca_gw", "prior_share": 0.5}, ValueError, "prior_share applies to the 'groove' pipeline"),
    ],
)
def test_bad_input_is_refused_before_any_training(small_mdata, monkeypatch, kwargs, error, message):
    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(sg.GROOVE, "train", no_training)
    with pytest.raises(error, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        sg.tl.match(small_mdata, **kwargs)
    assert "groove" not in small_mdata.uns


def test_an_imputation_too_large_for_obsm_is_refused_before_training(small_mdata, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(sg.GROOVE, "train", no_training)
    too_small = small_mdata["protein"].n_obs * small_mdata["rna"].n_vars * 4 - 1  # reverse needs one byte more
    with pytest.raises(ValueError, match="too large for obsm"):
        sg.tl.match(small_mdata, impute="reverse", max_obsm_bytes=too_small)
    assert "groove" not in small_mdata.uns
    sg.tl.match(small_mdata, pipeline="pca_gw", impute="forward", max_obsm_bytes=too_small)  # forward fits


def test_screen_options_reach_groove(small_mdata):
    result = sg.tl.match(
        small_mdata,
        setup_kwargs={"control_label": "control", "effect_test": {"n_permutations": 99}},
        train_kwargs={"max_epochs": 1, "enable_progress_bar": False},
        impute="none",
    )
    screen = small_mdata.uns["groove"]["screen"]
    assert screen["control_label"] == "control" and len(screen["effects"]) == 6
    assert result.model.control_group == "control"

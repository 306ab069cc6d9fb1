import mudata as md
import numpy as np
import ot
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

import scgroove as sg
from scgroove.align._sinkhorn import batched_log_sinkhorn

LABELED = ["labeled_ot", "labeled_gw", "per_label_gw", "labeled_fgw", "labeled_coot", "labeled_knn"]


@pytest.fixture(scope="module")
def problem():
    """Two noisy views of the same cells in 3 labels; modality 2 has different cells and one extra label."""
    rng = np.random.default_rng(0)
    n = 60
    labels = np.repeat(["a", "b", "c"], n // 3)
    centres = {"a": 0.0, "b": 4.0, "c": 8.0}
    truth = np.array([centres[lab] for lab in labels])[:, None] + rng.normal(size=(n, 3))
    x1 = truth + 0.05 * rng.normal(size=(n, 3))
    keep = rng.permutation(n)[:50]
    extra = rng.normal(size=(5, 3)) + 20
    x2 = np.vstack([truth[keep] + 0.05 * rng.normal(size=(50, 3)), extra])
    labels2 = np.concatenate([labels[keep], ["only_2"] * 5])
    match = np.full(n, -1)
    match[keep] = np.arange(50)
    return x1, x2, labels, labels2, match


def brute_block_masses(coupling, labels1, labels2):
    T = coupling.to_sparse().toarray()
    cross = labels1[:, None] != labels2[None, :]
    return T, cross


@pytest.mark.parametrize("method", LABELED)
def test_labeled_methods_keep_mass_inside_labels(problem, method):
    x1, x2, labels1, labels2, match = problem
    coupling = sg.align.align(x1, x2, labels1, labels2, method=method)
    T, cross = brute_block_masses(coupling, labels1, labels2)
    assert T.sum() == pytest.approx(1.0, abs=1e-3)
    assert T[cross].sum() == 0.0
    assert T[:, labels2 == "only_2"].sum() == 0.0  # label of one modality only: no partner
    # block-sparse storage: no block spans two labels, no n1 x n2 array
    assert len(coupling.blocks) == 3 and all(b.plan.shape[0] * b.plan.shape[1] <= 20 * 20 for b in coupling.blocks)
    # "source" convention: every modality-1 cell carries 1/n1
    np.testing.assert_allclose(coupling.row_mass, 1 / len(x1), rtol=0.05)
    # kNN has no stopping criterion: its convergence is unknown, not claimed
    assert coupling.converged is (None if method == "labeled_knn" else True)
    assert sg.metrics.trace(coupling, match) > sg.metrics.trace_chance(labels1, labels2, match)


def test_labeled_ot_matches_pot_on_each_block(problem):
    x1, x2, labels1, labels2, _ = problem
    coupling = sg.align.labeled_ot(x1, x2, labels1, labels2, epsilon=0.1, tol=1e-9, max_iter=20000)
    reg = coupling.info["reg"]
    for block in coupling.blocks:
        cost = ot.dist(x1[block.rows], x2[block.cols])
        mass = block.plan.sum()
        a = np.full(len(block.rows), mass / len(block.rows))
        b = np.full(len(block.cols), mass / len(block.cols))
        reference = ot.sinkhorn(a, b, cost, reg, method="sinkhorn_log", stopThr=1e-12, numItermax=20000)
        np.testing.assert_allclose(block.plan, reference, atol=1e-7)


def test_unlabeled_ot_recovers_exact_copies():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 4))
    perm = rng.permutation(40)
    coupling = sg.align.align(x, x[perm], method="ot", epsilon=0.005)
    assert (coupling.argmax_match() == np.argsort(perm)).mean() > 0.95


def test_batched_sinkhorn_torch_matches_pot_with_padding():
    rng = np.random.default_rng(2)
    costs = [rng.random((4, 6)), rng.random((3, 2))]
    padded = torch.zeros(2, 4, 6, dtype=torch.float64)
    log_a = torch.full((2, 4), float("-inf"), dtype=torch.float64)
    log_b = torch.full((2, 6), float("-inf"), dtype=torch.float64)
    for k, c in enumerate(costs):
        padded[k, : c.shape[0], : c.shape[1]] = torch.tensor(c)
        log_a[k, : c.shape[0]] = np.log(0.5 / c.shape[0])
        log_b[k, : c.shape[1]] = np.log(0.5 / c.shape[1])
    plan, report, _ = batched_log_sinkhorn(padded, log_a, log_b, reg=0.1, max_iter=5000, tol=1e-10)
    assert report.converged
    for k, c in enumerate(costs):
        a, b = np.full(c.shape[0], 0.5 / c.shape[0]), np.full(c.shape[1], 0.5 / c.shape[1])
        np.testing.assert_allclose(
            plan[k, : c.shape[0], : c.shape[1]].numpy(), ot.sinkhorn(a, b, c, 0.1, stopThr=1e-12), atol=1e-8
        )
        assert plan[k, c.shape[0] :].sum() == 0 and plan[k, :, c.shape[1] :].sum() == 0


def test_labeled_gw_matches_dense_gw_within_one_label():
    """With one label, labeled GW is plain entropic GW: compare with POT on the same problem."""
    rng = np.random.default_rng(3)
    x1, x2 = rng.normal(size=(30, 3)), rng.normal(size=(25, 2))
    labels1, labels2 = np.zeros(30), np.zeros(25)
    ours = sg.align.labeled_gw(x1, x2, labels1, labels2, epsilon=0.05, max_iter=100, tol=1e-7)
    s1 = sg.align._quadratic.normalise_structure(torch.tensor(x1)).numpy()
    s2 = sg.align._quadratic.normalise_structure(torch.tensor(x2)).numpy()
    c1, c2 = ot.dist(s1, s1), ot.dist(s2, s2)
    pot = ot.gromov.entropic_gromov_wasserstein(
        c1, c2, ot.unif(30), ot.unif(25), "square_loss", epsilon=0.05, max_iter=100, tol=1e-7
    )
    ours_cost = ot.gromov.gwloss(*ot.gromov.init_matrix(c1, c2, ot.unif(30), ot.unif(25)), ours.to_sparse().toarray())
    pot_cost = ot.gromov.gwloss(*ot.gromov.init_matrix(c1, c2, ot.unif(30), ot.unif(25)), pot)
    assert ours_cost == pytest.approx(pot_cost, rel=0.05)


def test_per_label_gw_solves_each_label_as_its_own_gw_problem():
    """Each block equals POT's entropic GW on that label's cells alone, costs normalised within the block."""
    rng = np.random.default_rng(5)
    sizes = {"a": (40, 35), "b": (12, 15)}
    x1 = np.vstack([rng.normal(size=(n1, 3)) * (1 + k) for k, (n1, _) in enumerate(sizes.values())])
    x2 = np.vstack([rng.normal(size=(n2, 2)) * (1 + k) for k, (_, n2) in enumerate(sizes.values())])
    labels1 = np.concatenate([[lab] * n1 for lab, (n1, _) in sizes.items()])
    labels2 = np.concatenate([[lab] * n2 for lab, (_, n2) in sizes.items()])
    ours = sg.align.align(x1, x2, labels1, labels2, method="per_label_gw", epsilon=0.1, max_iter=1000, tol=1e-8)
    assert ours.method == "per_label_gw" and ours.converged
    normalise = sg.align._quadratic.normalise_structure
    for block in ours.blocks:
        s1 = normalise(torch.tensor(x1[block.rows])).numpy()
        s2 = normalise(torch.tensor(x2[block.cols])).numpy()
        c1, c2 = ot.dist(s1, s1), ot.dist(s2, s2)
        p, q = ot.unif(len(s1)), ot.unif(len(s2))
        pot = ot.gromov.entropic_gromov_wasserstein(c1, c2, p, q, "square_loss", epsilon=0.1, max_iter=1000, tol=1e-10)
        mass = len(block.rows) / len(x1)  # "source" convention: the block's share of modality 1
        assert block.plan.sum() == pytest.approx(mass)
        # the block is the unit-mass problem scaled by its share: the same plan as POT's, entry by entry
        np.testing.assert_allclose(block.plan / mass, pot, atol=1e-7)


def test_per_label_gw_ignores_what_lies_outside_a_label():
    """Moving or rescaling one label's cells changes only that label's block (labeled GW couples them all)."""
    rng = np.random.default_rng(6)
    x1, x2 = rng.normal(size=(60, 3)), rng.normal(size=(50, 3))
    labels1, labels2 = np.repeat(["a", "b"], 30), np.repeat(["a", "b"], 25)
    moved1 = x1.copy()
    moved1[labels1 == "b"] = 10 * moved1[labels1 == "b"] + 50
    plain = sg.align.per_label_gw(x1, x2, labels1, labels2)
    moved = sg.align.per_label_gw(moved1, x2, labels1, labels2)
    np.testing.assert_allclose(plain.blocks[0].plan, moved.blocks[0].plan, atol=1e-9)  # label "a"
    np.testing.assert_allclose(plain.blocks[1].plan, moved.blocks[1].plan, atol=1e-6)  # GW: invariant to both


def test_labeled_gw_is_invariant_to_rotation(problem):
    x1, x2, labels1, labels2, match = problem
    q, _ = np.linalg.qr(np.random.default_rng(4).normal(size=(3, 3)))
    plain = sg.align.labeled_gw(x1, x2, labels1, labels2)
    rotated = sg.align.labeled_gw(x1, x2 @ q, labels1, labels2)
    np.testing.assert_allclose(plain.to_sparse().toarray(), rotated.to_sparse().toarray(), atol=1e-6)


def test_coupling_api(problem):
    x1, x2, labels1, labels2, match = problem
    coupling = sg.align.labeled_ot(x1, x2, labels1, labels2)
    T = coupling.to_sparse()
    assert sp.isspmatrix_csr(T) and T.shape == (60, 55) and (coupling.n1, coupling.n2) == (60, 55)
    projected = coupling.barycentric_projection(x2)
    dense = T.toarray()
    np.testing.assert_allclose(projected, dense @ x2 / dense.sum(1, keepdims=True))
    np.testing.assert_array_equal(coupling.argmax_match(), dense.argmax(1))
    table = coupling.label_mass()
    assert list(table.index) == ["a", "b", "c"] and table.to_numpy().sum() == pytest.approx(1.0)
    unlabeled = sg.align.align(x1, x2, method="ot")
    crossing = unlabeled.label_mass(labels1, labels2)
    assert crossing.loc["a", "only_2"] < 0.01 and crossing.to_numpy().sum() == pytest.approx(1.0)
    back = sg.align.Coupling.from_uns(coupling.to_uns())
    assert abs(back.to_sparse() - T).max() == 0 and back.method == "labeled_ot"
    # the blocks and the solver's typed report come back, so label tables still work
    assert [b.label for b in back.blocks] == ["a", "b", "c"]
    pd.testing.assert_frame_equal(back.label_mass(), table)
    assert back.converged is True and back.cost == pytest.approx(coupling.cost)
    # the transport cost is <C, T> on squared Euclidean distances
    cost = ((x1[:, None, :] - x2[None, :, :]) ** 2).sum(-1)
    assert coupling.cost == pytest.approx(float((cost * dense).sum()), rel=1e-4)
    transposed = coupling.transpose()
    assert abs(transposed.to_sparse() - T.T).max() == 0
    with np.errstate(invalid="ignore"):  # modality-2 cells of a label absent from modality 1: no mass
        expected = dense.T @ x1 / dense.sum(0)[:, None]
    np.testing.assert_allclose(transposed.barycentric_projection(x1), expected)
    with pytest.raises(ValueError, match="no block labels"):
        unlabeled.label_mass()


def _dense_from_blocks(coupling):
    dense = np.zeros((coupling.n1, coupling.n2))
    for block in coupling.blocks:
        plan = block.plan.toarray() if sp.issparse(block.plan) else block.plan
        dense[np.ix_(block.rows, block.cols)] += plan
    return dense


@pytest.mark.parametrize(
    "layout", ["disjoint_dense", "explicit_zeros", "overlapping_rows", "sparse_plans", "unsorted_cols"]
)
def test_to_sparse_equals_the_blocks_summed_densely(layout):
    """Each block layout gives the same CSR as adding the blocks into a dense matrix, without zeros."""
    rng = np.random.default_rng(1)
    rows = [np.array([0, 3, 4]), np.array([1, 2]), np.array([6])]
    cols = [np.array([0, 2]), np.array([1, 3, 5]), np.array([4, 6])]
    if layout == "overlapping_rows":  # e.g. a coupling assembled by hand: a cell in two blocks
        rows[1] = np.array([1, 3])
    if layout == "unsorted_cols":
        cols[1] = np.array([5, 1, 3])
    plans = [rng.random((len(r), len(c))) for r, c in zip(rows, cols, strict=True)]
    if layout == "explicit_zeros":
        plans[1][0, 1] = 0.0
    if layout == "sparse_plans":
        plans = [sp.csr_matrix(p) for p in plans]
    blocks = [sg.align.CouplingBlock(r, c, p) for r, c, p in zip(rows, cols, plans, strict=True)]
    coupling = sg.align.Coupling(8, 7, blocks)
    matrix = coupling.to_sparse()
    matrix.check_format(full_check=True)
    expected = _dense_from_blocks(coupling)
    np.testing.assert_array_equal(matrix.toarray(), expected)
    assert matrix.nnz == np.count_nonzero(expected) and matrix.has_canonical_format


def test_to_sparse_of_every_aligner_matches_its_blocks(problem):
    x1, x2, labels1, labels2, _ = problem
    for method in LABELED:
        coupling = sg.align.align(x1, x2, labels1, labels2, method=method)
        np.testing.assert_array_equal(coupling.to_sparse().toarray(), _dense_from_blocks(coupling))


def test_coupling_survives_h5mu(problem, tmp_path, small_mdata):
    x1, x2, labels1, labels2, _ = problem
    coupling = sg.align.labeled_ot(x1, x2, labels1, labels2)
    small_mdata.uns["groove"] = {"coupling": coupling.to_uns()}
    small_mdata.write_h5mu(tmp_path / "c.h5mu")
    stored = md.read_h5mu(tmp_path / "c.h5mu").uns["groove"]["coupling"]
    back = sg.align.Coupling.from_uns(stored)
    assert abs(back.to_sparse() - coupling.to_sparse()).max() < 1e-12
    assert back.params["epsilon"] == 0.05 and back.params["block_mass"] == "source"


def test_dense_methods_refuse_beyond_memory_budget():
    x = np.zeros((1000, 2))
    with pytest.raises(MemoryError, match=r"1,000 x 1,000 entries: 0.01 GiB"):
        sg.align.align(x, x, method="ot", max_dense_bytes=1_000_000)
    with pytest.raises(MemoryError, match="'gw'"):
        sg.align.align(x, x, method="gw", max_dense_bytes=1_000_000)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"method": "labeled_ot"}, ValueError, "needs labels1"),
        ({"method": "magic"}, ValueError, "Unknown method"),
        ({"method": "labeled_ot", "labels1": ["a"], "labels2": ["a"] * 5}, ValueError, "one entry per cell"),
        ({"method": "labeled_ot", "labels1": ["a"] * 5, "labels2": ["b"] * 5}, ValueError, "No label occurs in both"),
        ({"method": "labeled_fgw", "labels1": ["a"] * 5, "labels2": ["a"] * 5, "alpha": 2}, ValueError, "alpha"),
    ],
)
def test_align_bad_input(kwargs, error, message):
    with pytest.raises(error, match=message):
        sg.align.align(np.zeros((5, 2)), np.ones((5, 2)), **kwargs)


def test_labeled_ot_on_gpu_matches_cpu(problem, gpu):
    x1, x2, labels1, labels2, _ = problem
    cpu = sg.align.labeled_ot(x1, x2, labels1, labels2).to_sparse().toarray()
    cuda = sg.align.labeled_ot(torch.tensor(x1, device=gpu), torch.tensor(x2, device=gpu), labels1, labels2)
    np.testing.assert_allclose(cuda.to_sparse().toarray(), cpu, atol=1e-6)


def test_label_resolution_rule_prefers_the_informative_structure():
    """Two clouds per label whose fine structure only one candidate sees: the rule must pick it."""
    from scgroove.align import coarsen_labels, label_resolution, select_by_label_resolution

    rng = np.random.default_rng(0)
    labels = np.repeat([f"g{k}" for k in range(6)], 20)
    centres = rng.normal(size=(6, 3)) * 4
    x1 = centres[np.searchsorted(np.unique(labels), labels)] + rng.normal(size=(120, 3))
    x2 = x1 + 0.1 * rng.normal(size=x1.shape)
    noise = rng.normal(size=x1.shape)
    coarse1, coarse2 = coarsen_labels(labels, labels, group_size=2, seed=1)
    assert len(np.unique(coarse1)) == 3 and np.array_equal(coarse1, coarse2)
    assert all(len(np.unique(labels[coarse1 == c])) == 2 for c in np.unique(coarse1))

    def aligner(l1, l2, informative):
        return sg.align.align(x1, x2 if informative else noise, l1, l2, method="labeled_ot", epsilon=0.05)

    selection = select_by_label_resolution(aligner, labels, labels, {"informative": [False, True]}, n_repeats=2)
    assert selection.best == {"informative": True}
    means = selection.scores.groupby("informative")["resolution"].mean()
    assert means[True] > 0.9 and means[False] < 0.7  # chance is 0.5 inside pairs of labels
    exact = sg.align.align(x1, x2, labels, labels, method="labeled_ot")
    assert label_resolution(exact, labels, labels) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 4 labels"):
        select_by_label_resolution(aligner, labels[:40], labels[:40], {"informative": [True]})


def _structure_or_latent_problem(informative: str):
    """Latents and structures where only one of the two carries the cells' identity."""
    rng = np.random.default_rng(1)
    labels = np.repeat(list("abcdef"), 20)
    state = rng.normal(size=(120, 4)) * 3
    signal1, signal2 = state + 0.05 * rng.normal(size=state.shape), state + 0.05 * rng.normal(size=state.shape)
    noise1, noise2 = rng.normal(size=(120, 4)), rng.normal(size=(120, 4))
    if informative == "structure":
        return noise1, noise2, signal1, signal2, labels
    return signal1, signal2, noise1, noise2, labels


@pytest.mark.parametrize(("informative", "expected_alpha"), [("structure", 1.0), ("latent", 0.0)])
def test_labeled_fgw_auto_alpha_picks_the_informative_term(informative, expected_alpha):
    x1, x2, s1, s2, labels = _structure_or_latent_problem(informative)
    coupling = sg.align.align(
        x1,
        x2,
        labels,
        labels,
        method="labeled_fgw",
        alpha="auto",
        alpha_grid=(0.0, 1.0),
        selection_repeats=2,
        structure1=s1,
        structure2=s2,
    )
    selection = coupling.info["alpha_selection"]
    assert selection["alpha"] == [0.0, 1.0]
    assert coupling.params["alpha"] == expected_alpha and coupling.params["alpha_rule"] == "label_resolution"
    resolution = dict(zip(selection["alpha"], selection["resolution"], strict=True))
    assert resolution[expected_alpha] > resolution[1.0 - expected_alpha] + 0.2
    stored = sg.align.Coupling.from_uns(coupling.to_uns())
    assert stored.params["alpha_rule"] == "label_resolution"
    with pytest.raises(ValueError, match="'auto'"):
        sg.align.labeled_fgw(x1, x2, labels, labels, alpha="best")


def test_default_params_come_from_the_aligners_signatures():
    assert sg.align.default_params("labeled_ot")["epsilon"] == 0.05
    assert sg.align.default_params("labeled_gw")["epsilon"] == 0.01
    assert "epsilon" not in sg.align.default_params("knn")
    with pytest.raises(ValueError, match="Unknown method"):
        sg.align.default_params("labeled_nonsense")


def test_push_pull_transfer_labels_and_top_k(problem):
    x1, x2, labels1, labels2, match = problem
    coupling = sg.align.labeled_ot(x1, x2, labels1, labels2)
    dense = coupling.to_sparse().toarray()
    values2 = np.random.default_rng(0).normal(size=(len(x2), 3))
    np.testing.assert_allclose(coupling.pull(values2, normalize=False), dense @ values2)
    np.testing.assert_allclose(coupling.pull(sp.csr_matrix(values2), normalize=False), dense @ values2)
    np.testing.assert_allclose(coupling.push(x1, normalize=False), dense.T @ x1)
    np.testing.assert_allclose(coupling.pull(values2, rows=np.array([5, 0])), coupling.pull(values2)[[5, 0]])
    np.testing.assert_allclose(coupling.pull(values2), coupling.barycentric_projection(values2))
    transferred = coupling.transfer_labels(labels2)
    scored = coupling.row_mass > 0
    assert (transferred["label"].astype(str).to_numpy()[scored] == labels1[scored]).all()
    assert np.allclose(transferred["confidence"][scored], 1.0) and transferred["confidence"][~scored].isna().all()
    sparse = coupling.top_k(3)
    matrix = sparse.to_sparse()
    assert np.diff(matrix.indptr).max() <= 3 and matrix.nnz < dense.astype(bool).sum()
    np.testing.assert_allclose(sparse.row_mass, coupling.row_mass)  # every cell keeps its mass
    moved = 0.5 * np.abs(matrix.toarray() - dense).sum()
    assert sparse.info["top_k_mass_moved"] == pytest.approx(moved) and 0 < moved < 1
    assert [b.label for b in sparse.blocks] == [b.label for b in coupling.blocks]
    with pytest.raises(ValueError, match="k must be"):
        coupling.top_k(0)


def test_cap_entries_bounds_only_large_couplings(problem, monkeypatch):
    """'auto' cuts a coupling to AUTO_TOP_K entries per cell only above AUTO_TOP_K_ABOVE entries."""
    import scgroove.align._coupling as coupling_module

    x1, x2, labels1, labels2, _ = problem
    coupling = sg.align.labeled_ot(x1, x2, labels1, labels2)
    assert coupling.cap_entries() is coupling and coupling.cap_entries(None) is coupling
    monkeypatch.setattr(coupling_module, "AUTO_TOP_K_ABOVE", coupling.n_entries - 1)
    monkeypatch.setattr(coupling_module, "AUTO_TOP_K", 3)
    capped = coupling.cap_entries()
    assert capped.info["top_k"] == 3 and capped.max_entries_per_row() == 3 < coupling.max_entries_per_row()
    assert coupling.cap_entries(5).max_entries_per_row() == 5
    with pytest.raises(ValueError, match="top_k must be"):
        coupling.cap_entries(-1)


def test_top_k_of_a_sparse_block_equals_the_dense_route(problem):
    """A sparse block (the soft matcher's) is cut row by row without a dense copy, as a dense block is."""
    x1, x2, labels1, labels2, _ = problem
    soft = sg.align.soft_labeled_ot(x1, x2, labels1, labels2)
    dense = soft.to_sparse().toarray()
    as_dense = sg.align.Coupling(
        soft.n1, soft.n2, [sg.align.CouplingBlock(np.arange(soft.n1), np.arange(soft.n2), dense)]
    )
    assert soft.max_entries_per_row() == np.diff(soft.to_sparse().indptr).max() > 4
    cut, reference = soft.top_k(4), as_dense.top_k(4)
    np.testing.assert_allclose(cut.to_sparse().toarray(), reference.to_sparse().toarray(), atol=1e-15)
    assert cut.max_entries_per_row() == 4
    moved = 0.5 * np.abs(cut.to_sparse().toarray() - dense).sum()
    assert cut.info["top_k_mass_moved"] == pytest.approx(moved) and 0 < moved < 1
    np.testing.assert_allclose(cut.row_mass, soft.row_mass)


def test_max_block_cells_splits_large_labels_and_keeps_per_cell_mass():
    """A large label (the control) is matched within random parts; every cell keeps its mass."""
    rng = np.random.default_rng(5)
    labels1 = np.array(["control"] * 230 + ["p1"] * 40)
    labels2 = np.array(["control"] * 205 + ["p1"] * 35)
    x1, x2 = rng.normal(size=(270, 4)), rng.normal(size=(240, 4))
    exact = sg.align.labeled_ot(x1, x2, labels1, labels2)
    split = sg.align.labeled_ot(x1, x2, labels1, labels2, max_block_cells=100)
    control_blocks = [b for b in split.blocks if b.label == "control"]
    assert len(exact.blocks) == 2 and len(control_blocks) == 3  # ceil(230 / 100)
    assert all(len(b.rows) <= 100 and len(b.cols) <= 100 for b in control_blocks)
    # every control cell of both modalities is in exactly one part
    assert np.array_equal(np.sort(np.concatenate([b.rows for b in control_blocks])), np.arange(230))
    assert np.array_equal(np.sort(np.concatenate([b.cols for b in control_blocks])), np.arange(205))
    np.testing.assert_allclose(split.row_mass, 1 / 270, rtol=5e-3)  # 1/n1 per cell, as without splitting
    T = split.to_sparse().toarray()
    assert T[labels1[:, None] != labels2[None, :]].sum() == 0
    assert split.params["max_block_cells"] == 100 and split.converged
    # label_mass sums the parts of a split label: one row per label, the same as the exact coupling
    pd.testing.assert_frame_equal(split.label_mass(), exact.label_mass(), atol=1e-3)
    # the structure aligners take the same option, and small labels are left whole
    gw = sg.align.labeled_gw(x1, x2, labels1, labels2, max_block_cells=100)
    assert len(gw.blocks) == 4 and gw.params["max_block_cells"] == 100
    assert [len(b.rows) for b in gw.blocks if b.label == "p1"] == [40]
    with pytest.raises(ValueError, match="max_block_cells must be a positive"):
        sg.align.labeled_ot(x1, x2, labels1, labels2, max_block_cells=0)


def test_kernel_sinkhorn_hands_only_unconverged_blocks_to_the_log_domain(monkeypatch):
    """Blocks matrix scaling cannot solve are finished in the log domain; the others are not re-solved."""
    from scgroove.align import _sinkhorn
    from scgroove.align._blocks import label_blocks

    rng = np.random.default_rng(6)
    labels = np.repeat(["easy", "hard"], 20)
    x1 = rng.normal(size=(40, 2))
    x2 = x1 + 0.01 * rng.normal(size=(40, 2))
    x1[20:] *= 60  # the "hard" block's costs are far larger than the kernel can represent at this reg
    x2[20:] *= 60
    blocks = label_blocks(labels, labels)
    t1, t2 = torch.tensor(x1), torch.tensor(x2)

    def block_cost(bucket, m1, m2):
        a = _sinkhorn.pad_rows([t1[blocks.rows[k]] for k in bucket], m1)
        b = _sinkhorn.pad_rows([t2[blocks.cols[k]] for k in bucket], m2)
        return torch.cdist(a, b) ** 2

    handed = []
    original = _sinkhorn.batched_log_sinkhorn

    def spy(cost, *args, **kwargs):
        handed.append(cost.shape[0])
        return original(cost, *args, **kwargs)

    monkeypatch.setattr(_sinkhorn, "batched_log_sinkhorn", spy)
    plans, report, _ = _sinkhorn.solve_blocks(blocks, block_cost, 0.5, 5000, 1e-8, kernel_first=True)
    assert report.converged and handed == [1]  # only the hard block went to the log domain
    for plan, rows, cols, mass in zip(plans, blocks.rows, blocks.cols, blocks.mass, strict=True):
        cost = ot.dist(x1[rows], x2[cols])
        a, b = np.full(len(rows), mass / len(rows)), np.full(len(cols), mass / len(cols))
        reference = ot.sinkhorn(a, b, cost, 0.5, method="sinkhorn_log", stopThr=1e-12, numItermax=20000)
        np.testing.assert_allclose(plan.numpy(), reference, atol=1e-9)


def test_kernel_sinkhorn_keeps_blocks_that_only_ran_out_of_iterations(monkeypatch):
    """A block the kernel represents but that needs more than max_iter iterations is not re-run in
    the log domain (the same iterations, slower): its kernel solution is kept, reported unconverged
    with its finite error, and equals the log domain's plan after the same number of iterations."""
    from scgroove.align import _sinkhorn
    from scgroove.align._blocks import label_blocks

    rng = np.random.default_rng(8)
    labels = np.repeat(["a", "b"], [30, 300])
    x1, x2 = rng.normal(size=(330, 3)), rng.normal(size=(330, 3))
    blocks = label_blocks(labels, labels)
    t1, t2 = torch.tensor(x1), torch.tensor(x2)

    def block_cost(bucket, m1, m2):
        a = _sinkhorn.gather_rows(t1, [blocks.rows[k] for k in bucket], m1)
        b = _sinkhorn.gather_rows(t2, [blocks.cols[k] for k in bucket], m2)
        return torch.cdist(a, b) ** 2

    def forbidden(*args, **kwargs):
        raise AssertionError("a block the kernel represents went to the log domain")

    monkeypatch.setattr(_sinkhorn, "batched_log_sinkhorn", forbidden)
    plans, report, _ = _sinkhorn.solve_blocks(blocks, block_cost, 0.3, 20, 1e-12, kernel_first=True)
    monkeypatch.undo()
    assert not report.converged and np.isfinite(report.marginal_error) and report.marginal_error > 1e-12
    for plan, rows, cols, mass in zip(plans, blocks.rows, blocks.cols, blocks.mass, strict=True):
        cost = torch.cdist(t1[rows], t2[cols])[None] ** 2
        log_a = _sinkhorn.log_marginals(np.array([len(rows)]), np.array([mass]), len(rows), cost)
        log_b = _sinkhorn.log_marginals(np.array([len(cols)]), np.array([mass]), len(cols), cost)
        reference, _, _ = batched_log_sinkhorn(cost, log_a, log_b, 0.3, 20, 1e-12, check_every=10, scaling_steps=0)
        torch.testing.assert_close(plan, reference[0], atol=1e-12, rtol=1e-6)


@pytest.mark.parametrize("shape", [(4, 30, 20), (1, 300, 250)])
def test_kernel_products_of_small_and_large_problems_agree(shape):
    """Multiply-and-sum (small problems) and bmm (large ones) compute the same K v and K^T u."""
    from scgroove.align._sinkhorn import _kernel_times

    rng = np.random.default_rng(9)
    kernel = torch.tensor(rng.random(shape))
    u, v = torch.tensor(rng.random(shape[:2])), torch.tensor(rng.random((shape[0], shape[2])))
    torch.testing.assert_close(_kernel_times(kernel, v), torch.einsum("bij,bj->bi", kernel, v))
    torch.testing.assert_close(_kernel_times(kernel, u, transpose=True), torch.einsum("bij,bi->bj", kernel, u))


def test_kernel_sinkhorn_warm_start_survives_large_potentials():
    """Warm-started from its own solution, matrix scaling stops at the first check, even when the
    potentials divided by reg are far beyond exp's range (they are defined up to a shift)."""
    from scgroove.align._sinkhorn import batched_kernel_sinkhorn, log_marginals

    rng = np.random.default_rng(7)
    # column offsets move into g: g / reg reaches hundreds
    cost = torch.tensor(rng.random((3, 30, 25)) * 20 + rng.random((3, 1, 25)) * 60)
    log_a = log_marginals(np.array([30, 30, 30]), np.ones(3) / 3, 30, cost)
    log_b = log_marginals(np.array([25, 25, 25]), np.ones(3) / 3, 25, cost)
    cold_plan, cold, duals = batched_kernel_sinkhorn(cost, log_a, log_b, 0.2, max_iter=5000, tol=1e-9)
    assert cold.converged and cold.n_iter > 10
    assert float(duals[1].abs().max() / 0.2) > 100  # exp(g / reg) alone would overflow float32 / clamp
    warm_plan, warm, _ = batched_kernel_sinkhorn(cost, log_a, log_b, 0.2, max_iter=5000, tol=1e-9, init=duals)
    assert warm.converged and warm.n_iter == 10
    torch.testing.assert_close(warm_plan, cold_plan, atol=1e-10, rtol=1e-6)


def test_mean_block_cost_equals_the_mean_over_same_label_pairs():
    from scgroove.align._blocks import label_blocks
    from scgroove.align._linear import mean_block_cost

    rng = np.random.default_rng(3)
    x1, x2 = rng.normal(size=(70, 4)), rng.normal(size=(50, 4)) + 1
    labels1, labels2 = rng.choice(list("abcd"), 70), rng.choice(list("abce"), 50)
    blocks = label_blocks(labels1, labels2, max_block_cells=9)
    costs = [((x1[r][:, None] - x2[c][None]) ** 2).sum(-1) for r, c in zip(blocks.rows, blocks.cols, strict=True)]
    expected = sum(cost.sum() for cost in costs) / sum(cost.size for cost in costs)
    assert mean_block_cost(torch.as_tensor(x1), torch.as_tensor(x2), blocks) == pytest.approx(expected, rel=1e-12)


def test_mixed_with_is_the_convex_combination_on_the_couplings_blocks(problem):
    """(1 - w) * latent + w * prior entry by entry; the prior's mass outside the blocks is dropped."""
    x1, x2, labels1, labels2, _ = problem
    base = sg.align.labeled_ot(x1, x2, labels1, labels2)
    prior = sg.align.labeled_gw(x1, x2, labels1, labels2)
    mixed = base.mixed_with(prior, weight=0.3)
    expected = 0.7 * base.to_sparse().toarray() + 0.3 * prior.to_sparse().toarray()
    np.testing.assert_allclose(mixed.to_sparse().toarray(), expected, atol=1e-12)
    assert [b.label for b in mixed.blocks] == [b.label for b in base.blocks]
    assert mixed.params["prior_weight"] == 0.3 and mixed.params["prior_method"] == "labeled_gw"
    assert mixed.info["prior_mass_outside"] == pytest.approx(0.0, abs=1e-9)
    assert base.mixed_with(prior, weight=0.0) is base
    np.testing.assert_allclose(base.mixed_with(prior, weight=1.0).to_sparse().toarray(), prior.to_sparse().toarray())
    # the imputation of the mixture is the same mixture of the two imputations
    y = np.random.default_rng(1).normal(size=(x2.shape[0], 4))
    np.testing.assert_allclose(
        mixed.barycentric_projection(y),
        (0.7 * base.pull(y, normalize=False) + 0.3 * prior.pull(y, normalize=False)) / mixed.row_mass[:, None],
    )
    # a prior with mass across labels: only the part inside the labels is kept, rescaled to mass 1
    uniform = np.full((base.n1, base.n2), 1.0 / (base.n1 * base.n2))
    crossing = sg.align.Coupling.from_matrix(uniform)
    out = base.mixed_with(crossing, weight=0.5)
    inside = (labels1[:, None] == labels2[None, :]).mean()
    assert out.info["prior_mass_outside"] == pytest.approx(1 - inside)
    assert out.to_sparse().sum() == pytest.approx(1.0)
    dense = out.to_sparse().toarray()
    assert dense[labels1[:, None] != labels2[None, :]].sum() == 0
    # a sparse block (the soft matcher's) takes the prior's entries too
    soft = sg.align.soft_labeled_ot(x1, x2, labels1, labels2)
    soft_mixed = soft.mixed_with(prior, weight=0.5)
    assert soft_mixed.info["prior_mass_outside"] == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(
        soft_mixed.to_sparse().toarray(), 0.5 * soft.to_sparse().toarray() + 0.5 * prior.to_sparse().toarray()
    )
    with pytest.raises(ValueError, match=r"weight must be a number in \[0, 1\]"):
        base.mixed_with(prior, weight=1.5)
    with pytest.raises(ValueError, match="prior couples"):
        base.mixed_with(prior.transpose(), weight=0.5)


def shared_state_problem(seed=0, n_labels=20, cells=15):
    """Many small labels sharing one continuous state; modality 2 sees it through a linear map (other dims)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat([f"g{i}" for i in range(n_labels)], cells)
    state = rng.normal(size=(len(labels), 3)) + rng.normal(size=(n_labels, 3)).repeat(cells, 0)
    x1 = state @ rng.normal(size=(3, 6)) + 0.05 * rng.normal(size=(len(labels), 6))
    x2 = state @ rng.normal(size=(3, 4)) + 0.05 * rng.normal(size=(len(labels), 4))
    return x1.astype(np.float32), x2.astype(np.float32), labels, np.arange(len(labels))


def test_shared_linear_map_recovers_an_exact_linear_relation():
    x1, _, labels, match = shared_state_problem()
    weights = np.random.default_rng(3).normal(size=(6, 4))
    x2 = (x1 @ weights + 1.0).astype(np.float32)
    truth = sg.align.Coupling.from_matrix(sp.identity(len(x1), format="csr") / len(x1))
    mapped, r2 = sg.align.shared_linear_map(x1, x2, truth, ridge=0.0)
    np.testing.assert_allclose(mapped.numpy(), x2, atol=1e-3)
    assert r2 == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="guide couples"):
        sg.align.shared_linear_map(x1[:-1], x2, truth)
    empty = sg.align.Coupling(len(x1), len(x2), [])
    with pytest.raises(ValueError, match="fewer than two cells"):
        sg.align.shared_linear_map(x1, x2, empty)


def test_mapped_ot_pools_the_state_shared_by_small_labels():
    """15 cells per label: GW inside each label is unsure; one map fitted on all cells finds the partners."""
    x1, x2, labels, match = shared_state_problem()
    gw = sg.align.labeled_gw(x1, x2, labels, labels)
    mapped = sg.align.align(x1, x2, labels, labels, method="mapped_ot")
    assert mapped.method == "mapped_ot" and mapped.params["guide_method"] == "labeled_gw"
    assert 0.3 < mapped.info["map_r2"] <= 1.0
    floor = sg.align.labeled_ot(*sg.align.one_hot_labels(labels, labels), labels, labels)
    score = {name: sg.metrics.barycentric_foscttm(c, x2, match) for name, c in [("gw", gw), ("mapped", mapped)]}
    # measured: labeled GW 0.253, as bad as the labels alone (0.251); the shared map 0.082
    assert score["mapped"] < 0.4 * score["gw"] and score["mapped"] < 0.4 * sg.metrics.barycentric_foscttm(
        floor, x2, match
    )
    for block in mapped.blocks:  # mass stays inside labels
        assert len(set(labels[block.rows]) | set(labels[block.cols])) == 1
    # a given guide is used instead of labeled GW
    by_guide = sg.align.mapped_ot(x1, x2, labels, labels, guide=gw)
    np.testing.assert_allclose(by_guide.to_sparse().toarray(), mapped.to_sparse().toarray(), atol=1e-9)


def test_labeled_ot_on_ray_is_the_local_coupling_bit_for_bit():
    """One Ray task per bucket of blocks: the same plans, cost and report as the local solve.

    Ragged labels (a large control block, split, above the batched matrix-product threshold, and
    many small blocks) so several buckets and both kernel products run.
    """
    ray = pytest.importorskip("ray")
    rng = np.random.default_rng(3)
    sizes1 = {"control": 700, **{f"p{k}": int(s) for k, s in enumerate(rng.integers(5, 60, 30))}}
    labels1 = np.concatenate([[label] * size for label, size in sizes1.items()])
    labels2 = rng.permutation(np.concatenate([labels1[rng.random(len(labels1)) < 0.9], ["only_2"] * 4]))
    x1 = rng.normal(size=(len(labels1), 6)).astype(np.float32)
    x2 = (rng.normal(size=(len(labels2), 6)) + 0.2).astype(np.float32)
    options = {"epsilon": 0.05, "max_block_cells": 400}
    local = sg.align.labeled_ot(x1, x2, labels1, labels2, **options)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        distributed = sg.align.align(x1, x2, labels1, labels2, method="labeled_ot", backend="ray", **options)
    finally:
        ray.shutdown()
    assert len(local.blocks) == len(distributed.blocks) > 30
    for here, there in zip(local.blocks, distributed.blocks, strict=True):
        assert here.label == there.label
        np.testing.assert_array_equal(here.rows, there.rows)
        np.testing.assert_array_equal(here.cols, there.cols)
        np.testing.assert_array_equal(here.plan, there.plan)  # bit for bit
    assert distributed.cost == local.cost and distributed.info == local.info
    assert distributed.converged is local.converged is True


def test_labeled_ot_refuses_an_unknown_backend(problem):
    x1, x2, labels1, labels2, _ = problem
    with pytest.raises(ValueError, match="backend must be one of"):
        sg.align.labeled_ot(x1, x2, labels1, labels2, backend="dask")

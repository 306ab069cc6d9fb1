import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy import stats

import scgroove as sg
from scgroove import metrics


def brute_foscttm(x1, x2, match):
    d = ((x1[:, None, :] - x2[None, :, :]) ** 2).sum(-1)
    f12, f21 = [], []
    for i, j in enumerate(match):
        if j < 0:
            continue
        others2 = np.delete(d[i], j)
        f12.append(((others2 < d[i, j]).sum() + 0.5 * (others2 == d[i, j]).sum()) / (len(x2) - 1))
        others1 = np.delete(d[:, j], i)
        f21.append(((others1 < d[i, j]).sum() + 0.5 * (others1 == d[i, j]).sum()) / (len(x1) - 1))
    return 0.5 * (np.mean(f12) + np.mean(f21))


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    x1 = rng.integers(0, 3, (30, 2)).astype(float)  # small integer grid: many ties
    x2 = rng.integers(0, 3, (25, 2)).astype(float)
    match = np.full(30, -1)
    match[rng.permutation(30)[:20]] = rng.permutation(25)[:20]
    return x1, x2, match


def test_foscttm_matches_brute_force_with_ties_and_unmatched(pair):
    x1, x2, match = pair
    assert metrics.foscttm(x1, x2, match) == pytest.approx(brute_foscttm(x1, x2, match))


def test_foscttm_chunking_and_torch_agree(pair):
    x1, x2, match = pair
    reference = metrics.foscttm(x1, x2, match)
    assert metrics.foscttm(x1, x2, match, memory_bytes=1) == pytest.approx(reference)
    assert metrics.foscttm(torch.tensor(x1), torch.tensor(x2), match) == pytest.approx(reference)


def test_foscttm_accepts_non_contiguous_arrays(pair):
    x1, x2, match = pair
    assert metrics.foscttm(x1[::-1][::-1], np.asfortranarray(x2)[:, ::-1], match) == pytest.approx(
        metrics.foscttm(x1, x2[:, ::-1].copy(), match)
    )


def test_foscttm_known_values():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 5))
    assert metrics.foscttm(x, x) == 0.0
    assert metrics.foscttm(x, rng.normal(size=(500, 5))) == pytest.approx(0.5, abs=0.03)


def test_foscttm_gpu_matches_cpu(gpu):
    rng = np.random.default_rng(2)
    x1, x2 = rng.normal(size=(300, 4)), rng.normal(size=(300, 4))
    cpu = metrics.foscttm(x1, x2)
    assert metrics.foscttm(torch.tensor(x1, device=gpu), torch.tensor(x2, device=gpu)) == pytest.approx(cpu, abs=1e-6)


@pytest.mark.parametrize(
    "match, message",
    [
        (np.array([0, 0, 1]), "one-to-one"),
        (np.array([0, 1]), "one entry"),
        (np.array([0, 1, 9]), "past the end"),
        (np.array([-1, -1, -1]), "no true pair"),
    ],
)
def test_foscttm_bad_match(match, message):
    with pytest.raises(ValueError, match=message):
        metrics.foscttm(np.zeros((3, 2)), np.zeros((4, 2)), match)


def test_within_label_foscttm():
    rng = np.random.default_rng(3)
    labels = np.repeat(["a", "b"], 50)
    x1 = rng.normal(size=(100, 3)) + (labels == "b")[:, None] * 100  # labels far apart
    x2 = x1 + 0.01 * rng.normal(size=(100, 3))
    assert metrics.within_label_foscttm(x1, x2, labels, labels) < 0.01
    shuffled = np.concatenate([rng.permutation(50), 50 + rng.permutation(50)])
    within = metrics.within_label_foscttm(x1, x2[shuffled], labels, labels, np.argsort(shuffled))
    assert within < 0.01
    # global FOSCTTM of a random-within-label embedding is ~0.25 (label is right, cell random)...
    noise = rng.normal(size=(100, 3)) + (labels == "b")[:, None] * 100
    assert metrics.foscttm(x1, noise) == pytest.approx(0.25, abs=0.05)
    # ...but within-label it is at chance
    assert metrics.within_label_foscttm(x1, noise, labels, labels) == pytest.approx(0.5, abs=0.07)


def test_barycentric_foscttm_and_trace():
    rng = np.random.default_rng(4)
    x2 = rng.normal(size=(40, 3))
    perfect = sp.identity(40, format="csr") / 40
    match = np.arange(40)
    assert metrics.barycentric_foscttm(perfect, x2, match) == 0.0
    assert metrics.trace(perfect, match) == 1.0
    # half the mass on the partner, half on one other cell; a row with no mass is left out
    T = np.eye(40) * 0.5 + np.roll(np.eye(40), 1, axis=1) * 0.5
    T[3] = 0
    projection = sg.align.Coupling.from_matrix(T).barycentric_projection(x2)
    has_mass = ~np.isnan(projection).any(1)
    assert has_mass.sum() == 39 and np.allclose(projection[0], 0.5 * (x2[0] + x2[1]))
    expected = metrics.foscttm(projection[has_mass], x2, match[has_mass])
    assert metrics.barycentric_foscttm(T, x2, match) == pytest.approx(expected)
    assert metrics.trace(T, match) == pytest.approx(39 * 0.5 / 40)
    uniform = np.ones((40, 40))
    assert metrics.trace(uniform, match) == pytest.approx(1 / 40)


def test_trace_chance():
    labels1 = np.array(["a", "a", "b", "c"])
    labels2 = np.array(["a", "a", "a", "b", "b"])
    match = np.array([0, 1, 3, -1])
    assert metrics.trace_chance(labels1, labels2, match) == pytest.approx((1 / 3 + 1 / 3 + 1 / 2) / 3)


def test_label_transfer_accuracy():
    rng = np.random.default_rng(5)
    labels = np.repeat(["a", "b", "c"], 30)
    centres = {"a": 0, "b": 10, "c": 20}
    x = np.array([centres[lab] for lab in labels])[:, None] + rng.normal(size=(90, 2))
    assert metrics.label_transfer_accuracy(x, x + 0.1, labels, labels) == 1.0
    assert metrics.label_transfer_accuracy(x, x, labels, rng.permutation(labels)) < 0.7


def test_imputation_scores_against_scipy():
    rng = np.random.default_rng(6)
    observed = rng.normal(size=(20, 8))
    imputed = observed + rng.normal(size=(20, 8))
    labels = np.repeat(["p1", "p2"], 10)
    scores = metrics.imputation_scores(imputed, observed, labels)
    assert scores["cell_pearson"] == pytest.approx(
        np.mean([stats.pearsonr(imputed[i], observed[i])[0] for i in range(20)])
    )
    assert scores["feature_spearman"] == pytest.approx(
        np.mean([stats.spearmanr(imputed[:, j], observed[:, j])[0] for j in range(8)])
    )
    assert scores["mse"] == pytest.approx(np.mean((imputed - observed) ** 2))
    perfect = metrics.imputation_scores(observed, observed, labels)
    assert perfect["cell_pearson"] == pytest.approx(1) and perfect["perturbation_effect_pearson"] == pytest.approx(1)
    with pytest.raises(ValueError, match="same shape"):
        metrics.imputation_scores(imputed[:3], observed)


@pytest.mark.parametrize("scale", [1.0, 0.1, 37.3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_foscttm_counts_exact_ties_as_half(scale, dtype):
    # small integer grids scaled by a rounded factor: thousands of exactly tied distances that
    # float32 storage and the |a|^2 + |b|^2 - 2ab expansion would otherwise break at random
    rng = np.random.default_rng(0)
    grid1, grid2 = rng.integers(0, 4, (300, 6)), rng.integers(0, 4, (300, 6))
    exact = ((grid1[:, None, :] - grid2[None, :, :]) ** 2).sum(-1)
    own = exact[np.arange(300), np.arange(300)][:, None]
    assert (exact == own).sum() > 300 + 1000  # the data do have ties
    f12 = ((exact < own).sum(1) + 0.5 * ((exact == own).sum(1) - 1)) / 299
    own21 = exact[np.arange(300), np.arange(300)][None, :]
    f21 = ((exact < own21).sum(0) + 0.5 * ((exact == own21).sum(0) - 1)) / 299
    x1, x2 = (grid1 * scale).astype(dtype), (grid2 * scale).astype(dtype)
    assert metrics.foscttm(x1, x2) == pytest.approx(0.5 * (f12.mean() + f21.mean()), abs=1e-12)


def _brute_mixing(x1, x2, labels1, labels2, k):
    x, labels = np.vstack([x1, x2]), np.concatenate([labels1, labels2])
    modality = np.r_[np.zeros(len(x1)), np.ones(len(x2))]
    out = {}
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        n_other = {0: (modality[rows] == 1).sum(), 1: (modality[rows] == 0).sum()}
        observed, expected = [], []
        for i in rows:
            others = rows[rows != i]
            nearest = others[np.argsort(((x[others] - x[i]) ** 2).sum(1), kind="stable")[:k]]
            observed.append((modality[nearest] != modality[i]).mean())
            expected.append(n_other[modality[i]] / (len(rows) - 1))
        out[label] = min(1.0, np.mean(observed) / np.mean(expected))
    return out


def test_modality_mixing_matches_brute_force_and_sees_a_shift():
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(size=(70, 4)), rng.normal(size=(50, 4))
    labels1, labels2 = rng.choice(["a", "b", "c"], 70), rng.choice(["a", "b", "c"], 50)
    table = sg.metrics.modality_mixing(x1, x2, labels1, labels2, n_neighbors=5)
    brute = _brute_mixing(x1, x2, labels1, labels2, 5)
    assert table["label"].tolist() == ["a", "b", "c"]
    np.testing.assert_allclose(table["mixing"], [brute[label] for label in table["label"]])
    assert sg.metrics.mean_modality_mixing(x1, x2, labels1, labels2) > 0.8  # same distribution: mixed
    # one modality shifted: no cell has a neighbour of the other modality inside its label
    assert sg.metrics.mean_modality_mixing(x1, x2 + 10, labels1, labels2, n_neighbors=5) == 0.0
    # a label of one modality only is not scored
    only = sg.metrics.modality_mixing(x1, x2, labels1, np.where(labels2 == "c", "d", labels2))
    assert "c" not in only["label"].tolist() and "d" not in only["label"].tolist()
    with pytest.raises(ValueError, match="share one space"):
        sg.metrics.modality_mixing(x1, x2[:, :2], labels1, labels2)
    with pytest.raises(ValueError, match="No label holds cells of both"):
        sg.metrics.modality_mixing(x1, x2, labels1, np.full(50, "z"))


def three_states_in_two_modalities(n1: int, n2: int, dims: int, scale: float, seed: int):
    """Cells of 3 well-separated states, drawn independently for each modality."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=scale, size=(3, dims))
    states1, states2 = rng.integers(0, 3, n1), rng.integers(0, 3, n2)
    x1 = centres[states1] + rng.normal(size=(n1, dims))
    x2 = centres[states2] + rng.normal(size=(n2, dims))
    return x1, x2, states1, states2, rng


def test_cross_modal_transfer_and_joint_clusters():
    x1, x2, states1, states2, rng = three_states_in_two_modalities(90, 60, 4, 8, seed=1)
    names1, names2 = np.array(list("xyz"))[states1], np.array(list("xyz"))[states2]
    assert sg.metrics.cross_modal_transfer_accuracy(x1, x2, names1, names2) == 1.0
    # brute force: 1-nearest neighbour across modalities
    nearest12 = ((x1[:, None] - x2[None]) ** 2).sum(-1).argmin(1)
    nearest21 = ((x2[:, None] - x1[None]) ** 2).sum(-1).argmin(1)
    shuffled = rng.permutation(names2)
    expected = ((shuffled[nearest12] == names1).mean() + (names1[nearest21] == shuffled).mean()) / 2
    got = sg.metrics.cross_modal_transfer_accuracy(x1, x2, names1, shuffled, n_neighbors=1)
    assert got == pytest.approx(expected)
    mixed = sg.metrics.joint_cluster_scores(x1, x2, names1, names2, resolution=0.3)
    assert mixed["ari"] > 0.9 and mixed["largest_modality_share"] < 0.9
    split = sg.metrics.joint_cluster_scores(x1, x2 + 100, names1, names2, resolution=0.3)
    assert split["largest_modality_share"] == 1.0 and split["composition_distance"] > 0.4


def test_joint_clusters_of_a_screen_sized_latent():
    # scanpy's neighbours take another path above a few thousand cells (pynndescent), which failed
    # with pynndescent 0.7 ('csr_array' has no 'getnnz'); 2 x 4,200 cells (over 8,192) go through it
    x1, x2, states1, states2, _ = three_states_in_two_modalities(4200, 4200, 5, 10, seed=2)
    scores = sg.metrics.joint_cluster_scores(x1, x2, states1.astype(str), states2.astype(str), resolution=0.1)
    assert scores["ari"] > 0.9 and scores["largest_modality_share"] < 0.6

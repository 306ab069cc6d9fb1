import math

import pytest
import torch
import torch.nn.functional as F

import scgroove as sg
from scgroove.losses import (
    geometry_loss,
    group_clip_loss,
    instance_clip_loss,
    labeled_batch_plan,
    ot_refined_clip_loss,
    pairwise_similarity,
    random_same_label_pairs,
    soft_group_clip_loss,
    within_modality_supcon_loss,
)


def brute_force(z1, z2, y1, y2, tau, variant, similarity):
    """DESIGN.md section 3, written as loops."""
    s = pairwise_similarity(z1, z2, similarity) / tau

    def direction(s, ya, yb):
        losses = []
        for i in range(len(ya)):
            pos = [j for j in range(len(yb)) if yb[j] == ya[i]]
            if not pos:
                continue
            denom = sum(math.exp(s[i][j]) for j in range(len(yb)))
            if variant == "in":
                losses.append(-math.log(sum(math.exp(s[i][j]) for j in pos) / denom))
            else:
                losses.append(-sum(math.log(math.exp(s[i][p]) / denom) for p in pos) / len(pos))
        return sum(losses) / len(losses)

    s = s.double().tolist()
    st = [list(r) for r in zip(*s, strict=True)]
    return 0.5 * (direction(s, y1.tolist(), y2.tolist()) + direction(st, y2.tolist(), y1.tolist()))


@pytest.mark.parametrize("variant", ["in", "out"])
@pytest.mark.parametrize("similarity", ["cosine", "euclidean"])
def test_matches_definition(variant, similarity):
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(9, 4, generator=g), torch.randn(7, 4, generator=g)
    y1 = torch.tensor([0, 0, 1, 1, 1, 2, 3, 3, 5])  # label 5 has no positive: excluded
    y2 = torch.tensor([0, 1, 1, 2, 2, 3, 4])  # label 4 has no positive: excluded
    got = group_clip_loss(z1, z2, y1, y2, temperature=0.5, variant=variant, similarity=similarity)
    assert got.item() == pytest.approx(brute_force(z1, z2, y1, y2, 0.5, variant, similarity), rel=1e-5)


@pytest.mark.parametrize("variant", ["in", "out"])
def test_equals_clip_with_one_cell_per_label(variant):
    g = torch.Generator().manual_seed(1)
    z1, z2 = torch.randn(16, 8, generator=g), torch.randn(16, 8, generator=g)
    perm = torch.randperm(16, generator=g)
    labels = torch.arange(16)
    tau = 0.07
    logits = F.normalize(z1, dim=1) @ F.normalize(z2[perm], dim=1).T / tau
    clip = 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))
    got = group_clip_loss(z1, z2[perm], labels, labels, temperature=tau, variant=variant)
    assert got.item() == pytest.approx(clip.item(), rel=1e-5)


def test_log_space_is_stable_at_small_temperature():
    z = torch.randn(6, 3, requires_grad=True)
    loss = group_clip_loss(
        z, z.detach() * 50, torch.arange(6) % 2, torch.arange(6) % 2, temperature=1e-4, similarity="euclidean"
    )
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()


def test_no_positive_gives_zero_with_graph():
    z1 = torch.randn(3, 2, requires_grad=True)
    loss = group_clip_loss(z1, torch.randn(2, 2), torch.tensor([0, 0, 1]), torch.tensor([2, 3]))
    assert loss.item() == 0.0 and loss.requires_grad


def test_aligned_embeddings_score_lower():
    g = torch.Generator().manual_seed(2)
    centres = torch.randn(4, 5, generator=g) * 3
    y = torch.arange(40) % 4
    z1 = centres[y] + 0.1 * torch.randn(40, 5, generator=g)
    z2 = centres[y] + 0.1 * torch.randn(40, 5, generator=g)
    aligned = group_clip_loss(z1, z2, y, y)
    shuffled = group_clip_loss(z1, z2, y, y[torch.randperm(40, generator=g)])
    assert aligned < shuffled


@pytest.mark.parametrize(
    "kwargs, message",
    [({"temperature": 0}, "temperature"), ({"variant": "both"}, "variant"), ({"similarity": "dot"}, "similarity")],
)
def test_bad_arguments(kwargs, message):
    y = torch.tensor([0, 1])
    with pytest.raises(ValueError, match=message):
        group_clip_loss(torch.randn(2, 3), torch.randn(2, 3), y, y, **kwargs)


def test_random_same_label_pairs_are_one_to_one_within_labels():
    torch.manual_seed(0)
    labels1 = torch.tensor([0, 0, 0, 1, 1, 2, 3])
    labels2 = torch.tensor([0, 1, 1, 1, 0, 0, 0, 2, 4])
    for _ in range(20):
        pairs = random_same_label_pairs(labels1, labels2)
        assert pairs.shape == (7, 9)
        assert pairs.sum(1).max() <= 1 and pairs.sum(0).max() <= 1
        rows, cols = pairs.nonzero(as_tuple=True)
        assert torch.equal(labels1[rows], labels2[cols])
        # min(3, 4) pairs of label 0, min(2, 3) of label 1, min(1, 1) of label 2; labels 3 and 4 unpaired
        assert pairs.sum() == 3 + 2 + 1
    draws = {tuple(random_same_label_pairs(labels1, labels2).nonzero().flatten().tolist()) for _ in range(20)}
    assert len(draws) > 1  # random, not a fixed matching


def test_instance_clip_is_clip_when_each_label_has_one_cell_per_modality():
    torch.manual_seed(1)
    z1, z2 = torch.randn(5, 3), torch.randn(5, 3)
    labels = torch.arange(5)
    expected = group_clip_loss(z1, z2, labels, labels, temperature=0.3)
    assert instance_clip_loss(z1, z2, labels, labels, temperature=0.3).item() == pytest.approx(expected.item())
    # with several cells per label, same-label cells other than the partner are negatives: a larger loss
    z = torch.randn(8, 3)
    grouped = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    same = F.normalize(z, dim=1)
    assert instance_clip_loss(same, same, grouped, grouped) > group_clip_loss(same, same, grouped, grouped)


def test_within_modality_supcon_matches_loops_and_ignores_the_other_modality():
    torch.manual_seed(2)
    z1, z2 = torch.randn(6, 4), torch.randn(5, 4)
    y1, y2 = torch.tensor([0, 0, 1, 1, 1, 2]), torch.tensor([0, 1, 1, 2, 2])
    tau = 0.5

    def loops(z, y):
        s = (F.normalize(z, dim=1) @ F.normalize(z, dim=1).T / tau).double().tolist()
        losses = []
        for i in range(len(y)):
            pos = [j for j in range(len(y)) if j != i and y[j] == y[i]]
            if not pos:
                continue
            denom = sum(math.exp(s[i][j]) for j in range(len(y)) if j != i)
            losses.append(-sum(math.log(math.exp(s[i][p]) / denom) for p in pos) / len(pos))
        return sum(losses) / len(losses)

    loss = within_modality_supcon_loss(z1, z2, y1, y2, temperature=tau)
    assert loss.item() == pytest.approx(0.5 * (loops(z1, y1) + loops(z2, y2)), rel=1e-5)
    rotation, _ = torch.linalg.qr(torch.randn(4, 4))
    # no cross-modal term: rotating one modality's space leaves the loss unchanged
    rotated = within_modality_supcon_loss(z1, z2 @ rotation, y1, y2, temperature=tau)
    assert rotated.item() == pytest.approx(loss.item(), rel=1e-5)
    assert group_clip_loss(z1, z2 @ rotation, y1, y2, tau).item() != pytest.approx(
        group_clip_loss(z1, z2, y1, y2, tau).item()
    )
    z1.requires_grad_(True)
    within_modality_supcon_loss(z1, z2, y1, y2).backward()
    assert torch.isfinite(z1.grad).all()


@pytest.mark.parametrize("loss", [instance_clip_loss, within_modality_supcon_loss])
def test_alternative_contrasts_refuse_bad_inputs(loss):
    z = torch.randn(4, 3)
    labels = torch.tensor([0, 0, 1, 1])
    with pytest.raises(ValueError, match="temperature"):
        loss(z, z, labels, labels, temperature=0.0)
    with pytest.raises(ValueError, match="dimension"):
        loss(z, torch.randn(4, 2), labels, labels)


def test_soft_group_clip_with_uniform_same_label_weights_is_group_clip():
    torch.manual_seed(3)
    z1, z2 = torch.randn(7, 4), torch.randn(6, 4)
    y1, y2 = torch.tensor([0, 0, 1, 1, 2, 2, 3]), torch.tensor([0, 1, 1, 2, 2, 2])
    same = (y1[:, None] == y2[None, :]).float()
    expected = group_clip_loss(z1, z2, y1, y2, temperature=0.2)
    assert soft_group_clip_loss(z1, z2, same, temperature=0.2).item() == pytest.approx(expected.item(), rel=1e-5)
    assert soft_group_clip_loss(z1, z2, 3.0 * same, temperature=0.2).item() == pytest.approx(expected.item(), rel=1e-5)


def test_labeled_batch_plan_has_label_block_marginals_and_follows_similarity():
    torch.manual_seed(4)
    y1, y2 = torch.tensor([0, 0, 0, 1, 1, 5]), torch.tensor([0, 0, 1, 1, 1, 1, 7])
    z1 = torch.randn(6, 3)
    z2 = torch.cat([z1[[1, 0]], z1[[3, 4, 4, 3]], torch.randn(1, 3)])
    plan = labeled_batch_plan(z1, z2, y1, y2, epsilon=0.01)
    assert plan[y1[:, None] != y2[None, :]].abs().max() == 0  # no mass across labels
    assert plan[5].sum() == 0 and plan[:, 6].sum() == 0  # labels present in one modality only
    # align's convention: every modality-1 cell of a shared label carries 1/5, spread uniformly
    # over its label's modality-2 cells (label 0: 3/5 over 2 cells, label 1: 2/5 over 4 cells)
    torch.testing.assert_close(plan[:5].sum(1), torch.full((5,), 1 / 5), atol=1e-4, rtol=0)
    torch.testing.assert_close(plan[:, :2].sum(0), torch.full((2,), 3 / 10), atol=1e-4, rtol=0)
    torch.testing.assert_close(plan[:, 2:6].sum(0), torch.full((4,), 1 / 10), atol=1e-4, rtol=0)
    # copies of a cell are its best match
    assert plan[0].argmax() == 1 and plan[3, [2, 5]].sum() > 0.99 * plan[3].sum()


def test_ot_refined_clip_starts_as_group_clip():
    torch.manual_seed(5)
    z1, z2 = torch.randn(6, 4), torch.randn(6, 4)
    y = torch.tensor([0, 0, 0, 1, 1, 1])
    assert ot_refined_clip_loss(z1, z2, y, y, refinement=0.0).item() == pytest.approx(
        group_clip_loss(z1, z2, y, y).item(), rel=1e-5
    )
    refined = ot_refined_clip_loss(z1, z1.clone(), y, y, refinement=1.0, epsilon=0.01)
    assert refined < group_clip_loss(z1, z1.clone(), y, y)  # identical copies: OT finds the pairs


def test_geometry_loss_is_zero_for_a_scaled_copy_and_ignores_cross_group_pairs():
    torch.manual_seed(6)
    x = torch.randn(10, 6)
    y = torch.tensor([0] * 5 + [1] * 5)
    assert geometry_loss(2.5 * x, x, y).item() == pytest.approx(0.0, abs=1e-5)
    shifted = x.clone()
    shifted[5:] += 100.0  # moves one group far away: cross-group distances change, within-group do not
    assert geometry_loss(shifted, x, y).item() == pytest.approx(0.0, abs=1e-5)
    assert geometry_loss(torch.randn(10, 6), x, y) > 0.3
    assert geometry_loss(x, x, torch.arange(10)).item() == 0.0  # no same-label pair


def _groups(n_labels=4, per_label=6):
    return torch.arange(n_labels).repeat_interleave(per_label)


def test_guided_clip_without_guide_is_group_clip_and_follows_the_guide():
    torch.manual_seed(0)
    z1, z2 = torch.randn(24, 5), torch.randn(24, 5)
    y = _groups()
    plain = sg.losses.group_clip_loss(z1, z2, y, y, temperature=0.2)
    torch.testing.assert_close(sg.losses.guided_clip_loss(z1, z2, y, y, temperature=0.2), plain)
    unweighted = sg.losses.guided_clip_loss(z1, z2, y, y, 0.2, guide=torch.eye(24), guide_weight=0.0)
    torch.testing.assert_close(unweighted, plain)
    # a one-to-one guide: the loss is low when each cell sits on its guided partner, high when on another
    guide = torch.eye(24)
    on_partner = sg.losses.guided_clip_loss(z1, z1 + 0.01, y, y, 0.1, guide=guide, guide_weight=1.0)
    shuffled = torch.cat([torch.roll(torch.arange(6), 1) + 6 * k for k in range(4)])
    off_partner = sg.losses.guided_clip_loss(z1, (z1 + 0.01)[shuffled], y, y, 0.1, guide=guide, guide_weight=1.0)
    assert on_partner < 0.5 * off_partner
    # guide mass across labels is ignored: a guide pointing only across labels falls back to GroupCLIP
    across = torch.zeros(24, 24)
    across[:6, 6:12] = 1.0
    torch.testing.assert_close(sg.losses.guided_clip_loss(z1, z2, y, y, 0.2, guide=across, guide_weight=1.0), plain)


def test_within_label_sinkhorn_divergence_sees_distributions_not_order():
    torch.manual_seed(1)
    y = _groups()
    z = torch.randn(24, 3)
    within = torch.cat([torch.randperm(6) + 6 * k for k in range(4)])
    assert sg.losses.within_label_sinkhorn_divergence(z, z[within], y, y).abs() < 1e-5
    swapped = torch.cat([torch.arange(6, 12), torch.arange(6), torch.arange(12, 24)])  # labels 0 and 1 exchanged
    shifted = sg.losses.within_label_sinkhorn_divergence(z, z[swapped], y, y)
    assert shifted > 0.05
    # scale-free: shrinking both latents cannot lower it
    torch.testing.assert_close(sg.losses.within_label_sinkhorn_divergence(0.1 * z, 0.1 * z[swapped], y, y), shifted)
    # labels present in one modality only are left out; a gradient reaches z1
    z1 = z.clone().requires_grad_(True)
    loss = sg.losses.within_label_sinkhorn_divergence(z1, z[swapped][:18], y, y[:18])
    loss.backward()
    assert z1.grad[18:].abs().sum() == 0 and z1.grad[:18].abs().sum() > 0


def test_latent_cycle_loss_is_relative():
    z = torch.randn(10, 4)
    assert sg.losses.latent_cycle_loss(z, z) == 0
    torch.testing.assert_close(sg.losses.latent_cycle_loss(z, 2 * z), torch.tensor(1.0))
    torch.testing.assert_close(sg.losses.latent_cycle_loss(5 * z, 10 * z), torch.tensor(1.0))

import math

import pytest
import torch
import torch.nn.functional as F

from scgroove.losses import group_clip_loss, pairwise_similarity


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

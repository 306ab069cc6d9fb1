"""Contrastive losses for weakly paired modalities (torch, no scvi-tools imports)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

Variant = Literal["in", "out"]
Similarity = Literal["cosine", "euclidean"]
Contrast = Literal["group", "instance", "within", "ot_refined", "guided"]


def pairwise_similarity(z1: torch.Tensor, z2: torch.Tensor, similarity: Similarity = "cosine") -> torch.Tensor:
    r"""Similarity matrix ``s_ij`` between the rows of ``z1`` and ``z2``.

    Parameters
    ----------
    z1, z2
        Embeddings of shape ``(n1, d)`` and ``(n2, d)``.
    similarity
        ``"cosine"``: :math:`s_{ij} = \cos(z^1_i, z^2_j)`;
        ``"euclidean"``: :math:`s_{ij} = -\lVert z^1_i - z^2_j \rVert^2`.

    Returns
    -------
    Tensor of shape ``(n1, n2)``.
    """
    if similarity == "cosine":
        return F.normalize(z1, dim=1) @ F.normalize(z2, dim=1).T
    if similarity == "euclidean":
        return -torch.cdist(z1, z2).pow(2)
    raise ValueError(f"similarity must be 'cosine' or 'euclidean', got {similarity!r}.")


def _one_direction(logits: torch.Tensor, positives: torch.Tensor, variant: Variant) -> torch.Tensor:
    """Per-anchor loss for anchors (rows) that have at least one positive."""
    has_positive = positives.any(dim=1)
    logits, positives = logits[has_positive], positives[has_positive]
    log_denominator = torch.logsumexp(logits, dim=1)
    if variant == "in":
        masked = logits.masked_fill(~positives, float("-inf"))
        return log_denominator - torch.logsumexp(masked, dim=1)
    if variant == "out":
        log_prob = logits - log_denominator[:, None]
        n_positive = positives.sum(dim=1)
        # where, not a product: masked-out logits may be -inf, and -inf * 0 is NaN
        return -torch.where(positives, log_prob, 0.0).sum(dim=1) / n_positive
    raise ValueError(f"variant must be 'in' or 'out', got {variant!r}.")


def group_clip_loss(
    z1: torch.Tensor,
    z2: torch.Tensor,
    labels1: torch.Tensor,
    labels2: torch.Tensor,
    temperature: float = 0.1,
    variant: Variant = "in",
    similarity: Similarity = "cosine",
) -> torch.Tensor:
    r"""GroupCLIP: symmetric contrastive loss whose positives share a group label across modalities.

    For an anchor :math:`i` of modality 1, the positives are the cells of modality 2 in the batch
    with the same label, :math:`P(i) = \{j : y^2_j = y^1_i\}`, and :math:`A` is every cell of
    modality 2 in the batch. With :math:`s_{ij}` the similarity and :math:`\tau` the temperature:

    .. math::

        \ell^{in}_i = -\log \frac{\sum_{j \in P(i)} e^{s_{ij}/\tau}}{\sum_{j \in A} e^{s_{ij}/\tau}},
        \qquad
        \ell^{out}_i = -\frac{1}{|P(i)|} \sum_{p \in P(i)}
            \log \frac{e^{s_{ip}/\tau}}{\sum_{j \in A} e^{s_{ij}/\tau}}

    and :math:`L = \frac{1}{2}(\mathrm{mean}_i\, \ell_i^{1\to2} + \mathrm{mean}_j\, \ell_j^{2\to1})`.
    Anchors without positives are left out of the mean. With one cell per label in each modality
    this is CLIP's symmetric InfoNCE (Radford et al. 2021); the ``"out"`` variant is the
    supervised-contrastive form of Khosla et al. (2020). Computed in log space.

    Parameters
    ----------
    z1, z2
        Embeddings of the two modalities, shapes ``(n1, d)`` and ``(n2, d)``.
    labels1, labels2
        Integer group labels, shapes ``(n1,)`` and ``(n2,)``.
    temperature
        Softmax temperature :math:`\tau > 0`.
    variant
        ``"in"`` (sum of positives inside the log, the GROOVE paper's) or ``"out"`` (SupCon).
    similarity
        ``"cosine"`` or ``"euclidean"`` (negative squared distance).

    Returns
    -------
    Scalar tensor. Zero (with a gradient graph) when no anchor has a positive.
    """
    _check_inputs(z1, z2, labels1, labels2, temperature)
    positives = labels1.reshape(-1, 1) == labels2.reshape(1, -1)
    return _symmetric_contrast(z1, z2, positives, temperature, variant, similarity)


def _check_inputs(z1, z2, labels1, labels2, temperature: float) -> None:
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}.")
    if z1.shape[1] != z2.shape[1]:
        raise ValueError(f"z1 and z2 must have the same dimension, got {z1.shape[1]} and {z2.shape[1]}.")
    if labels1.shape[0] != z1.shape[0] or labels2.shape[0] != z2.shape[0]:
        raise ValueError("labels1/labels2 must have one entry per row of z1/z2.")


def _symmetric_contrast(z1, z2, positives, temperature, variant, similarity) -> torch.Tensor:
    """Mean of both directions' per-anchor losses; zero (with a graph) when nothing is positive."""
    if not positives.any():
        return (z1.sum() + z2.sum()) * 0.0
    logits = pairwise_similarity(z1, z2, similarity) / temperature
    loss_12 = _one_direction(logits, positives, variant).mean()
    loss_21 = _one_direction(logits.T, positives.T, variant).mean()
    return 0.5 * (loss_12 + loss_21)


def _random_rank_within_label(labels: torch.Tensor) -> torch.Tensor:
    """A random order of the cells of each label: rank 0, 1, ... inside every label."""
    n = labels.shape[0]
    shuffled = torch.randperm(n, device=labels.device)
    order = shuffled[torch.argsort(labels[shuffled], stable=True)]
    sorted_labels = labels[order].contiguous()
    start_of_label = torch.searchsorted(sorted_labels, sorted_labels, right=False)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(n, device=labels.device) - start_of_label
    return rank


def random_same_label_pairs(labels1: torch.Tensor, labels2: torch.Tensor) -> torch.Tensor:
    """Random one-to-one pairs of cells with the same label: a boolean ``(n1, n2)`` matrix.

    Inside each label the cells of both modalities are put in random order and the k-th cell of
    modality 1 is paired with the k-th of modality 2; cells beyond the smaller count stay unpaired.
    Each row and column has at most one ``True``. Uses torch's global random state.
    """
    labels1, labels2 = labels1.reshape(-1), labels2.reshape(-1)
    rank1, rank2 = _random_rank_within_label(labels1), _random_rank_within_label(labels2)
    return (labels1[:, None] == labels2[None, :]) & (rank1[:, None] == rank2[None, :])


def instance_clip_loss(
    z1: torch.Tensor,
    z2: torch.Tensor,
    labels1: torch.Tensor,
    labels2: torch.Tensor,
    temperature: float = 0.1,
    similarity: Similarity = "cosine",
) -> torch.Tensor:
    r"""CLIP on random same-label pairs: the instance-level alternative to GroupCLIP.

    Each batch draws random one-to-one pairs of cells with the same label
    (:func:`random_same_label_pairs`) and treats them as if they were true pairs: every anchor
    has exactly one positive, its partner, and every other cell of the other modality, including
    cells of the same label, is a negative (symmetric InfoNCE, Radford et al. 2021). Unpaired
    cells are left out of the mean. This is the ablation that asks whether GroupCLIP's
    "all same-label cells are positives" matters.

    Parameters
    ----------
    z1, z2, labels1, labels2, temperature, similarity
        As in :func:`group_clip_loss`.

    Returns
    -------
    Scalar tensor.
    """
    _check_inputs(z1, z2, labels1, labels2, temperature)
    positives = random_same_label_pairs(labels1, labels2)
    return _symmetric_contrast(z1, z2, positives, temperature, "in", similarity)


def within_modality_supcon_loss(
    z1: torch.Tensor,
    z2: torch.Tensor,
    labels1: torch.Tensor,
    labels2: torch.Tensor,
    temperature: float = 0.1,
    similarity: Similarity = "cosine",
) -> torch.Tensor:
    r"""Supervised contrastive loss inside each modality, no cross-modal term (Khosla et al. 2020).

    For modality :math:`m`, an anchor's positives are the *other* cells of the same modality with
    its label; the anchor itself is left out of the denominator:

    .. math::

        \ell_i = -\frac{1}{|P(i)|} \sum_{p \in P(i)}
            \log \frac{e^{s_{ip}/\tau}}{\sum_{j \neq i} e^{s_{ij}/\tau}},
        \qquad L = \tfrac{1}{2}(\mathrm{mean}_i\, \ell^{(1)}_i + \mathrm{mean}_i\, \ell^{(2)}_i).

    Both spaces become clustered by label, but nothing pulls the two modalities together: the
    ablation that asks whether GroupCLIP's cross-modal positives matter.

    Parameters
    ----------
    z1, z2, labels1, labels2, temperature, similarity
        As in :func:`group_clip_loss`.

    Returns
    -------
    Scalar tensor.
    """
    _check_inputs(z1, z2, labels1, labels2, temperature)
    losses = []
    for z, labels in ((z1, labels1.reshape(-1)), (z2, labels2.reshape(-1))):
        self_pair = torch.eye(z.shape[0], dtype=torch.bool, device=z.device)
        positives = (labels[:, None] == labels[None, :]) & ~self_pair
        if not positives.any():
            losses.append(z.sum() * 0.0)
            continue
        logits = (pairwise_similarity(z, z, similarity) / temperature).masked_fill(self_pair, float("-inf"))
        losses.append(_one_direction(logits, positives, "out").mean())
    return 0.5 * (losses[0] + losses[1])


def soft_group_clip_loss(
    z1: torch.Tensor,
    z2: torch.Tensor,
    weights: torch.Tensor,
    temperature: float = 0.1,
    similarity: Similarity = "cosine",
) -> torch.Tensor:
    r"""GroupCLIP ("in" variant) with soft positives: weight :math:`w_{ij} \ge 0` on each pair.

    .. math::

        \ell_i = -\log \frac{\sum_j \hat w_{ij}\, e^{s_{ij}/\tau}}{\sum_j e^{s_{ij}/\tau}},
        \qquad \hat w_{ij} = |P(i)|\, w_{ij} / \textstyle\sum_k w_{ik}

    in both directions (columns for modality 2's anchors), where :math:`P(i)` are the pairs with
    positive weight, so the weights have mean 1 over them; anchors with no positive weight are
    left out. Uniform weights over same-label cells give :func:`group_clip_loss` exactly.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}.")
    logits = pairwise_similarity(z1, z2, similarity) / temperature
    log_weights = torch.log(weights.clamp_min(0))
    losses = []
    for lg, lw in ((logits, log_weights), (logits.T, log_weights.T)):
        keep = torch.isfinite(lw).any(dim=1)
        if not keep.any():
            return (z1.sum() + z2.sum()) * 0.0
        lg, lw = lg[keep], lw[keep]
        # weights scaled to mean 1 over each anchor's positives: uniform weights give GroupCLIP exactly
        n_positive = torch.isfinite(lw).sum(dim=1, keepdim=True)
        lw = lw - (torch.logsumexp(lw, dim=1, keepdim=True) - torch.log(n_positive.to(lw.dtype)))
        losses.append((torch.logsumexp(lg, dim=1) - torch.logsumexp(lg + lw, dim=1)).mean())
    return 0.5 * (losses[0] + losses[1])


def _label_counts(labels: torch.Tensor) -> torch.Tensor:
    """For every cell, the number of cells with its label."""
    _, inverse, counts = torch.unique(labels, return_inverse=True, return_counts=True)
    return counts[inverse].float()


def _labels_in_both(labels1: torch.Tensor, labels2: torch.Tensor):
    """Labels present in both modalities, and the masks of the cells that carry one of them."""
    shared = labels1[torch.isin(labels1, labels2)].unique()
    return shared, torch.isin(labels1, shared), torch.isin(labels2, shared)


@torch.no_grad()
def _labeled_sinkhorn_plan(
    cost: torch.Tensor, labels_u: torch.Tensor, labels_v: torch.Tensor, epsilon: float, n_iter: int
) -> torch.Tensor:
    """Entropic plan with mass only between same-label rows and columns, each label with equal mass.

    Inside a label the marginals are uniform; every label present on both sides carries the same
    total mass (the caller keeps only such labels). Log-domain Sinkhorn, fixed iteration count.
    """
    allowed = labels_u[:, None] == labels_v[None, :]
    n_labels = labels_u.unique().numel()
    log_a = -torch.log(_label_counts(labels_u) * n_labels).to(cost.dtype)
    log_b = -torch.log(_label_counts(labels_v) * n_labels).to(cost.dtype)
    log_kernel = torch.where(allowed, -cost / epsilon, cost.new_tensor(float("-inf")))
    f, g = torch.zeros_like(log_a), torch.zeros_like(log_b)
    for _ in range(n_iter):
        f = log_a - torch.logsumexp(log_kernel + g[None, :], dim=1)
        g = log_b - torch.logsumexp(log_kernel + f[:, None], dim=0)
    return torch.exp(log_kernel + f[:, None] + g[None, :])


@torch.no_grad()
def labeled_batch_plan(
    z1: torch.Tensor,
    z2: torch.Tensor,
    labels1: torch.Tensor,
    labels2: torch.Tensor,
    epsilon: float = 0.05,
    max_iter: int = 1000,
) -> torch.Tensor:
    r"""Labeled entropic OT plan between the cells of a batch, as a dense ``(n1, n2)`` tensor.

    :func:`scgroove.align.labeled_ot` on the unit-normalised latents (squared Euclidean cost
    :math:`2 (1 - \cos(z^1_i, z^2_j))`, ``epsilon`` relative to the mean same-label cost), with
    its mass convention: every modality-1 cell of a label present in both modalities carries the
    same mass, spread over that label's modality-2 cells; other cells get none. No gradient.
    """
    from scgroove.align import labeled_ot  # the aligners import nothing from the losses

    labels1, labels2 = labels1.reshape(-1).cpu().numpy(), labels2.reshape(-1).cpu().numpy()
    plan = z1.new_zeros((z1.shape[0], z2.shape[0]))
    if not np.isin(labels1, labels2).any():
        return plan
    coupling = labeled_ot(
        F.normalize(z1.float(), dim=1), F.normalize(z2.float(), dim=1), labels1, labels2, epsilon, max_iter
    )
    for block in coupling.blocks:
        rows = torch.as_tensor(block.rows, device=plan.device)[:, None]
        cols = torch.as_tensor(block.cols, device=plan.device)[None, :]
        plan[rows, cols] = torch.as_tensor(np.asarray(block.plan), dtype=plan.dtype, device=plan.device)
    return plan


def _same_label_weights(labels1: torch.Tensor, labels2: torch.Tensor, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """The same-label indicator and GroupCLIP's positive weights (uniform over same-label cells)."""
    same = (labels1[:, None] == labels2[None, :]).to(dtype)
    return same, same / same.sum(1, keepdim=True).clamp_min(1.0)


def ot_refined_clip_loss(
    z1: torch.Tensor,
    z2: torch.Tensor,
    labels1: torch.Tensor,
    labels2: torch.Tensor,
    temperature: float = 0.1,
    similarity: Similarity = "cosine",
    refinement: float = 1.0,
    epsilon: float = 0.05,
) -> torch.Tensor:
    r"""GroupCLIP whose positives sharpen from "same group" towards "same cell" with labeled OT.

    The positive weights are a mixture of the uniform same-label weights of GroupCLIP and the
    batch's labeled OT plan between the (detached) latents, :func:`labeled_batch_plan`:

    .. math:: w = (1 - \lambda)\, \frac{[y^1_i = y^2_j]}{n^2_{y_i}} + \lambda\, \frac{T_{ij}}{\sum_k T_{ik}}

    with :math:`\lambda` = ``refinement`` (ramped up from 0 after a warm-up by the training plan),
    then :func:`soft_group_clip_loss`. A self-training scheme in the spirit of OT pseudo-labelling
    (e.g. uniPort's and SCOT's use of couplings as correspondences), restricted to label blocks.
    """
    _check_inputs(z1, z2, labels1, labels2, temperature)
    labels1, labels2 = labels1.reshape(-1), labels2.reshape(-1)
    same, uniform = _same_label_weights(labels1, labels2, z1.dtype)
    if refinement <= 0:
        weights = uniform
    else:
        plan = labeled_batch_plan(z1.detach(), z2.detach(), labels1, labels2, epsilon).to(z1.dtype)
        sharpened = plan / plan.sum(1, keepdim=True).clamp_min(1e-30)
        weights = (1 - refinement) * uniform + refinement * sharpened
    return soft_group_clip_loss(z1, z2, weights, temperature, similarity)


def geometry_loss(z: torch.Tensor, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    r"""Within-group geometry preservation: ``1 - corr(d_z, d_x)`` over same-label pairs.

    :math:`d_z` and :math:`d_x` are the Euclidean distances between the pairs of same-label cells
    of a batch in the latent space and in the modality's own (normalised) feature space. The
    Pearson correlation is blind to scale and to a constant offset, so the noise floor of
    high-dimensional distances does not matter; only the ordering of distances inside groups
    does. Zero (with a graph) when fewer than three pairs exist.
    """
    labels = labels.reshape(-1)
    i, k = torch.triu_indices(len(labels), len(labels), offset=1, device=z.device)
    same = labels[i] == labels[k]
    if same.sum() < 3:
        return z.sum() * 0.0
    i, k = i[same], k[same]
    d_z = (z[i] - z[k]).pow(2).sum(1).add(1e-12).sqrt()
    d_x = (features[i] - features[k]).pow(2).sum(1).add(1e-12).sqrt()
    d_z, d_x = d_z - d_z.mean(), d_x - d_x.mean()
    correlation = (d_z * d_x).sum() / (d_z.norm() * d_x.norm()).clamp_min(1e-12)
    return 1.0 - correlation


def guided_clip_loss(
    z1: torch.Tensor,
    z2: torch.Tensor,
    labels1: torch.Tensor,
    labels2: torch.Tensor,
    temperature: float = 0.1,
    similarity: Similarity = "cosine",
    guide: torch.Tensor | None = None,
    guide_weight: float = 1.0,
) -> torch.Tensor:
    r"""GroupCLIP whose positives follow a guide coupling between the batch's cells.

    ``guide`` is the ``(n1, n2)`` block of a coupling between the batch's cells (e.g. labeled
    Gromov-Wasserstein on each modality's own PCA, or labeled OT on the model's previous latent),
    zero across labels. The positive weights mix GroupCLIP's uniform same-label weights with the
    row-normalised guide:

    .. math:: w = (1 - \lambda)\, \frac{[y^1_i = y^2_j]}{n^2_{y_i}} + \lambda\, \frac{G_{ij}}{\sum_k G_{ik}}

    with :math:`\lambda` = ``guide_weight``, then :func:`soft_group_clip_loss`. Rows and columns of
    the guide without mass fall back to the uniform weights. Without a guide this is GroupCLIP.
    The network thus learns, across all groups at once, the within-group correspondences that the
    guide finds group by group, and can smooth out the guide's errors (pseudo-labelling with a
    transport plan, as in SCOT/uniPort, here as soft contrastive positives).
    """
    _check_inputs(z1, z2, labels1, labels2, temperature)
    labels1, labels2 = labels1.reshape(-1), labels2.reshape(-1)
    same, uniform = _same_label_weights(labels1, labels2, z1.dtype)
    if guide is None or guide_weight <= 0:
        return soft_group_clip_loss(z1, z2, uniform, temperature, similarity)
    guide = guide.to(z1.dtype) * same
    row_mass = guide.sum(1, keepdim=True)
    sharpened = torch.where(row_mass > 0, guide / row_mass.clamp_min(1e-30), uniform)
    weights = (1 - guide_weight) * uniform + guide_weight * sharpened
    return soft_group_clip_loss(z1, z2, weights, temperature, similarity)


def within_label_sinkhorn_divergence(
    z1: torch.Tensor,
    z2: torch.Tensor,
    labels1: torch.Tensor,
    labels2: torch.Tensor,
    epsilon: float = 0.1,
    n_iter: int = 50,
) -> torch.Tensor:
    r"""Debiased Sinkhorn divergence between the two modalities' latents of each label in a batch.

    .. math::

        S = \sum_{y} w_y \Big[ \mathrm{OT}_\varepsilon(\mu^1_y, \mu^2_y)
            - \tfrac12 \mathrm{OT}_\varepsilon(\mu^1_y, \mu^1_y)
            - \tfrac12 \mathrm{OT}_\varepsilon(\mu^2_y, \mu^2_y) \Big]

    where :math:`\mu^m_y` is the empirical distribution of modality :math:`m`'s latents of label
    :math:`y` in the batch (labels present in both modalities only), the cost is the squared
    Euclidean distance divided by the batch's mean squared norm (so shrinking the latent cannot
    lower the term) and :math:`\varepsilon` is relative to that scale (Feydy et al. 2019). Unlike
    a contrastive term, which pulls each cell towards its group's centre, this aligns the whole
    within-group distribution of the two modalities. All labels are solved at once with masked
    log-domain Sinkhorn; the gradient is the plan-weighted cost gradient (envelope theorem).
    """
    labels1, labels2 = labels1.reshape(-1), labels2.reshape(-1)
    shared, keep1, keep2 = _labels_in_both(labels1, labels2)
    if shared.numel() == 0:
        return (z1.sum() + z2.sum()) * 0.0
    a, b, y1, y2 = z1[keep1], z2[keep2], labels1[keep1], labels2[keep2]
    scale = torch.cat([a, b]).pow(2).sum(1).mean().clamp_min(1e-12)

    def transport_cost(u, v, yu, yv):
        cost = torch.cdist(u, v).pow(2) / scale
        plan = _labeled_sinkhorn_plan(cost.detach(), yu, yv, epsilon, n_iter)
        return (plan * cost).sum()

    return transport_cost(a, b, y1, y2) - 0.5 * transport_cost(a, a, y1, y1) - 0.5 * transport_cost(b, b, y2, y2)


def latent_cycle_loss(z: torch.Tensor, cycled: torch.Tensor) -> torch.Tensor:
    r"""Latent cycle consistency, normalised by the latent's mean squared norm (batch means).

    .. math:: \lVert E_{m'}(D_{m'}(z)) - z \rVert^2 / \lVert z \rVert^2

    ``cycled`` is the latent of the cell after translation into the other modality and encoding
    there. Normalised by the latent's mean squared norm, so the term cannot be lowered by shrinking
    the latent.
    """
    return (cycled - z).pow(2).sum(1).mean() / z.detach().pow(2).sum(1).mean().clamp_min(1e-12)


#: The contrastive term of a GROOVE module, by name.
CONTRASTS = {
    "group": group_clip_loss,
    "instance": instance_clip_loss,
    "within": within_modality_supcon_loss,
    "ot_refined": ot_refined_clip_loss,
    "guided": guided_clip_loss,
}

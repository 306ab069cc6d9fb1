"""Contrastive losses for weakly paired modalities (pure torch, no scvi-tools imports)."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

Variant = Literal["in", "out"]
Similarity = Literal["cosine", "euclidean"]


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
        return -(log_prob * positives).sum(dim=1) / n_positive
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
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}.")
    if z1.shape[1] != z2.shape[1]:
        raise ValueError(f"z1 and z2 must have the same dimension, got {z1.shape[1]} and {z2.shape[1]}.")
    if labels1.shape[0] != z1.shape[0] or labels2.shape[0] != z2.shape[0]:
        raise ValueError("labels1/labels2 must have one entry per row of z1/z2.")
    logits = pairwise_similarity(z1, z2, similarity) / temperature
    positives = labels1.reshape(-1, 1) == labels2.reshape(1, -1)
    if not positives.any():
        return (z1.sum() + z2.sum()) * 0.0
    loss_12 = _one_direction(logits, positives, variant).mean()
    loss_21 = _one_direction(logits.T, positives.T, variant).mean()
    return 0.5 * (loss_12 + loss_21)

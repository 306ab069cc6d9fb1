"""Reconstruction likelihoods: how a modality's features enter the encoder and are scored.

Each head owns the statistics it needs (feature means, library sizes) as buffers, so they are
saved with the model. Reconstruction losses are negative log-likelihoods averaged over features,
so that a modality with 10 features and one with 20,000 weigh the same and ``alpha``/``beta`` are
scale free.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scvi.distributions import NegativeBinomial
from torch import nn
from torch.nn import functional as F

from scgroove._matrix import feature_mean_and_std, row_sums, summarise_values

LIKELIHOODS = ("nb", "normal", "bernoulli")


def choose_likelihood(matrix) -> str:
    """Pick a likelihood from the data: binary -> ``"bernoulli"``, counts -> ``"nb"``, else ``"normal"``.

    Looks at the stored values chunk by chunk (no densification, works on backed data).
    """
    summary = summarise_values(matrix)
    if not np.isfinite(summary.minimum) or summary.minimum < 0 or not summary.integer:
        return "normal"
    if summary.maximum <= 1:
        return "bernoulli"
    return "nb"


class LikelihoodHead(nn.Module):
    """Base class: input transform, negative log-likelihood, and the decoded mean."""

    name: str

    def __init__(self, n_features: int):
        super().__init__()
        self.n_features = n_features

    def fit_statistics(self, matrix) -> None:
        """Store data statistics the head needs (called once, on all registered cells of the modality)."""

    def encoder_input(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def nll(self, decoded: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Per-cell negative log-likelihood, averaged over features, shape ``(n,)``."""
        raise NotImplementedError

    def mean(self, decoded: torch.Tensor, library: torch.Tensor | None = None) -> torch.Tensor:
        """Expected value of the features in the data's own units."""
        raise NotImplementedError


class NegativeBinomialHead(LikelihoodHead):
    """Counts: mean = library size x softmax(decoded), feature-wise inverse dispersion."""

    name = "nb"

    def __init__(self, n_features: int):
        super().__init__(n_features)
        self.log_theta = nn.Parameter(torch.zeros(n_features))
        self.register_buffer("typical_library", torch.tensor(1.0))

    def fit_statistics(self, matrix) -> None:
        library = row_sums(matrix)
        self.typical_library.fill_(float(max(np.median(library), 1.0)))

    def encoder_input(self, x):
        return torch.log1p(x)

    def nll(self, decoded, x):
        mu = x.sum(dim=1, keepdim=True) * F.softmax(decoded, dim=-1)
        distribution = NegativeBinomial(mu=mu, theta=self.log_theta.exp(), validate_args=False)
        return -distribution.log_prob(x).mean(dim=1)

    def mean(self, decoded, library=None):
        library = self.typical_library if library is None else library.reshape(-1, 1)
        return library * F.softmax(decoded, dim=-1)


class NormalHead(LikelihoodHead):
    """Continuous features, standardised per feature; feature-wise learned variance."""

    name = "normal"

    def __init__(self, n_features: int):
        super().__init__(n_features)
        self.log_scale = nn.Parameter(torch.zeros(n_features))
        self.register_buffer("feature_mean", torch.zeros(n_features))
        self.register_buffer("feature_std", torch.ones(n_features))

    def fit_statistics(self, matrix) -> None:
        mean, std = feature_mean_and_std(matrix)
        self.feature_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.feature_std.copy_(torch.as_tensor(std, dtype=torch.float32))

    def encoder_input(self, x):
        return (x - self.feature_mean) / self.feature_std

    def nll(self, decoded, x):
        residual = (self.encoder_input(x) - decoded) * torch.exp(-self.log_scale)
        return (0.5 * residual**2 + self.log_scale + 0.5 * math.log(2 * math.pi)).mean(dim=1)

    def mean(self, decoded, library=None):
        return decoded * self.feature_std + self.feature_mean


class BernoulliHead(LikelihoodHead):
    """Binary features (e.g. binarised ATAC peaks)."""

    name = "bernoulli"

    def encoder_input(self, x):
        return x

    def nll(self, decoded, x):
        return F.binary_cross_entropy_with_logits(decoded, x, reduction="none").mean(dim=1)

    def mean(self, decoded, library=None):
        return torch.sigmoid(decoded)


HEADS = {"nb": NegativeBinomialHead, "normal": NormalHead, "bernoulli": BernoulliHead}


def make_head(likelihood: str, n_features: int) -> LikelihoodHead:
    if likelihood not in HEADS:
        raise ValueError(f"Unknown likelihood {likelihood!r}; choose from {LIKELIHOODS}.")
    return HEADS[likelihood](n_features)

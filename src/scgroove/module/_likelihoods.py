"""Reconstruction likelihoods: how a modality's features enter the encoder and are scored.

Each head owns the statistics it needs (feature means, library sizes) as buffers, so they are
saved with the model. Reconstruction losses are negative log-likelihoods averaged over features,
so that a modality with 10 features and one with 20,000 weigh the same and ``alpha``/``beta`` are
scale free.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import torch
from scvi.distributions import NegativeBinomial
from torch import nn
from torch.nn import functional as F

LIKELIHOODS = ("nb", "normal", "bernoulli")


def choose_likelihood(matrix) -> str:
    """Pick a likelihood from the data: binary -> ``"bernoulli"``, counts -> ``"nb"``, else ``"normal"``.

    Looks only at stored values (no densification of sparse input).
    """
    values = np.asarray(matrix.data if sp.issparse(matrix) else matrix).ravel()
    if values.size == 0:
        return "normal"
    if values.min() < 0 or not np.all(np.mod(values, 1) == 0):
        return "normal"
    if values.max() <= 1:
        return "bernoulli"
    return "nb"


def feature_mean_and_std(matrix) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation, computed without densifying sparse input."""
    if sp.issparse(matrix):
        matrix = sp.csr_matrix(matrix, dtype=np.float64)
        mean = np.asarray(matrix.mean(axis=0)).ravel()
        mean_sq = np.asarray(matrix.multiply(matrix).mean(axis=0)).ravel()
    else:
        matrix = np.asarray(matrix, dtype=np.float64)
        mean, mean_sq = matrix.mean(axis=0), (matrix**2).mean(axis=0)
    std = np.sqrt(np.clip(mean_sq - mean**2, 0, None))
    std[std < 1e-8] = 1.0  # constant features: leave them centred, unscaled
    return mean, std


class LikelihoodHead(nn.Module):
    """Base class: input transform, negative log-likelihood, and the decoded mean."""

    name: str

    def __init__(self, n_features: int):
        super().__init__()
        self.n_features = n_features

    def fit_statistics(self, matrix) -> None:
        """Store data statistics the head needs (called once, on the training cells)."""

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
        library = np.asarray(matrix.sum(axis=1)).ravel()
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

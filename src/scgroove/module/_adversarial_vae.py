"""A label-aware VAE with an adversarial modality classifier: the classic baseline for unpaired data."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from scvi.module.base import LossOutput, auto_move_data
from torch import nn

from scgroove._constants import LABELS_KEYS, X_KEYS
from scgroove.module._base import PairedAutoencoderModule
from scgroove.module._networks import mlp


class _ReverseGradient(torch.autograd.Function):
    """Identity forward; multiplies the gradient by ``-1`` backward (Ganin & Lempitsky 2015)."""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -grad


class AdversarialVAEModule(PairedAutoencoderModule):
    """Per-modality VAEs into one latent space, aligned by labels and by a modality adversary.

    The loss of a batch is, per modality, the reconstruction NLL (averaged over features, as in
    GROOVE) plus ``kl_weight`` times the KL divergence to N(0, I) divided by the number of
    features (so the ratio of reconstruction to KL is the ELBO's), plus

    * ``label_weight`` times the cross-entropy of one label classifier shared by both modalities
      (label-aware: the same label must be decodable from either modality's latent);
    * ``adversarial_weight`` times the cross-entropy of a modality classifier that sees the
      latent through a gradient-reversal layer: the classifier learns to tell the modalities
      apart and the encoders learn to make that impossible (domain-adversarial training).

    This is the family of scDART/Cobolt-style integrators with the group label as supervision;
    the benchmark uses it as a baseline against GROOVE. It shares GROOVE's base (likelihood
    heads, decoders, translation) and training plan (one optimizer step, no backtranslation).

    Parameters
    ----------
    n_input_1, n_input_2, likelihood_1, likelihood_2, n_latent, n_hidden, n_layers, dropout_rate
        As in :class:`PairedAutoencoderModule`.
    n_labels
        Number of label categories (shared by both modalities).
    kl_weight, label_weight, adversarial_weight
        Weights of the three regularisers.
    n_batch
        Batch covariates, as in :class:`PairedAutoencoderModule`.
    """

    def __init__(
        self,
        n_input_1: int,
        n_input_2: int,
        likelihood_1: str,
        likelihood_2: str,
        n_labels: int,
        n_latent: int = 32,
        n_hidden: int = 256,
        n_layers: int = 2,
        dropout_rate: float = 0.1,
        kl_weight: float = 1.0,
        label_weight: float = 1.0,
        adversarial_weight: float = 1.0,
        n_batch: int = 0,
    ):
        # encoders output the mean and the log-variance of q(z | x)
        super().__init__(
            n_input_1, n_input_2, likelihood_1, likelihood_2, n_latent, n_hidden, n_layers, dropout_rate, 2, n_batch
        )
        self.kl_weight, self.label_weight, self.adversarial_weight = kl_weight, label_weight, adversarial_weight
        self.label_classifier = nn.Linear(n_latent, n_labels)
        self.modality_classifier = mlp(n_latent, 2, n_hidden=max(n_hidden // 4, 8), n_layers=1, dropout_rate=0.0)

    def posterior(
        self, x: torch.Tensor, modality: int, batch: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z | x) for cells ``x`` of ``modality``."""
        mean, log_var = self.encoder_output(x, modality, batch).chunk(2, dim=1)
        return mean, log_var.clamp(-10.0, 10.0)

    @auto_move_data
    def encode(self, x: torch.Tensor, modality: int, batch: torch.Tensor | None = None) -> torch.Tensor:
        """Posterior mean: the latent representation reported and used for translation."""
        return self.posterior(x, modality, batch)[0]

    @auto_move_data
    def inference(self, x_1, x_2, batch_1=None, batch_2=None):
        outputs = {}
        for m, x, batch in ((1, x_1, batch_1), (2, x_2, batch_2)):
            mean, log_var = self.posterior(x, m, batch)
            z = mean + torch.randn_like(mean) * (0.5 * log_var).exp() if self.training else mean
            outputs.update({f"z_{m}": z, f"mean_{m}": mean, f"log_var_{m}": log_var})
        return outputs

    def describe(self) -> str:
        """The loss terms, in words (for model summaries)."""
        return (
            f"kl_weight={self.kl_weight}, label_weight={self.label_weight}, "
            f"adversarial_weight={self.adversarial_weight}"
        )

    def loss(self, tensors, inference_outputs, generative_outputs) -> LossOutput:
        """Reconstruction + KL + shared label classifier + reversed-gradient modality classifier."""
        total, per_cell, metrics = 0.0, [], {}
        adversary_logits, adversary_targets = [], []
        for m in (1, 2):
            rec = self.reconstruction_nll(generative_outputs[f"decoded_{m}"], tensors[X_KEYS[m]], m)
            mean, log_var = inference_outputs[f"mean_{m}"], inference_outputs[f"log_var_{m}"]
            kl = 0.5 * (mean.pow(2) + log_var.exp() - 1.0 - log_var).sum(1) / self.n_inputs[m]
            z = inference_outputs[f"z_{m}"]
            label_ce = F.cross_entropy(self.label_classifier(z), tensors[LABELS_KEYS[m]].reshape(-1).long())
            total = total + rec.mean() + self.kl_weight * kl.mean() + self.label_weight * label_ce
            per_cell.append(rec)
            metrics.update({f"reconstruction_{m}": rec.mean(), f"kl_{m}": kl.mean(), f"label_{m}": label_ce})
            adversary_logits.append(self.modality_classifier(_ReverseGradient.apply(z)))
            adversary_targets.append(torch.full((z.shape[0],), m - 1, device=z.device, dtype=torch.long))
        adversary = F.cross_entropy(torch.cat(adversary_logits), torch.cat(adversary_targets))
        metrics["modality_adversary"] = adversary
        total = total + self.adversarial_weight * adversary
        return LossOutput(loss=total, reconstruction_loss=torch.cat(per_cell), extra_metrics=metrics)

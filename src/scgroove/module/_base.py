"""The part every two-modality autoencoder module shares: heads, encoders, decoders, translation."""

from __future__ import annotations

import torch
from scvi.module.base import BaseModuleClass, auto_move_data
from torch import nn

from scgroove._constants import BATCH_KEYS, X_KEYS
from scgroove.module._likelihoods import make_head
from scgroove.module._networks import mlp


class PairedAutoencoderModule(BaseModuleClass):
    """One encoder and one decoder per modality around one shared latent space (tensors only).

    Subclasses define the loss; :class:`GROOVEModule` and :class:`AdversarialVAEModule` are
    siblings on this base. The training plan asks a module for :attr:`backtranslates` (a second
    optimizer step), :attr:`needs_guide` (a guide coupling for the contrast) and
    :attr:`refinement_warmup_epochs` (a refinement schedule); none of them here.

    Parameters
    ----------
    n_input_1, n_input_2
        Number of features of modality 1 and 2.
    likelihood_1, likelihood_2
        ``"nb"``, ``"normal"`` or ``"bernoulli"``.
    n_latent
        Dimension of the shared latent space.
    n_hidden, n_layers, dropout_rate
        Shape of every encoder and decoder MLP.
    encoder_output_factor
        Width of each encoder's output in units of ``n_latent`` (2 for a mean and a log-variance).
    n_batch
        Number of batch (donor) categories shared by both modalities; when above 0 each cell's
        one-hot batch is appended to the input of every encoder and decoder (as scVI injects its
        covariates), so batch effects are explained by the covariate rather than by the latent.
    """

    backtranslates = False
    needs_guide = False
    #: epochs before the loss's ``refinement`` weight ramps up (``None``: the loss takes none)
    refinement_warmup_epochs: int | None = None

    def __init__(
        self,
        n_input_1: int,
        n_input_2: int,
        likelihood_1: str,
        likelihood_2: str,
        n_latent: int = 32,
        n_hidden: int = 256,
        n_layers: int = 2,
        dropout_rate: float = 0.1,
        encoder_output_factor: int = 1,
        n_batch: int = 0,
    ):
        super().__init__()
        if n_batch < 0:
            raise ValueError(f"n_batch must be >= 0, got {n_batch}.")
        self.n_latent = n_latent
        self.n_batch = n_batch
        self.n_inputs = {1: n_input_1, 2: n_input_2}
        self.heads = nn.ModuleDict(
            {str(m): make_head(lk, self.n_inputs[m]) for m, lk in ((1, likelihood_1), (2, likelihood_2))}
        )
        width = encoder_output_factor * n_latent
        self.encoders = nn.ModuleDict(
            {str(m): mlp(self.n_inputs[m] + n_batch, width, n_hidden, n_layers, dropout_rate) for m in (1, 2)}
        )
        self.decoders = nn.ModuleDict(
            {str(m): mlp(n_latent + n_batch, self.n_inputs[m], n_hidden, n_layers, dropout_rate) for m in (1, 2)}
        )

    # -- building blocks ------------------------------------------------------------------------
    def with_covariates(self, h: torch.Tensor, batch: torch.Tensor | None) -> torch.Tensor:
        """``h`` with each cell's one-hot batch appended (unchanged without batch covariates)."""
        if self.n_batch == 0:
            return h
        if batch is None:
            raise ValueError("This module was built with batch covariates (n_batch > 0): pass each cell's batch.")
        one_hot = nn.functional.one_hot(batch.reshape(-1).long().to(h.device), self.n_batch).to(h.dtype)
        return torch.cat([h, one_hot], dim=1)

    def encoder_output(self, x: torch.Tensor, modality: int, batch: torch.Tensor | None = None) -> torch.Tensor:
        """Raw output of modality ``modality``'s encoder for cells ``x`` (in batches ``batch``)."""
        h = self.heads[str(modality)].encoder_input(x)
        return self.encoders[str(modality)](self.with_covariates(h, batch))

    @auto_move_data
    def encode(self, x: torch.Tensor, modality: int, batch: torch.Tensor | None = None) -> torch.Tensor:
        """Latent coordinates of cells ``x`` of modality 1 or 2 (``batch``: their batch codes)."""
        return self.encoder_output(x, modality, batch)

    def decode(self, z: torch.Tensor, modality: int, batch: torch.Tensor | None = None) -> torch.Tensor:
        """Decoder output (likelihood parameters) for modality 1 or 2, in batches ``batch``."""
        return self.decoders[str(modality)](self.with_covariates(z, batch))

    def reconstruction_nll(self, decoded: torch.Tensor, x: torch.Tensor, modality: int) -> torch.Tensor:
        """Per-cell negative log-likelihood of ``x`` under the decoded parameters."""
        return self.heads[str(modality)].nll(decoded, x)

    @auto_move_data
    def decoded_mean(
        self,
        z: torch.Tensor,
        modality: int,
        library: torch.Tensor | None = None,
        batch: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Expected features of ``modality`` decoded from latents ``z`` (data units), in batches ``batch``."""
        return self.heads[str(modality)].mean(self.decode(z, modality, batch), library)

    @torch.no_grad()
    def translate(self, x: torch.Tensor, source: int, target: int, batch: torch.Tensor | None = None) -> torch.Tensor:
        """Cross-modal translation ``D_target(E_source(x))`` in inference mode (no graph).

        The module is put in eval mode for the translation and restored afterwards. Counts are
        translated at the target modality's typical library size; with batch covariates each cell
        is decoded in its own batch (``batch``).
        """
        was_training = self.training
        self.eval()
        try:
            return self.decoded_mean(self.encode(x, source, batch), target, batch=batch)
        finally:
            self.train(was_training)

    # -- scvi-tools module interface ------------------------------------------------------------
    @staticmethod
    def batches(tensors) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The batch codes of a minibatch's two modalities (``None`` without batch covariates)."""
        return tensors.get(BATCH_KEYS[1]), tensors.get(BATCH_KEYS[2])

    def _get_inference_input(self, tensors):
        batch_1, batch_2 = self.batches(tensors)
        return {"x_1": tensors[X_KEYS[1]], "x_2": tensors[X_KEYS[2]], "batch_1": batch_1, "batch_2": batch_2}

    def _get_generative_input(self, tensors, inference_outputs):
        batch_1, batch_2 = self.batches(tensors)
        return {
            "z_1": inference_outputs["z_1"],
            "z_2": inference_outputs["z_2"],
            "batch_1": batch_1,
            "batch_2": batch_2,
        }

    @auto_move_data
    def inference(self, x_1, x_2, batch_1=None, batch_2=None):
        return {"z_1": self.encode(x_1, 1, batch_1), "z_2": self.encode(x_2, 2, batch_2)}

    @auto_move_data
    def generative(self, z_1, z_2, batch_1=None, batch_2=None):
        return {"decoded_1": self.decode(z_1, 1, batch_1), "decoded_2": self.decode(z_2, 2, batch_2)}

    def loss(self, tensors, inference_outputs, generative_outputs, **loss_kwargs):
        raise NotImplementedError

    @torch.no_grad()
    def sample(self, tensors, n_samples: int = 1) -> dict[str, torch.Tensor]:
        """Reconstructed feature means of both modalities (each cell at its own library size)."""
        batch_1, batch_2 = self.batches(tensors)
        inference_outputs = self.inference(tensors[X_KEYS[1]], tensors[X_KEYS[2]], batch_1, batch_2)
        return {
            "x_1": self.decoded_mean(inference_outputs["z_1"], 1, tensors[X_KEYS[1]].sum(1), batch_1),
            "x_2": self.decoded_mean(inference_outputs["z_2"], 2, tensors[X_KEYS[2]].sum(1), batch_2),
        }

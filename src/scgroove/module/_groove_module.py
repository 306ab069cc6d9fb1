"""GROOVEModule: per-modality autoencoders into one latent space (tensors only)."""

from __future__ import annotations

import torch
from scvi.module.base import BaseModuleClass, LossOutput, auto_move_data
from torch import nn

from scgroove._constants import REGISTRY_KEYS
from scgroove.losses import (
    CONTRASTS,
    Contrast,
    Similarity,
    Variant,
    geometry_loss,
    latent_cycle_loss,
    within_label_sinkhorn_divergence,
)
from scgroove.module._likelihoods import make_head
from scgroove.module._networks import mlp

_X = {1: REGISTRY_KEYS.X_1, 2: REGISTRY_KEYS.X_2}
_LABELS = {1: REGISTRY_KEYS.LABELS_1, 2: REGISTRY_KEYS.LABELS_2}


class GROOVEModule(BaseModuleClass):
    """Two encoders and two decoders sharing one deterministic latent space.

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
    alpha
        Weight of GroupCLIP in the first step's loss.
    beta
        Weight of the backtranslation loss (second step).
    temperature, variant, similarity
        GroupCLIP settings, see :func:`scgroove.losses.group_clip_loss`.
    contrast
        Which contrastive term: ``"group"`` (GroupCLIP, GROOVE's), ``"instance"`` (CLIP on
        random same-label pairs, :func:`~scgroove.losses.instance_clip_loss`) or ``"within"``
        (SupCon inside each modality, :func:`~scgroove.losses.within_modality_supcon_loss`) or
        ``"ot_refined"`` (GroupCLIP whose positives are sharpened by the batch's labeled OT plan
        after ``ot_warmup_epochs``, :func:`~scgroove.losses.ot_refined_clip_loss`).
        ``variant`` applies to ``"group"`` only.
    ot_warmup_epochs, ot_epsilon
        For ``contrast="ot_refined"``: plain GroupCLIP for this many epochs, then the OT weight
        ramps linearly to 1 over as many epochs; entropic regularisation of the batch plans.
    geometry_weight
        Weight of the within-group geometry term (:func:`~scgroove.losses.geometry_loss`, one per
        modality) added to the first step; 0 switches it off.
    projection_head
        Compute the contrastive term on ``g(z)``, a small MLP head on the latent, instead of on
        ``z`` itself (SimCLR/CLIP practice): ``z`` stays free to keep what the contrast discards.
    distribution_weight, distribution_epsilon
        Weight and relative entropic regularisation of the within-label Sinkhorn divergence
        between the two modalities' latents (:func:`~scgroove.losses.within_label_sinkhorn_divergence`);
        0 switches it off.
    cycle_weight
        Weight of the latent cycle term ``|E_2(D_2(z_1)) - z_1|^2`` (and 2 -> 1),
        :func:`~scgroove.losses.latent_cycle_loss`; 0 switches it off.
    use_reconstruction, use_group_clip, use_backtranslation
        Switch each loss term on or off (ablations are the same class).
    """

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
        alpha: float = 1.0,
        beta: float = 1.0,
        temperature: float = 0.1,
        variant: Variant = "in",
        similarity: Similarity = "cosine",
        contrast: Contrast = "group",
        ot_warmup_epochs: int = 10,
        ot_epsilon: float = 0.05,
        geometry_weight: float = 0.0,
        projection_head: bool = False,
        distribution_weight: float = 0.0,
        distribution_epsilon: float = 0.05,
        cycle_weight: float = 0.0,
        use_reconstruction: bool = True,
        use_group_clip: bool = True,
        use_backtranslation: bool = True,
    ):
        super().__init__()
        if not (use_reconstruction or use_group_clip):
            raise ValueError("At least one of use_reconstruction and use_group_clip must be True.")
        if contrast not in CONTRASTS:
            raise ValueError(f"contrast must be one of {list(CONTRASTS)}, got {contrast!r}.")
        if geometry_weight < 0 or ot_epsilon <= 0 or ot_warmup_epochs < 0:
            raise ValueError("geometry_weight and ot_warmup_epochs must be >= 0 and ot_epsilon > 0.")
        if distribution_weight < 0 or cycle_weight < 0 or distribution_epsilon <= 0:
            raise ValueError("distribution_weight and cycle_weight must be >= 0 and distribution_epsilon > 0.")
        self.contrast = contrast
        self.distribution_weight, self.distribution_epsilon = distribution_weight, distribution_epsilon
        self.cycle_weight = cycle_weight
        self.ot_warmup_epochs, self.ot_epsilon = ot_warmup_epochs, ot_epsilon
        self.geometry_weight = geometry_weight
        self.n_latent = n_latent
        self.alpha, self.beta = alpha, beta
        self.temperature, self.variant, self.similarity = temperature, variant, similarity
        self.use_reconstruction = use_reconstruction
        self.use_group_clip = use_group_clip
        self.use_backtranslation = use_backtranslation
        n_inputs = {1: n_input_1, 2: n_input_2}
        self.heads = nn.ModuleDict(
            {str(m): make_head(lk, n_inputs[m]) for m, lk in ((1, likelihood_1), (2, likelihood_2))}
        )
        self.encoders = nn.ModuleDict(
            {str(m): mlp(n_inputs[m], n_latent, n_hidden, n_layers, dropout_rate) for m in (1, 2)}
        )
        self.decoders = nn.ModuleDict(
            {str(m): mlp(n_latent, n_inputs[m], n_hidden, n_layers, dropout_rate) for m in (1, 2)}
        )
        # one head for both modalities: the contrast compares g(z1) with g(z2) in one space
        self.projection = mlp(n_latent, n_latent, n_hidden, 1, 0.0) if projection_head else nn.Identity()

    # -- building blocks ------------------------------------------------------------------------
    @auto_move_data
    def encode(self, x: torch.Tensor, modality: int) -> torch.Tensor:
        """Latent coordinates of cells ``x`` of modality 1 or 2."""
        return self.encoders[str(modality)](self.heads[str(modality)].encoder_input(x))

    def decode(self, z: torch.Tensor, modality: int) -> torch.Tensor:
        """Decoder output (likelihood parameters) for modality 1 or 2."""
        return self.decoders[str(modality)](z)

    def geometry_features(self, x: torch.Tensor, modality: int) -> torch.Tensor:
        """Features whose within-group distances the geometry term preserves (counts: log-normalised)."""
        head = self.heads[str(modality)]
        if head.name == "nb":
            return torch.log1p(x / x.sum(1, keepdim=True).clamp_min(1.0) * 1e4)
        return head.encoder_input(x)

    def reconstruction_nll(self, decoded: torch.Tensor, x: torch.Tensor, modality: int) -> torch.Tensor:
        return self.heads[str(modality)].nll(decoded, x)

    @auto_move_data
    def decoded_mean(self, z: torch.Tensor, modality: int, library: torch.Tensor | None = None) -> torch.Tensor:
        """Expected features of ``modality`` decoded from latents ``z`` (data units)."""
        return self.heads[str(modality)].mean(self.decode(z, modality), library)

    # -- scvi-tools module interface ------------------------------------------------------------
    def _get_inference_input(self, tensors):
        return {"x_1": tensors[_X[1]], "x_2": tensors[_X[2]]}

    def _get_generative_input(self, tensors, inference_outputs):
        return {"z_1": inference_outputs["z_1"], "z_2": inference_outputs["z_2"]}

    @auto_move_data
    def inference(self, x_1, x_2):
        return {"z_1": self.encode(x_1, 1), "z_2": self.encode(x_2, 2)}

    @auto_move_data
    def generative(self, z_1, z_2):
        return {"decoded_1": self.decode(z_1, 1), "decoded_2": self.decode(z_2, 2)}

    def loss(
        self,
        tensors,
        inference_outputs,
        generative_outputs,
        refinement: float = 0.0,
        guide: torch.Tensor | None = None,
        guide_weight: float = 0.0,
    ) -> LossOutput:
        """First step: ``recon_1 + recon_2 + alpha * contrast`` plus the optional within-group terms.

        ``refinement`` (``contrast="ot_refined"``) and ``guide``/``guide_weight``
        (``contrast="guided"``: the batch's block of the guide coupling) are set by the training plan.
        """
        x_1, x_2 = tensors[_X[1]], tensors[_X[2]]
        rec_1 = self.reconstruction_nll(generative_outputs["decoded_1"], x_1, 1)
        rec_2 = self.reconstruction_nll(generative_outputs["decoded_2"], x_2, 2)
        z_1, z_2 = inference_outputs["z_1"], inference_outputs["z_2"]
        labels_1, labels_2 = tensors[_LABELS[1]].reshape(-1), tensors[_LABELS[2]].reshape(-1)
        options = {
            "group": {"variant": self.variant},
            "ot_refined": {"refinement": refinement, "epsilon": self.ot_epsilon},
            "guided": {"guide": guide, "guide_weight": guide_weight},
        }.get(self.contrast, {})
        gc = CONTRASTS[self.contrast](
            self.projection(z_1),
            self.projection(z_2),
            labels_1,
            labels_2,
            temperature=self.temperature,
            similarity=self.similarity,
            **options,
        )
        total = z_1.new_zeros(())
        if self.use_reconstruction:
            total = total + rec_1.mean() + rec_2.mean()
        if self.use_group_clip:
            total = total + self.alpha * gc
        extra = {}
        if self.geometry_weight > 0:
            geometry = sum(
                geometry_loss(z, self.geometry_features(x, m), labels)
                for m, z, x, labels in ((1, z_1, x_1, labels_1), (2, z_2, x_2, labels_2))
            )
            total = total + self.geometry_weight * geometry
            extra["geometry"] = geometry
        if self.distribution_weight > 0:
            divergence = within_label_sinkhorn_divergence(
                z_1, z_2, labels_1, labels_2, epsilon=self.distribution_epsilon
            )
            total = total + self.distribution_weight * divergence
            extra["sinkhorn_divergence"] = divergence
        if self.cycle_weight > 0:
            cycle = latent_cycle_loss(z_1, self.encode(self.decoded_mean(z_1, 2), 2)) + latent_cycle_loss(
                z_2, self.encode(self.decoded_mean(z_2, 1), 1)
            )
            total = total + self.cycle_weight * cycle
            extra["latent_cycle"] = cycle
        # per-cell terms of modalities of different sizes are concatenated, never summed
        return LossOutput(
            loss=total,
            reconstruction_loss=torch.cat([rec_1, rec_2]),
            extra_metrics={
                "reconstruction_1": rec_1.mean(),
                "reconstruction_2": rec_2.mean(),
                "group_clip": gc,
                **extra,
            },
        )

    @torch.no_grad()
    def translate(self, x: torch.Tensor, source: int, target: int) -> torch.Tensor:
        """Cross-modal translation ``D_target(E_source(x))`` in inference mode (no graph).

        The module is put in eval mode for the translation and restored afterwards. Counts are
        translated at the target modality's typical library size.
        """
        was_training = self.training
        self.eval()
        try:
            return self.decoded_mean(self.encode(x, source), target)
        finally:
            self.train(was_training)

    def backtranslation_loss(self, tensors) -> LossOutput:
        """Second step: ``beta * (rec(D1(E2(x~2)), x1) + rec(D2(E1(x~1)), x2))``."""
        x_1, x_2 = tensors[_X[1]], tensors[_X[2]]
        pseudo_2 = self.translate(x_1, 1, 2)
        pseudo_1 = self.translate(x_2, 2, 1)
        back_1 = self.reconstruction_nll(self.decode(self.encode(pseudo_2, 2), 1), x_1, 1)
        back_2 = self.reconstruction_nll(self.decode(self.encode(pseudo_1, 1), 2), x_2, 2)
        backtranslation = back_1.mean() + back_2.mean()
        return LossOutput(
            loss=self.beta * backtranslation,
            reconstruction_loss=torch.cat([back_1, back_2]),
            extra_metrics={"backtranslation": backtranslation},
        )

    @torch.no_grad()
    def sample(self, tensors, n_samples: int = 1) -> dict[str, torch.Tensor]:
        """Reconstructed feature means of both modalities (deterministic autoencoder)."""
        inference_outputs = self.inference(tensors[_X[1]], tensors[_X[2]])
        return {
            "x_1": self.decoded_mean(inference_outputs["z_1"], 1, tensors[_X[1]].sum(1)),
            "x_2": self.decoded_mean(inference_outputs["z_2"], 2, tensors[_X[2]].sum(1)),
        }

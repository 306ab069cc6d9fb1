"""GROOVEModule: per-modality autoencoders into one latent space (tensors only)."""

from __future__ import annotations

import torch
from scvi.module.base import LossOutput
from torch import nn
from torch.profiler import record_function

from scgroove._constants import LABELS_KEYS, X_KEYS
from scgroove.losses import (
    CONTRASTS,
    Contrast,
    Similarity,
    Variant,
    geometry_loss,
    latent_cycle_loss,
    within_label_sinkhorn_divergence,
)
from scgroove.module._base import PairedAutoencoderModule
from scgroove.module._networks import mlp

#: How each contrast is named in model summaries.
CONTRAST_NAMES = {
    "group": "GroupCLIP",
    "instance": "instance CLIP",
    "within": "SupCon within modality",
    "ot_refined": "OT-refined GroupCLIP",
    "guided": "structure-guided GroupCLIP",
}


class GROOVEModule(PairedAutoencoderModule):
    """Two encoders and two decoders sharing one deterministic latent space, trained by contrast.

    These are the hyperparameters of :class:`scgroove.GROOVE` (which passes its keyword arguments
    here), with the same defaults.

    Parameters
    ----------
    n_input_1, n_input_2, likelihood_1, likelihood_2, n_latent, n_hidden, n_layers, dropout_rate
        As in :class:`PairedAutoencoderModule` (sizes, likelihoods and network shape).
    alpha
        Weight of GroupCLIP in the first step's loss.
    beta
        Weight of the backtranslation loss (second step).
    temperature, variant, similarity
        GroupCLIP settings, see :func:`scgroove.losses.group_clip_loss`.
    contrast
        Which contrastive term. ``"guided"`` (the default): GroupCLIP whose positives follow a
        guide coupling between all cells (:func:`~scgroove.losses.guided_clip_loss`; the training
        plan passes each batch's block of it, see :meth:`scgroove.GROOVE.train`). ``"group"``:
        plain GroupCLIP, same-label cells are uniform positives
        (:func:`~scgroove.losses.group_clip_loss`; the default up to 0.1). For ablations:
        ``"instance"`` (CLIP on random same-label pairs, :func:`~scgroove.losses.instance_clip_loss`),
        ``"within"`` (SupCon inside each modality, :func:`~scgroove.losses.within_modality_supcon_loss`)
        or ``"ot_refined"`` (GroupCLIP whose positives are sharpened by the batch's labeled OT
        plan after ``ot_warmup_epochs``, :func:`~scgroove.losses.ot_refined_clip_loss`).
        ``variant`` applies to ``"group"`` only.
    ot_warmup_epochs, ot_epsilon
        For ``contrast="ot_refined"``: plain GroupCLIP for this many epochs, then the OT weight
        ramps linearly to 1 over as many epochs; entropic regularisation of the batch plans.
    geometry_weight
        Weight of the within-group geometry term (:func:`~scgroove.losses.geometry_loss`, one per
        modality) added to the first step; 0 switches it off.
    projection_head
        Compute the contrastive term on ``g(z)``, a one-layer MLP head on the latent shared by both
        modalities (default), instead of on ``z`` itself (SimCLR/CLIP practice): ``z`` stays free
        to keep what the contrast discards, so the contrast cannot collapse each group of ``z`` to
        a point.
    distribution_weight, distribution_epsilon
        Weight and relative entropic regularisation of the within-label Sinkhorn divergence
        between the two modalities' latents (:func:`~scgroove.losses.within_label_sinkhorn_divergence`);
        0 switches it off.
    cycle_weight
        Weight of the latent cycle term ``|E_2(D_2(z_1)) - z_1|^2`` (and 2 -> 1),
        :func:`~scgroove.losses.latent_cycle_loss`; 0 switches it off.
    use_reconstruction, use_contrast, use_backtranslation
        Switch each loss term on or off (ablations are the same class).
    n_batch
        Batch covariates (set from the registry by :meth:`scgroove.GROOVE.setup_mudata`'s
        ``batch_key``), as in :class:`PairedAutoencoderModule`. A cell keeps its batch when it is
        translated into the other modality (backtranslation, cycle term).
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
        contrast: Contrast = "guided",
        ot_warmup_epochs: int = 10,
        ot_epsilon: float = 0.05,
        geometry_weight: float = 0.0,
        projection_head: bool = True,
        distribution_weight: float = 0.0,
        distribution_epsilon: float = 0.05,
        cycle_weight: float = 0.0,
        use_reconstruction: bool = True,
        use_contrast: bool = True,
        use_backtranslation: bool = True,
        n_batch: int = 0,
    ):
        super().__init__(
            n_input_1, n_input_2, likelihood_1, likelihood_2, n_latent, n_hidden, n_layers, dropout_rate, 1, n_batch
        )
        if not (use_reconstruction or use_contrast):
            raise ValueError("At least one of use_reconstruction and use_contrast must be True.")
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
        self.alpha, self.beta = alpha, beta
        self.temperature, self.variant, self.similarity = temperature, variant, similarity
        self.use_reconstruction = use_reconstruction
        self.use_contrast = use_contrast
        self.use_backtranslation = use_backtranslation
        self.projection_head = projection_head
        # one head for both modalities: the contrast compares g(z1) with g(z2) in one space
        self.projection = mlp(n_latent, n_latent, n_hidden, 1, 0.0) if projection_head else nn.Identity()

    @property
    def backtranslates(self) -> bool:
        """Whether training takes the second (backtranslation) optimizer step."""
        return self.use_backtranslation and self.beta > 0

    @property
    def needs_guide(self) -> bool:
        """Whether the loss needs a guide coupling (``contrast="guided"`` and the contrast on)."""
        return self.contrast == "guided" and self.use_contrast

    @property
    def refinement_warmup_epochs(self) -> int | None:
        """Warm-up of the OT refinement for ``contrast="ot_refined"``; ``None`` otherwise."""
        return self.ot_warmup_epochs if self.contrast == "ot_refined" and self.use_contrast else None

    def describe(self) -> str:
        """The loss terms that are on, in words (for model summaries)."""
        contrast = CONTRAST_NAMES[self.contrast] + (" on a projection head" if self.projection_head else "")
        terms = (
            ("reconstruction", self.use_reconstruction),
            (contrast, self.use_contrast),
            ("backtranslation", self.use_backtranslation),
            ("within-group geometry", self.geometry_weight > 0),
            ("within-label Sinkhorn divergence", self.distribution_weight > 0),
            ("latent cycle", self.cycle_weight > 0),
        )
        return (
            f"losses: {', '.join(t for t, on in terms if on)}; alpha={self.alpha}, beta={self.beta}, "
            f"temperature={self.temperature}, variant={self.variant!r}"
        )

    # -- loss terms ---------------------------------------------------------------------------
    def geometry_features(self, x: torch.Tensor, modality: int) -> torch.Tensor:
        """Features whose within-group distances the geometry term preserves (counts: log-normalised)."""
        head = self.heads[str(modality)]
        if head.name == "nb":
            return torch.log1p(x / x.sum(1, keepdim=True).clamp_min(1.0) * 1e4)
        return head.encoder_input(x)

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
        x_1, x_2 = tensors[X_KEYS[1]], tensors[X_KEYS[2]]
        rec_1 = self.reconstruction_nll(generative_outputs["decoded_1"], x_1, 1)
        rec_2 = self.reconstruction_nll(generative_outputs["decoded_2"], x_2, 2)
        z_1, z_2 = inference_outputs["z_1"], inference_outputs["z_2"]
        labels_1, labels_2 = tensors[LABELS_KEYS[1]].reshape(-1), tensors[LABELS_KEYS[2]].reshape(-1)
        options = {
            "group": {"variant": self.variant},
            "ot_refined": {"refinement": refinement, "epsilon": self.ot_epsilon},
            "guided": {"guide": guide, "guide_weight": guide_weight},
        }.get(self.contrast, {})
        with record_function("groove.contrast"):
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
        if self.use_contrast:
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
            batch_1, batch_2 = self.batches(tensors)
            cycle = latent_cycle_loss(
                z_1, self.encode(self.decoded_mean(z_1, 2, batch=batch_1), 2, batch_1)
            ) + latent_cycle_loss(z_2, self.encode(self.decoded_mean(z_2, 1, batch=batch_2), 1, batch_2))
            total = total + self.cycle_weight * cycle
            extra["latent_cycle"] = cycle
        # per-cell terms of modalities of different sizes are concatenated, never summed
        return LossOutput(
            loss=total,
            reconstruction_loss=torch.cat([rec_1, rec_2]),
            extra_metrics={
                "reconstruction_1": rec_1.mean(),
                "reconstruction_2": rec_2.mean(),
                "contrast": gc,
                **extra,
            },
        )

    def backtranslation_loss(self, tensors) -> LossOutput:
        """Second step: ``beta * (rec(D1(E2(x~2)), x1) + rec(D2(E1(x~1)), x2))``."""
        x_1, x_2 = tensors[X_KEYS[1]], tensors[X_KEYS[2]]
        b_1, b_2 = self.batches(tensors)  # each cell stays in its own batch across modalities
        with record_function("groove.pseudo_samples"):
            pseudo_2 = self.translate(x_1, 1, 2, b_1)
            pseudo_1 = self.translate(x_2, 2, 1, b_2)
        back_1 = self.reconstruction_nll(self.decode(self.encode(pseudo_2, 2, b_1), 1, b_1), x_1, 1)
        back_2 = self.reconstruction_nll(self.decode(self.encode(pseudo_1, 1, b_2), 2, b_2), x_2, 2)
        backtranslation = back_1.mean() + back_2.mean()
        return LossOutput(
            loss=self.beta * backtranslation,
            reconstruction_loss=torch.cat([back_1, back_2]),
            extra_metrics={"backtranslation": backtranslation},
        )

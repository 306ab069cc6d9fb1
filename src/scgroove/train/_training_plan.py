"""Two-step training plan: (reconstruction + alpha * GroupCLIP), then beta * backtranslation."""

from __future__ import annotations

from collections.abc import Sequence

import lightning.pytorch as pl
import numpy as np
import scipy.sparse as sp
import torch
from scvi.module.base import LossOutput
from torch.profiler import record_function

from scgroove._constants import REGISTRY_KEYS
from scgroove.module import PairedAutoencoderModule


class GROOVETrainingPlan(pl.LightningModule):
    r"""Lightning plan that takes two optimizer steps on each group-balanced batch.

    Step 1 minimises ``recon_1 + recon_2 + alpha * L_GC``; step 2, when backtranslation is on,
    minimises ``beta * L_bt`` with pseudo-samples translated in inference mode. Manual
    optimisation doubles Lightning's ``global_step`` and forbids the Trainer's gradient clipping,
    so clipping happens here. Every loss term is logged per epoch for training and validation,
    with modality names in the keys (``train_reconstruction_rna``, ``validation_contrast``, ...).

    Parameters
    ----------
    module
        A :class:`~scgroove.module.PairedAutoencoderModule` (GROOVE's or the adversarial VAE's).
    modality_names
        Names of modality 1 and 2, used in the logged keys.
    lr, weight_decay
        Adam settings.
    gradient_clip_val
        Clip the gradient norm of each step to this value (``None``: no clipping).
    guide
        For ``contrast="guided"``: an ``(n1, n2)`` coupling (scipy sparse, rows and columns in the
        registered cells' order) whose block between a batch's cells gives the soft positives.
    guide_weight
        Weight of the guide in the positives (``lambda`` of :func:`~scgroove.losses.guided_clip_loss`);
        it reaches the loss as an argument.
    refinement_warmup_epochs
        For ``contrast="ot_refined"``: the loss gets ``refinement`` = 0 for this many epochs, then a
        linear ramp to 1 over as many (as scvi-tools' plans pass ``kl_weight``); ``None``: no
        ``refinement`` argument.
    """

    def __init__(
        self,
        module: PairedAutoencoderModule,
        modality_names: Sequence[str] = ("1", "2"),
        lr: float = 1e-3,
        weight_decay: float = 1e-6,
        gradient_clip_val: float | None = 10.0,
        guide: sp.spmatrix | None = None,
        guide_weight: float = 1.0,
        refinement_warmup_epochs: int | None = None,
    ):
        super().__init__()
        if module.needs_guide and guide is None:
            raise ValueError('contrast="guided" needs a guide coupling (GROOVE.train builds one).')
        if refinement_warmup_epochs is not None and refinement_warmup_epochs < 0:
            raise ValueError(f"refinement_warmup_epochs must be >= 0, got {refinement_warmup_epochs}.")
        self.refinement_warmup_epochs = refinement_warmup_epochs
        self.module = module
        self.guide = None if guide is None else sp.csr_matrix(guide)
        # schedules and per-batch inputs reach the module's loss as arguments, as scvi-tools' kl_weight
        self.loss_kwargs: dict = {"guide_weight": guide_weight} if guide is not None else {}
        self.modality_names = tuple(modality_names)
        self.lr, self.weight_decay, self.gradient_clip_val = lr, weight_decay, gradient_clip_val
        self.automatic_optimization = False

    def configure_optimizers(self):
        """Adam; its fused kernel where torch has one for the parameters' device.

        Fused Adam takes one kernel for all parameters instead of a loop over them: on CPU the
        optimizer steps of an epoch went from 26% of its time to 2%
        (``benchmarks/train_throughput.py --profile``). It computes the same update up to
        floating-point rounding.
        """
        params = [p for p in self.module.parameters() if p.requires_grad]
        try:
            return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay, fused=True)
        except (RuntimeError, TypeError):  # a device (or a torch) without the fused kernel
            return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)

    def _metric_name(self, key: str) -> str:
        for index, name in ((1, self.modality_names[0]), (2, self.modality_names[1])):
            if key.endswith(f"_{index}"):
                return f"{key[:-2]}_{name}"
        return key

    def _batch_guide(self, batch) -> torch.Tensor | None:
        """The guide coupling's dense block between the batch's cells (small: batch x batch)."""
        if self.guide is None:
            return None
        rows = batch[REGISTRY_KEYS.INDICES_1].cpu().numpy()
        cols = batch[REGISTRY_KEYS.INDICES_2].cpu().numpy()
        block = np.asarray(self.guide[rows][:, cols].todense(), dtype=np.float32)
        return torch.as_tensor(block, device=batch[REGISTRY_KEYS.X_1].device)

    def _first_step(self, batch) -> LossOutput:
        loss_kwargs = dict(self.loss_kwargs)
        if self.guide is not None:
            with record_function("groove.guide_block"):
                loss_kwargs["guide"] = self._batch_guide(batch)
        _, _, first = self.module(batch, loss_kwargs=loss_kwargs)
        return first

    def _losses(self, batch) -> tuple[torch.Tensor, torch.Tensor | None, dict[str, torch.Tensor]]:
        first = self._first_step(batch)
        metrics = dict(first.extra_metrics)
        second = None
        if self.module.backtranslates:
            bt = self.module.backtranslation_loss(batch)
            second = bt.loss
            metrics.update(bt.extra_metrics)
        return first.loss, second, metrics

    def _log_all(self, prefix: str, batch, total: torch.Tensor, metrics: dict[str, torch.Tensor]) -> None:
        # nested batches: Lightning cannot infer the size, so pass it
        batch_size = sum(len(v) for k, v in batch.items() if k.startswith("labels"))
        # sync_dist: under DDP each epoch value is averaged over ranks (a no-op on one device)
        options = {"on_step": False, "on_epoch": True, "batch_size": batch_size, "sync_dist": True}
        self.log(f"{prefix}_loss", total, prog_bar=True, **options)
        for key, value in metrics.items():
            self.log(f"{prefix}_{self._metric_name(key)}", value, **options)

    def _step(self, optimizer, loss: torch.Tensor, name: str) -> None:
        optimizer.zero_grad()
        with record_function(f"groove.{name}.backward"):
            self.manual_backward(loss)
        with record_function(f"groove.{name}.optimizer"):
            if self.gradient_clip_val is not None:
                self.clip_gradients(optimizer, gradient_clip_val=self.gradient_clip_val, gradient_clip_algorithm="norm")
            optimizer.step()

    def on_train_epoch_start(self) -> None:
        """Ramp the refinement weight: 0 during warm-up, then linearly to 1."""
        if self.refinement_warmup_epochs is not None:
            warmup = self.refinement_warmup_epochs
            ramp = (self.current_epoch - warmup + 1) / max(warmup, 1)
            self.loss_kwargs["refinement"] = float(min(max(ramp, 0.0), 1.0))
            self.log("ot_refinement", self.loss_kwargs["refinement"], on_step=False, on_epoch=True)

    def training_step(self, batch, batch_idx):
        """Two optimizer steps; each phase is a ``torch.profiler`` range named ``groove.*``.

        ``benchmarks/train_throughput.py --profile`` reports where an epoch's time goes from them
        (a range costs about a microsecond when no profiler runs).
        """
        optimizer = self.optimizers()
        with record_function("groove.first_step.forward"):
            first = self._first_step(batch)
        self._step(optimizer, first.loss, "first_step")
        metrics = dict(first.extra_metrics)
        total = first.loss.detach()
        if self.module.backtranslates:
            with record_function("groove.backtranslation.forward"):
                bt = self.module.backtranslation_loss(batch)
            self._step(optimizer, bt.loss, "backtranslation")
            metrics.update(bt.extra_metrics)
            total = total + bt.loss.detach()
        with record_function("groove.logging"):
            self._log_all("train", batch, total, metrics)
        # returned for callbacks (scvi-tools' checkpointing checks it for NaN); not backpropagated
        return {"loss": total}

    def validation_step(self, batch, batch_idx):
        first, second, metrics = self._losses(batch)
        total = first if second is None else first + second
        self._log_all("validation", batch, total, metrics)

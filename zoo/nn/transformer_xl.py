"""Transformer-XL layers (Dai et al., "Transformer-XL: Attentive Language Models Beyond a Fixed-Length Context",
ACL 2019), written for encoder-decoder use.

* :class:`RelativeMultiHeadAttention`: the relative positional attention of Sec. 3.3,
  ``A_ij = (W_q x_i + u)^T W_k,E x_j + (W_q x_i + v)^T W_k,R R_{i-j}`` (terms (a)+(c) and (b)+(d)) with sinusoid
  relative encodings ``R`` and the learned global biases ``u`` and ``v``. Keys and values span ``[memory; segment]``.
  Unlike the causal language model of the paper, an encoder also attends to later positions, so distances
  ``i - j`` run over negative values as well; the (b)+(d) term is computed once per distance and gathered per pair
  (equivalent to the paper's "relative shift").
* :class:`TransformerXLEncoder`: segment-level recurrence (Sec. 3.2). The sequence is processed in segments of
  ``segment_len`` tokens; layer ``n`` of segment ``t`` attends over ``SG(h^{n-1}_{t-1..}) ∘ h^{n-1}_t``, the
  stop-gradient (``detach``) memory of at most ``mem_len`` earlier positions, so a dialogue's earlier turns are
  carried as memory.
* :class:`TransformerXLDecoder`: causal relative self-attention, cross-attention to the encoder output, FFN.

Layers are pre-norm (the reference implementation's ``pre_lnorm`` option) with a final LayerNorm, which trains
stably with short CPU budgets.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def sinusoid(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoid encodings ``[len(positions), dim]`` of (possibly negative) positions (Vaswani et al., Sec. 3.5)."""
    inv_freq = 1.0 / (10000 ** (torch.arange(0, dim, 2, device=positions.device, dtype=torch.float32) / dim))
    angles = positions.float()[:, None] * inv_freq[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


def mask_scores(scores: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
    """Set disallowed scores to the most negative float; a row with nothing allowed becomes uniform, not NaN."""
    if allowed is None:
        return scores
    return scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)


class RelativeMultiHeadAttention(nn.Module):
    """Multi-head attention with relative positions and u / v biases (Dai et al. 2019, Sec. 3.3)."""

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.1):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}")
        self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_model // n_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=False)
        self.kv_proj = nn.Linear(d_model, 2 * d_model, bias=False)
        self.r_proj = nn.Linear(d_model, d_model, bias=False)  # W_k,R
        self.out_proj = nn.Linear(d_model, d_model, bias=False)
        self.u = nn.Parameter(torch.zeros(n_heads, self.d_head))
        self.v = nn.Parameter(torch.zeros(n_heads, self.d_head))
        self.dropout = nn.Dropout(dropout)

    def forward(self, query: torch.Tensor, context: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
        """``query`` [B, Q, D] are the last Q positions of ``context`` [B, K, D] (= [memory; segment]).

        ``allowed`` [B or 1, Q, K] is True where query i may attend to key j.
        """
        b, q_len, _ = query.shape
        k_len = context.shape[1]
        m_len = k_len - q_len
        h, dh = self.n_heads, self.d_head
        q = self.q_proj(query).view(b, q_len, h, dh)
        k, v = self.kv_proj(context).view(b, k_len, 2, h, dh).unbind(2)
        # distances i - j for query i (absolute m_len + i) and key j, from k_len - 1 down to -(q_len - 1)
        distances = torch.arange(k_len - 1, -q_len, -1, device=query.device)
        r = self.r_proj(sinusoid(distances, self.d_model).to(query.dtype)).view(-1, h, dh)
        content = torch.einsum("bqhd,bkhd->bhqk", q + self.u, k)  # (a) + (c)
        position_all = torch.einsum("bqhd,nhd->bhqn", q + self.v, r)  # (b) + (d), per distance
        qi = torch.arange(q_len, device=query.device)[:, None]
        kj = torch.arange(k_len, device=query.device)[None, :]
        index = (k_len - 1 - m_len) - qi + kj  # position of distance (m_len + i - j) in `distances`
        position = position_all.gather(-1, index.expand(b, h, q_len, k_len))
        scores = mask_scores((content + position) / math.sqrt(dh), None if allowed is None else allowed[:, None])
        attn = self.dropout(scores.softmax(-1))
        out = torch.einsum("bhqk,bkhd->bqhd", attn, v).reshape(b, q_len, self.d_model)
        return self.out_proj(out)


class FeedForward(nn.Sequential):
    def __init__(self, d_model: int, ffn_dim: int, dropout: float):
        super().__init__(nn.Linear(d_model, ffn_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(ffn_dim, d_model))


class XLEncoderLayer(nn.Module):
    """Pre-norm relative self-attention over ``[memory; segment]`` + FFN."""

    def __init__(self, d_model: int, n_heads: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.norm_attn = nn.LayerNorm(d_model)
        self.attn = RelativeMultiHeadAttention(d_model, n_heads, dropout)
        self.norm_ffn = nn.LayerNorm(d_model)
        self.ffn = FeedForward(d_model, ffn_dim, dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor | None, allowed: torch.Tensor | None) -> torch.Tensor:
        context = x if memory is None else torch.cat([memory, x], dim=1)
        normed = self.norm_attn(context)
        x = x + self.dropout(self.attn(normed[:, context.shape[1] - x.shape[1]:], normed, allowed))
        return x + self.dropout(self.ffn(self.norm_ffn(x)))


class TransformerXLEncoder(nn.Module):
    """A Transformer-XL stack with segment-level recurrence over a long input (Dai et al. 2019, Sec. 3.2).

    ``forward(x, mask)`` splits ``x`` [B, T, D] into segments of ``segment_len`` and runs them in order; each layer
    attends over its stop-gradient memory of at most ``mem_len`` earlier positions plus the current segment. Padded
    positions (``mask`` False) are never attended to. Returns the final-norm outputs [B, T, D].
    """

    def __init__(self, n_layers: int, d_model: int, n_heads: int, ffn_dim: int, dropout: float = 0.1,
                 segment_len: int = 64, mem_len: int = 64):
        super().__init__()
        self.layers = nn.ModuleList(XLEncoderLayer(d_model, n_heads, ffn_dim, dropout) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)
        self.segment_len, self.mem_len = segment_len, mem_len

    def forward_segment(self, x: torch.Tensor, mask: torch.Tensor, memories: list[torch.Tensor] | None,
                        memory_mask: torch.Tensor | None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """One segment: returns the last layer's (un-normed) output and each layer's input (the new memories)."""
        key_mask = mask if memory_mask is None else torch.cat([memory_mask, mask], dim=1)
        allowed = key_mask[:, None, :].expand(-1, x.shape[1], -1)
        inputs = []
        for n, layer in enumerate(self.layers):
            inputs.append(x)
            x = layer(x, None if memories is None else memories[n], allowed)
        return x, inputs

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        memories: list[torch.Tensor] | None = None
        memory_mask: torch.Tensor | None = None
        outputs = []
        for start in range(0, x.shape[1], self.segment_len):
            seg, seg_mask = x[:, start:start + self.segment_len], mask[:, start:start + self.segment_len]
            out, inputs = self.forward_segment(seg, seg_mask, memories, memory_mask)
            outputs.append(out)
            if self.mem_len > 0:
                memories = [(h if memories is None else torch.cat([memories[n], h], 1))[:, -self.mem_len:].detach()
                            for n, h in enumerate(inputs)]
                memory_mask = (seg_mask if memory_mask is None else torch.cat([memory_mask, seg_mask], 1))
                memory_mask = memory_mask[:, -self.mem_len:]
        return self.norm(torch.cat(outputs, dim=1))


class XLDecoderLayer(nn.Module):
    """Pre-norm causal relative self-attention, cross-attention to the encoder, FFN."""

    def __init__(self, d_model: int, n_heads: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.norm_self = nn.LayerNorm(d_model)
        self.self_attn = RelativeMultiHeadAttention(d_model, n_heads, dropout)
        self.norm_cross = nn.LayerNorm(d_model)
        self.cross_attn = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)
        self.norm_ffn = nn.LayerNorm(d_model)
        self.ffn = FeedForward(d_model, ffn_dim, dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, y: torch.Tensor, self_allowed: torch.Tensor, enc: torch.Tensor,
                enc_mask: torch.Tensor) -> torch.Tensor:
        normed = self.norm_self(y)
        y = y + self.dropout(self.self_attn(normed, normed, self_allowed))
        normed = self.norm_cross(y)
        cross, _ = self.cross_attn(normed, enc, enc, key_padding_mask=~enc_mask, need_weights=False)
        y = y + self.dropout(cross)
        return y + self.dropout(self.ffn(self.norm_ffn(y)))


def causal_allowed(length: int, mask: torch.Tensor | None, device: torch.device) -> torch.Tensor:
    """[B or 1, T, T]: position i may attend to j <= i (and j is not padding)."""
    allowed = torch.ones(length, length, dtype=torch.bool, device=device).tril()[None]
    return allowed if mask is None else allowed & mask[:, None, :]


class TransformerXLDecoder(nn.Module):
    """Decoder stack: causal relative self-attention + cross-attention (returns final-norm states [B, T, D])."""

    def __init__(self, n_layers: int, d_model: int, n_heads: int, ffn_dim: int, dropout: float = 0.1):
        super().__init__()
        self.layers = nn.ModuleList(XLDecoderLayer(d_model, n_heads, ffn_dim, dropout) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)

    def forward(self, y: torch.Tensor, mask: torch.Tensor | None, enc: torch.Tensor,
                enc_mask: torch.Tensor) -> torch.Tensor:
        allowed = causal_allowed(y.shape[1], mask, y.device)
        for layer in self.layers:
            y = layer(y, allowed, enc, enc_mask)
        return self.norm(y)


class AbsoluteEncoder(nn.Module):
    """The vanilla Transformer encoder of the ablation: sinusoid absolute positions, no memory."""

    def __init__(self, n_layers: int, d_model: int, n_heads: int, ffn_dim: int, dropout: float = 0.1):
        super().__init__()
        layer = nn.TransformerEncoderLayer(d_model, n_heads, ffn_dim, dropout, activation=F.gelu, batch_first=True,
                                           norm_first=True)
        self.layers = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + sinusoid(torch.arange(x.shape[1], device=x.device), x.shape[-1]).to(x.dtype)
        return self.norm(self.layers(x, src_key_padding_mask=~mask))


class AbsoluteDecoder(nn.Module):
    """The vanilla Transformer decoder of the ablation: absolute positions, causal self-attention, cross-attention."""

    def __init__(self, n_layers: int, d_model: int, n_heads: int, ffn_dim: int, dropout: float = 0.1):
        super().__init__()
        layer = nn.TransformerDecoderLayer(d_model, n_heads, ffn_dim, dropout, activation=F.gelu, batch_first=True,
                                           norm_first=True)
        self.layers = nn.TransformerDecoder(layer, n_layers)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, y: torch.Tensor, mask: torch.Tensor | None, enc: torch.Tensor,
                enc_mask: torch.Tensor) -> torch.Tensor:
        y = y + sinusoid(torch.arange(y.shape[1], device=y.device), y.shape[-1]).to(y.dtype)
        causal = ~torch.ones(y.shape[1], y.shape[1], dtype=torch.bool, device=y.device).tril()
        out = self.layers(y, enc, tgt_mask=causal, tgt_key_padding_mask=None if mask is None else ~mask,
                          memory_key_padding_mask=~enc_mask)
        return self.norm(out)

"""Multimodal fusion of frame-aligned modality sequences, as benchmarked on BAH (the release's ``constants.py``
names LFAN and CAN after arXiv 2203.13031, MT and JMT after arXiv 2403.10488).

Every fusion maps a list of ``M`` sequences ``[B, T, D]`` (one per modality, the first is the *leader*) and a mask
``[B, T]`` (True on real frames) to one sequence ``[B, T, out_dim]``:

- :class:`LeaderFollowerFusion` (LFAN; Zhang et al., "Continuous Emotion Recognition with Audio-visual
  Leader-follower Attentive Fusion", arXiv 2203.13031): at every time step the modalities attend to each other
  (scaled dot-product attention over the ``M`` modality tokens), the attended followers are averaged, and the
  leader's own features are concatenated to the result, so the leader is never diluted by weaker followers.
- :class:`CrossAttentionFusion` (CAN): each modality attends over time to the other modalities' sequences
  (multi-head cross-attention, residual + LayerNorm); the outputs are concatenated and projected.
- :class:`MultimodalTransformerFusion` (MT; the baseline of Waligora et al., "Joint Multimodal Transformer for
  Emotion Recognition in the Wild", CVPRW 2024, arXiv 2403.10488): one cross-modal transformer block for every
  ordered pair (query modality i, key/value modality j != i), outputs concatenated, then a self-attention
  transformer layer.
- :class:`JointMultimodalTransformerFusion` (JMT; ibid.): MT plus a *joint* representation (a linear
  projection of all modalities concatenated) that each modality cross-attends to and that cross-attends to each
  modality, all concatenated before the self-attention layer.
- :class:`ConcatFusion`: concatenation and projection (early fusion baseline; identity-like for one modality).
"""
from __future__ import annotations

import torch
from torch import nn

from zoo.errors import ConfigError


def _kpm(mask: torch.Tensor | None) -> torch.Tensor | None:
    """Key padding mask for ``nn.MultiheadAttention``: True where a key is padding."""
    return None if mask is None else ~mask.bool()


def _zero_pad(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return x if mask is None else x * mask.unsqueeze(-1).to(x.dtype)


class CrossModalBlock(nn.Module):
    """Pre-norm cross-attention (query from one sequence, keys/values from another) + feed-forward, both residual."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.norm_q, self.norm_kv, self.norm_ff = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * dim, dim))

    def forward(self, query: torch.Tensor, context: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        kv = self.norm_kv(context)
        h = query + self.attn(self.norm_q(query), kv, kv, key_padding_mask=_kpm(mask), need_weights=False)[0]
        return h + self.ff(self.norm_ff(h))


class ConcatFusion(nn.Module):
    def __init__(self, num_modalities: int, dim: int, out_dim: int, **_):
        super().__init__()
        self.proj = nn.Sequential(nn.Linear(num_modalities * dim, out_dim), nn.ReLU())

    def forward(self, xs: list[torch.Tensor], mask: torch.Tensor | None = None) -> torch.Tensor:
        return _zero_pad(self.proj(torch.cat(xs, dim=-1)), mask)


class LeaderFollowerFusion(nn.Module):
    """LFAN (see the module docstring). Output ``[leader ; mean_m attended_m]`` projected to ``out_dim``."""

    def __init__(self, num_modalities: int, dim: int, out_dim: int, **_):
        super().__init__()
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.scale = dim**-0.5
        self.proj = nn.Sequential(nn.Linear(2 * dim, out_dim), nn.ReLU())
        self.last_weights: torch.Tensor | None = None

    def forward(self, xs: list[torch.Tensor], mask: torch.Tensor | None = None) -> torch.Tensor:
        tokens = torch.stack(xs, dim=2)  # [B, T, M, D]
        scores = self.q(tokens) @ self.k(tokens).transpose(-1, -2) * self.scale  # [B, T, M, M]
        weights = scores.softmax(-1)
        self.last_weights = weights.detach()
        attended = (weights @ self.v(tokens)).mean(dim=2)  # [B, T, D]
        return _zero_pad(self.proj(torch.cat([xs[0], attended], dim=-1)), mask)


class CrossAttentionFusion(nn.Module):
    """CAN (see the module docstring)."""

    def __init__(self, num_modalities: int, dim: int, out_dim: int, heads: int = 2, dropout: float = 0.1, **_):
        super().__init__()
        if num_modalities < 2:
            raise ConfigError("cross-attention fusion needs at least two modalities")
        self.blocks = nn.ModuleList(CrossModalBlock(dim, heads, dropout) for _ in range(num_modalities))
        self.proj = nn.Sequential(nn.Linear(num_modalities * dim, out_dim), nn.ReLU())

    def forward(self, xs: list[torch.Tensor], mask: torch.Tensor | None = None) -> torch.Tensor:
        outs = []
        for i, block in enumerate(self.blocks):
            others = [x for j, x in enumerate(xs) if j != i]
            context = torch.cat(others, dim=1)  # the other modalities' time steps, one after the other
            context_mask = None if mask is None else torch.cat([mask] * len(others), dim=1)
            outs.append(block(xs[i], context, context_mask))
        return _zero_pad(self.proj(torch.cat(outs, dim=-1)), mask)


class MultimodalTransformerFusion(nn.Module):
    """MT (see the module docstring)."""

    joint = False

    def __init__(self, num_modalities: int, dim: int, out_dim: int, heads: int = 2, dropout: float = 0.1, **_):
        super().__init__()
        if num_modalities < 2:
            raise ConfigError(f"{type(self).__name__} needs at least two modalities")
        self.pairs = [(i, j) for i in range(num_modalities) for j in range(num_modalities) if i != j]
        self.cross = nn.ModuleList(CrossModalBlock(dim, heads, dropout) for _ in self.pairs)
        n_streams = len(self.pairs)
        if self.joint:
            self.joint_proj = nn.Linear(num_modalities * dim, dim)
            self.to_joint = nn.ModuleList(CrossModalBlock(dim, heads, dropout) for _ in range(num_modalities))
            self.from_joint = nn.ModuleList(CrossModalBlock(dim, heads, dropout) for _ in range(num_modalities))
            n_streams += 2 * num_modalities
        self.merge = nn.Linear(n_streams * dim, out_dim)
        self.self_attn = nn.TransformerEncoderLayer(out_dim, heads, 2 * out_dim, dropout, batch_first=True,
                                                    norm_first=True)

    def streams(self, xs: list[torch.Tensor], mask: torch.Tensor | None) -> list[torch.Tensor]:
        return [block(xs[i], xs[j], mask) for (i, j), block in zip(self.pairs, self.cross, strict=True)]

    def forward(self, xs: list[torch.Tensor], mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.merge(torch.cat(self.streams(xs, mask), dim=-1))
        h = self.self_attn(h, src_key_padding_mask=_kpm(mask))
        return _zero_pad(h, mask)


class JointMultimodalTransformerFusion(MultimodalTransformerFusion):
    """JMT (see the module docstring)."""

    joint = True

    def streams(self, xs: list[torch.Tensor], mask: torch.Tensor | None) -> list[torch.Tensor]:
        joint = self.joint_proj(torch.cat(xs, dim=-1))
        out = super().streams(xs, mask)
        out += [block(x, joint, mask) for x, block in zip(xs, self.to_joint, strict=True)]
        out += [block(joint, x, mask) for x, block in zip(xs, self.from_joint, strict=True)]
        return out


FUSIONS = {
    "concat": ConcatFusion,
    "lfan": LeaderFollowerFusion,
    "can": CrossAttentionFusion,
    "mt": MultimodalTransformerFusion,
    "jmt": JointMultimodalTransformerFusion,
}


def build_fusion(name: str, num_modalities: int, dim: int, out_dim: int, heads: int = 2,
                 dropout: float = 0.1) -> nn.Module:
    """A fusion by name (``concat``, ``lfan``, ``can``, ``mt``, ``jmt``; case-insensitive)."""
    try:
        cls = FUSIONS[name.lower()]
    except KeyError:
        raise ConfigError(f"unknown fusion {name!r}; known: {sorted(FUSIONS)}") from None
    return cls(num_modalities=num_modalities, dim=dim, out_dim=out_dim, heads=heads, dropout=dropout)

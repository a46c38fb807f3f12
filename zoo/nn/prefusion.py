"""The AffectGPT pre-fusion "multi" token (Lian et al., "AffectGPT", ICML 2025, Sec. 4.2, Fig. 3).

Each modality is mean-pooled over time and projected to ``d = max(d_audio, d_visual)``; the concatenation
``[a; v]`` (2d) goes through ``Linear(2d -> d)`` and ``Linear(d -> 2)`` to give one weight per modality, and the
fused feature is ``w_a a + w_v v`` (weights normalised with a softmax), followed by an output projection. The
result is the single token placed at ``<MultiHere>``.
"""
from __future__ import annotations

import torch
from torch import nn

from zoo.nn.temporal_fusion import MeanPool


class PreFusion(nn.Module):
    def __init__(self, audio_dim: int, visual_dim: int, out_dim: int | None = None):
        super().__init__()
        d = max(audio_dim, visual_dim)
        self.pool = MeanPool()
        self.audio_proj = nn.Linear(audio_dim, d)
        self.visual_proj = nn.Linear(visual_dim, d)
        self.hidden = nn.Linear(2 * d, d)
        self.weights = nn.Linear(d, 2)
        self.out = nn.Linear(d, out_dim or d)

    def forward(self, audio: torch.Tensor, visual: torch.Tensor, audio_mask: torch.Tensor | None = None,
                visual_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``[B, Ta, da], [B, Tv, dv] -> [B, 1, out_dim]``."""
        a = self.audio_proj(self.pool(audio, audio_mask))  # [B, 1, d]
        v = self.visual_proj(self.pool(visual, visual_mask))
        w = self.weights(self.hidden(torch.cat([a, v], dim=-1))).softmax(dim=-1)  # [B, 1, 2]
        fused = w[..., :1] * a + w[..., 1:] * v
        return self.out(fused)

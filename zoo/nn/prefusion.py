"""The AffectGPT pre-fusion "multi" token (Lian et al., "AffectGPT", ICML 2025, Sec. 4.2, Fig. 3), as the reference
code computes it (``zeroQiaoba/AffectGPT``, ``encode_multi_attention``, multi_fusion_type ``attention``):

    v = W_v mean_t(H_v),  a = W_a mean_t(H_a)              (both projected to d = max(d_visual, d_audio))
    [w_v, w_a] = fc_att(attention_mlp([v; a]))              (Linear(2d -> d) then Linear(d -> 2), no activation)
    fused = w_v v + w_a a                                   (the RAW fc_att outputs: no softmax, no normalisation)
    token = W_out fused                                     (-> LLM width), repeated ``num_tokens`` times

so the weights are unconstrained real numbers (they can be negative or sum to anything), and the ``num_tokens``
copies are identical (the reference expands the one projected vector over ``num_multi_query_token`` placeholder
positions). The ``[v; a]`` concatenation order and the ``[w_v, w_a]`` weight order follow the reference.
"""
from __future__ import annotations

import torch
from torch import nn

from zoo.nn.temporal_fusion import MeanPool


class PreFusion(nn.Module):
    """``(audio [B, Ta, da], visual [B, Tv, dv]) -> [B, num_tokens, out_dim]`` (see the module docstring).

    Module names: ``audio_proj`` / ``visual_proj`` (the reference's ``multi_audio_embs`` / ``multi_video_embs``),
    ``hidden`` (``attention_mlp``), ``weights`` (``fc_att``), ``out`` (``multi_llama_proj``).
    """

    def __init__(self, audio_dim: int, visual_dim: int, out_dim: int | None = None, num_tokens: int = 1):
        super().__init__()
        if num_tokens < 1:
            raise ValueError(f"num_tokens must be >= 1, got {num_tokens}")
        d = max(audio_dim, visual_dim)
        self.num_tokens = num_tokens
        self.pool = MeanPool()
        self.audio_proj = nn.Linear(audio_dim, d)
        self.visual_proj = nn.Linear(visual_dim, d)
        self.hidden = nn.Linear(2 * d, d)
        self.weights = nn.Linear(d, 2)
        self.out = nn.Linear(d, out_dim or d)

    def modality_weights(self, audio: torch.Tensor, visual: torch.Tensor, audio_mask: torch.Tensor | None = None,
                         visual_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(w [B, 1, 2] = raw [w_visual, w_audio], v [B, 1, d], a [B, 1, d])``."""
        a = self.audio_proj(self.pool(audio, audio_mask))  # [B, 1, d]
        v = self.visual_proj(self.pool(visual, visual_mask))
        w = self.weights(self.hidden(torch.cat([v, a], dim=-1)))  # [B, 1, 2], no softmax (reference)
        return w, v, a

    def forward(self, audio: torch.Tensor, visual: torch.Tensor, audio_mask: torch.Tensor | None = None,
                visual_mask: torch.Tensor | None = None) -> torch.Tensor:
        w, v, a = self.modality_weights(audio, visual, audio_mask, visual_mask)
        fused = w[..., :1] * v + w[..., 1:] * a
        return self.out(fused).expand(-1, self.num_tokens, -1)

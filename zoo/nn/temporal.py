"""Temporal convolutional network (TCN; Bai, Kolter & Koltun, "An Empirical Evaluation of Generic Convolutional and
Recurrent Networks for Sequence Modeling", 2018, Sec. 3).

A stack of residual blocks; block ``i`` holds two dilated 1-D convolutions with dilation ``2**i`` (Sec. 3.2),
weight normalisation, ReLU and dropout, and a residual connection with a 1x1 convolution where the width changes
(Sec. 3.3). The BAH baselines run one TCN per modality over frame features (kernel size 5). ``causal=True`` pads on
the left only (the paper's causal convolutions); the default pads both sides so that frame ``t`` sees its past and
future, as offline video labelling allows. Padded time steps (``mask`` False) are zeroed before every convolution,
so they never leak into real positions.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


class TemporalBlock(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, kernel_size: int, dilation: int, dropout: float, causal: bool):
        super().__init__()
        self.pad_total = (kernel_size - 1) * dilation
        self.causal = causal
        self.conv1 = weight_norm(nn.Conv1d(in_dim, out_dim, kernel_size, dilation=dilation))
        self.conv2 = weight_norm(nn.Conv1d(out_dim, out_dim, kernel_size, dilation=dilation))
        self.dropout = nn.Dropout(dropout)
        self.residual = nn.Conv1d(in_dim, out_dim, 1) if in_dim != out_dim else nn.Identity()

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        left = self.pad_total if self.causal else self.pad_total // 2
        return nn.functional.pad(x, (left, self.pad_total - left))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """``x [B, C, T]``, ``mask [B, 1, T]`` (1.0 on real steps)."""
        if mask is not None:
            x = x * mask
        h = self.dropout(torch.relu(self.conv1(self._pad(x))))
        if mask is not None:
            h = h * mask
        h = self.dropout(torch.relu(self.conv2(self._pad(h))))
        out = torch.relu(h + self.residual(x))
        return out * mask if mask is not None else out


class TCN(nn.Module):
    """``[B, T, in_dim] -> [B, T, channels[-1]]``.

    Args:
        in_dim: input feature size.
        channels: output width of each residual block (block ``i`` has dilation ``2**i``).
        kernel_size: convolution width (5 in the BAH baselines).
        dropout: dropout after each convolution.
        causal: left-only padding.
    """

    def __init__(self, in_dim: int, channels: Sequence[int], kernel_size: int = 5, dropout: float = 0.1,
                 causal: bool = False):
        super().__init__()
        dims = [in_dim, *channels]
        self.blocks = nn.ModuleList(
            TemporalBlock(dims[i], dims[i + 1], kernel_size, 2**i, dropout, causal) for i in range(len(channels)))
        self.out_dim = dims[-1]

    @property
    def receptive_field(self) -> int:
        return 1 + sum(2 * b.pad_total for b in self.blocks)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        h = x.transpose(1, 2)
        m = mask.unsqueeze(1).to(h.dtype) if mask is not None else None
        for block in self.blocks:
            h = block(h, m)
        return h.transpose(1, 2)

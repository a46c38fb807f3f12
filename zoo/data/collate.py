"""One collate for every modality: stack what has equal shapes, pad what varies in length and return masks.

The batch contract (see DESIGN.md): a dict keyed by modality (``image``, ``audio`` + ``audio_mask``, ``video`` +
``video_mask``, ``input_ids`` + ``attention_mask``, ...) and targets. Variable-length tensors vary along their first
dimension; they are right-padded and get a boolean mask ``[batch, time]`` that is True on real positions.
"""
from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import torch

MASK_NAMES = {"input_ids": "attention_mask"}
"""Keys whose mask has a conventional name other than ``<key>_mask``."""

PAD_VALUES = {"labels": -100, "frame_labels": -1}
"""Padding for target sequences, so that padded positions are ignored by the losses."""


def mask_name(key: str) -> str:
    return MASK_NAMES.get(key, f"{key}_mask")


def pad_sequence(values: Sequence[torch.Tensor], pad_value: float = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad tensors that differ in their first dimension; returns (padded ``[B, T, ...]``, mask ``[B, T]``)."""
    lengths = torch.tensor([v.shape[0] for v in values])
    out = values[0].new_full((len(values), int(lengths.max()), *values[0].shape[1:]), pad_value)
    for i, v in enumerate(values):
        out[i, : v.shape[0]] = v
    mask = torch.arange(int(lengths.max()))[None, :] < lengths[:, None]
    return out, mask


def pad_collate(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Collate a list of sample dicts into a batch dict.

    Tensors of equal shape are stacked; tensors that differ only in their first dimension are padded (with
    ``PAD_VALUES.get(key, 0)``) and a mask is added unless the samples already carry one. Numbers become tensors;
    anything else (ids, paths, strings, dicts) is kept as a list.
    """
    if not samples:
        raise ValueError("cannot collate an empty list of samples")
    keys = list(samples[0])
    for i, s in enumerate(samples[1:], 1):
        if list(s) != keys:
            raise ValueError(f"sample {i} has keys {sorted(s)}, sample 0 has {sorted(keys)}")
    batch: dict[str, Any] = {}
    for key in keys:
        values = [s[key] for s in samples]
        first = values[0]
        if isinstance(first, torch.Tensor):
            if all(v.shape == first.shape for v in values):
                batch[key] = torch.stack(values)
            elif all(v.dim() == first.dim() and v.shape[1:] == first.shape[1:] for v in values):
                padded, mask = pad_sequence(values, PAD_VALUES.get(key, 0))
                batch[key] = padded
                if mask_name(key) not in keys:
                    batch[mask_name(key)] = mask
            else:
                shapes = sorted({tuple(v.shape) for v in values})
                raise ValueError(f"'{key}' tensors differ beyond their first dimension: {shapes[:4]}")
        elif isinstance(first, bool | numbers.Number) and all(isinstance(v, bool | numbers.Number) for v in values):
            batch[key] = torch.tensor(values)
        else:
            batch[key] = values
    return batch


def batch_size(batch: dict[str, Any]) -> int:
    for value in batch.values():
        if isinstance(value, torch.Tensor) and value.dim() > 0:
            return int(value.shape[0])
        if isinstance(value, list):
            return len(value)
    raise ValueError("batch holds no tensor or list to count")

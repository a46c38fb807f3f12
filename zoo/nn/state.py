"""Reading and strictly loading state dicts, with errors that name the file and the tensor."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from zoo.errors import CheckpointError


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors from a safetensors file or a ``weights_only`` torch file (never an arbitrary pickle)."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # safetensors / torch raise several types on corrupt or foreign files
        raise CheckpointError(path, f"weights could not be read safely ({exc})") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(path, "not a state dict of tensors")
    return state


def load_state_strict(module: nn.Module, state: dict[str, torch.Tensor], source: str | Path,
                      what: str = "the model") -> None:
    """Load ``state`` into ``module``; a missing, unexpected or mis-shaped tensor is a :class:`CheckpointError`
    naming ``source``."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise CheckpointError(source, f"weights do not fit {what}: missing {missing[:4]}, unexpected {unexpected[:4]}")
    bad = [k for k in own if own[k].shape != state[k].shape]
    if bad:
        raise CheckpointError(source, f"tensor {bad[0]} has shape {tuple(state[bad[0]].shape)}, {what} expects "
                                      f"{tuple(own[bad[0]].shape)}")
    module.load_state_dict(state, strict=True)

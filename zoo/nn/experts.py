"""Per-dimension regression experts on Whisper encoder states (Empathic-Insight-Voice; Schuhmann et al.,
"EmoNet-Voice: A Fine-Grained, Expert-Verified Benchmark for Speech Emotion Detection", 2025, the Empathic Insight
models; head shapes from the released model cards).

One expert per emotion dimension, as in the released model cards::

    FullEmbeddingMLP:    x [T, D] -> flatten (T*D = 1500*768 = 1,152,000) -> proj: Linear(T*D -> P)
                         -> ReLU -> Dropout(d0) -> [Linear -> ReLU -> Dropout(d_i)] per hidden width -> Linear(-> 1)
    PooledEmbeddingMLP:  x [T, D] -> concat(mean, min, max, std over T) (4*D = 3072) -> the same proj + MLP

Small: P=64, hidden (64, 32, 16); Large: P=128, hidden (128, 64, 32); dropouts (0.0, 0.1, 0.1, 0.1).

:class:`ExpertBank` holds K such experts as stacked tensors. Its fused path evaluates them all at once: one GEMM
``[B, F] x [F, K*P]`` for the K projections, then one batched matmul per MLP layer (``[K, B, in] x [K, in, out]``);
:meth:`ExpertBank.one_by_one` runs the same experts sequentially, and :meth:`ExpertBank.expert` exports expert k
as a stand-alone :class:`FullEmbeddingMLP` / :class:`PooledEmbeddingMLP` in the released module layout.

Released expert files (``model_<Name>_best.pth``, a state dict per expert) are read with
``torch.load(weights_only=True)`` by :func:`read_expert_file`.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from zoo.errors import CheckpointError, ConfigError

SMALL_HEAD = {"projection_dim": 64, "hidden_dims": [64, 32, 16], "dropouts": [0.0, 0.1, 0.1, 0.1]}
LARGE_HEAD = {"projection_dim": 128, "hidden_dims": [128, 64, 32], "dropouts": [0.0, 0.1, 0.1, 0.1]}
POOLINGS = ("mean", "min", "max", "std")


def expert_file_name(dimension: str) -> str:
    """The released file name of a dimension's expert: "/" and spaces become "_" (``model_Pleasure_Ecstasy_best.pth``,
    ``model_Jealousy_&_Envy_best.pth``)."""
    return f"model_{dimension.replace('/', '_').replace(' ', '_')}_best.pth"


def pool_states(x: torch.Tensor) -> torch.Tensor:
    """``[B, T, D] -> [B, 4D]``: mean, min, max and standard deviation (torch's default, unbiased) over time."""
    return torch.cat([x.mean(1), x.amin(1), x.amax(1), x.std(1)], dim=-1)


def _mlp_layers(projection_dim: int, hidden_dims: Sequence[int], dropouts: Sequence[float]) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.ReLU(), nn.Dropout(dropouts[0])]
    width = projection_dim
    for i, h in enumerate(hidden_dims):
        layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropouts[i + 1])]
        width = h
    layers.append(nn.Linear(width, 1))
    return layers


def _check_head(hidden_dims: Sequence[int], dropouts: Sequence[float]) -> None:
    if len(dropouts) != len(hidden_dims) + 1:
        raise ConfigError(f"need one dropout rate per hidden layer plus one after the projection: "
                          f"{len(hidden_dims)} hidden dims, {len(dropouts)} dropouts")


class FullEmbeddingMLP(nn.Module):
    """One expert on the flattened encoder states (module layout of the released files: ``proj``, ``mlp``)."""

    def __init__(self, seq_len: int = 1500, embed_dim: int = 768, projection_dim: int = 64,
                 hidden_dims: Sequence[int] = (64, 32, 16), dropouts: Sequence[float] = (0.0, 0.1, 0.1, 0.1)):
        super().__init__()
        _check_head(hidden_dims, dropouts)
        self.flatten = nn.Flatten()
        self.proj = nn.Linear(seq_len * embed_dim, projection_dim)
        self.mlp = nn.Sequential(*_mlp_layers(projection_dim, hidden_dims, dropouts))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, T, D] -> [B]``."""
        return self.mlp(self.proj(self.flatten(x))).squeeze(-1)


class PooledEmbeddingMLP(nn.Module):
    """One expert on mean/min/max/std-pooled encoder states (the 3072-d variant of Empathic-Insight-Voice-Plus)."""

    def __init__(self, embed_dim: int = 768, projection_dim: int = 64, hidden_dims: Sequence[int] = (64, 32, 16),
                 dropouts: Sequence[float] = (0.0, 0.1, 0.1, 0.1)):
        super().__init__()
        _check_head(hidden_dims, dropouts)
        self.proj = nn.Linear(len(POOLINGS) * embed_dim, projection_dim)
        self.mlp = nn.Sequential(*_mlp_layers(projection_dim, hidden_dims, dropouts))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.proj(pool_states(x))).squeeze(-1)


class ExpertBank(nn.Module):
    """K experts of one shape, stored stacked so that all of them run as one GEMM plus grouped matmuls.

    Args:
        num_experts: K.
        seq_len / embed_dim: encoder states ``[T, D]`` the experts read.
        projection_dim / hidden_dims / dropouts: the head (:data:`SMALL_HEAD`, :data:`LARGE_HEAD`).
        pooled: False: flatten ``T*D`` (FullEmbeddingMLP); True: ``4*D`` pooled statistics (PooledEmbeddingMLP).
    """

    def __init__(self, num_experts: int, seq_len: int, embed_dim: int, projection_dim: int = 64,
                 hidden_dims: Sequence[int] = (64, 32, 16), dropouts: Sequence[float] = (0.0, 0.1, 0.1, 0.1),
                 pooled: bool = False):
        super().__init__()
        _check_head(hidden_dims, dropouts)
        self.num_experts = num_experts
        self.seq_len, self.embed_dim = seq_len, embed_dim
        self.projection_dim = projection_dim
        self.hidden_dims = list(hidden_dims)
        self.dropouts = list(dropouts)
        self.pooled = pooled
        self.in_features = len(POOLINGS) * embed_dim if pooled else seq_len * embed_dim
        widths = [projection_dim, *self.hidden_dims, 1]
        self.proj_weight = nn.Parameter(torch.empty(num_experts, projection_dim, self.in_features))
        self.proj_bias = nn.Parameter(torch.empty(num_experts, projection_dim))
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.empty(num_experts, o, i)) for i, o in zip(widths[:-1], widths[1:], strict=True)])
        self.biases = nn.ParameterList([nn.Parameter(torch.empty(num_experts, o)) for o in widths[1:]])
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """``nn.Linear``'s default initialisation, expert by expert."""
        for k in range(self.num_experts):
            for weight, bias in zip([self.proj_weight, *self.weights], [self.proj_bias, *self.biases], strict=True):
                layer = nn.Linear(weight.shape[2], weight.shape[1])
                weight[k].copy_(layer.weight)
                bias[k].copy_(layer.bias)

    def inputs(self, states: torch.Tensor) -> torch.Tensor:
        """``[B, T, D]`` encoder states -> ``[B, F]`` expert inputs (flattened or pooled)."""
        if states.dim() != 3 or states.shape[-1] != self.embed_dim or (
                not self.pooled and states.shape[1] != self.seq_len):
            want = f"[B, {'T' if self.pooled else self.seq_len}, {self.embed_dim}]"
            raise ConfigError(f"experts expect encoder states {want}, got {list(states.shape)}")
        return pool_states(states) if self.pooled else states.flatten(1)

    def _dropout(self, h: torch.Tensor, p: float) -> torch.Tensor:
        return F.dropout(h, p, self.training) if p > 0 else h

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        """Fused path: ``[B, T, D] -> [B, K]``."""
        x = self.inputs(states)
        k, p = self.num_experts, self.projection_dim
        h = F.linear(x, self.proj_weight.reshape(k * p, -1), self.proj_bias.reshape(-1))  # one GEMM, [B, K*P]
        h = h.view(x.shape[0], k, p).transpose(0, 1)  # [K, B, P]
        h = self._dropout(h.relu(), self.dropouts[0])
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))  # grouped: [K, B, in] x [K, in, out]
            if i < last:
                h = self._dropout(h.relu(), self.dropouts[i + 1])
        return h.squeeze(-1).transpose(0, 1)

    def one_by_one(self, states: torch.Tensor) -> torch.Tensor:
        """The same experts run sequentially, each as its own projection and MLP (the released inference loop)."""
        x = self.inputs(states)
        outputs = []
        last = len(self.weights) - 1
        for k in range(self.num_experts):
            h = self._dropout(F.linear(x, self.proj_weight[k], self.proj_bias[k]).relu(), self.dropouts[0])
            for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
                h = F.linear(h, w[k], b[k])
                if i < last:
                    h = self._dropout(h.relu(), self.dropouts[i + 1])
            outputs.append(h.squeeze(-1))
        return torch.stack(outputs, dim=-1)

    # -- per-expert import / export in the released layout ------------------------------------------------------
    def expert(self, k: int, share: bool = False) -> FullEmbeddingMLP | PooledEmbeddingMLP:
        """Expert ``k`` as a stand-alone module (copied, or with ``share=True`` viewing this bank's storage)."""
        if self.pooled:
            module: nn.Module = PooledEmbeddingMLP(self.embed_dim, self.projection_dim, self.hidden_dims,
                                                   self.dropouts)
        else:
            module = FullEmbeddingMLP(self.seq_len, self.embed_dim, self.projection_dim, self.hidden_dims,
                                      self.dropouts)
        linears = [module.proj, *[m for m in module.mlp if isinstance(m, nn.Linear)]]
        sources = zip([self.proj_weight, *self.weights], [self.proj_bias, *self.biases], strict=True)
        for layer, (w, b) in zip(linears, sources, strict=True):
            if share:
                layer.weight = nn.Parameter(w.detach()[k], requires_grad=False)
                layer.bias = nn.Parameter(b.detach()[k], requires_grad=False)
            else:
                with torch.no_grad():
                    layer.weight.copy_(w[k])
                    layer.bias.copy_(b[k])
        return module.train(self.training)

    def expected_shapes(self) -> list[tuple[tuple[int, int], tuple[int]]]:
        """(weight, bias) shapes of the projection and each MLP linear layer of one expert."""
        return [((w.shape[1], w.shape[2]), (w.shape[1],)) for w in [self.proj_weight, *self.weights]]

    @torch.no_grad()
    def load_expert(self, k: int, layers: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Copy one expert's ``[(weight, bias)]`` (projection first) into slot ``k``."""
        targets = zip([self.proj_weight, *self.weights], [self.proj_bias, *self.biases], strict=True)
        for (w, b), (tw, tb) in zip(layers, targets, strict=True):
            tw[k].copy_(w)
            tb[k].copy_(b)


_MLP_KEY = re.compile(r"^mlp\.(\d+)\.(weight|bias)$")


def read_expert_file(path: str | Path, bank: ExpertBank) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Read a released expert state dict and check it against ``bank``'s expert shape.

    Accepted keys: ``proj.{weight,bias}`` and ``mlp.<i>.{weight,bias}`` for the MLP's linear layers, optionally
    prefixed ``_orig_mod.`` (``torch.compile``) or ``module.``. The linear layers are taken in index order; public
    loaders of the released files build ``mlp`` as [ReLU, Dropout, Linear, ReLU, Dropout, Linear, ...] (indices 2, 5,
    8, 11), and a layout without the leading activation gives 1, 4, 7, 10; both are accepted, any other extra key or a
    shape that does not fit is a :class:`CheckpointError` naming the file and the tensor.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "expert file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or non-tensor pickles
        raise CheckpointError(path, f"not a tensor state dict loadable with weights_only=True ({exc})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(path, "expected a state dict of tensors")
    clean: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        for prefix in ("_orig_mod.", "module."):
            key = key.removeprefix(prefix)
        clean[key] = value
    mlp = sorted({int(m.group(1)) for key in clean if (m := _MLP_KEY.match(key))})
    allowed = {"proj.weight", "proj.bias"} | {f"mlp.{i}.{t}" for i in mlp for t in ("weight", "bias")}
    unexpected = sorted(set(clean) - allowed)
    missing = sorted(allowed - set(clean))
    shapes = bank.expected_shapes()
    if unexpected or missing:
        raise CheckpointError(path, f"keys do not form a {len(shapes) - 1}-layer expert: missing {missing[:4]}, "
                                    f"unexpected {unexpected[:4]}")
    if len(mlp) != len(shapes) - 1:
        raise CheckpointError(path, f"the MLP has {len(mlp)} linear layers (mlp.{mlp}); the model's expert head has "
                                    f"{len(shapes) - 1} (hidden dims {bank.hidden_dims})")
    names = ["proj", *[f"mlp.{i}" for i in mlp]]
    layers = []
    for name, (w_shape, b_shape) in zip(names, shapes, strict=True):
        w, b = clean[f"{name}.weight"], clean[f"{name}.bias"]
        if tuple(w.shape) != w_shape or tuple(b.shape) != b_shape:
            raise CheckpointError(path, f"{name} has weight {tuple(w.shape)} / bias {tuple(b.shape)}, the expert "
                                        f"expects {w_shape} / {b_shape}")
        layers.append((w.float(), b.float()))
    return layers

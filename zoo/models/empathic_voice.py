"""Empathic-Insight-Voice: a frozen Whisper encoder and one regression expert per emotion dimension (Schuhmann et
al., "EmoNet-Voice: A Fine-Grained, Expert-Verified Benchmark for Speech Emotion Detection", 2025, the Empathic
Insight models; the released Empathic-Insight-Voice-Small / -Large model cards).

Pipeline::

    audio -> 16 kHz mono, pad/trim to 30 s -> 80-bin log-mel (zoo.nn.whisper_frontend, exactly Whisper's)
          -> Whisper-small encoder, frozen: [1500, 768] states                      (zoo.nn.whisper_encoder)
          -> K experts, each FullEmbeddingMLP: flatten 1,152,000 -> P -> MLP -> 1  (zoo.nn.experts.ExpertBank)
             (or the pooled variant: mean/min/max/std over time, 3072 -> P -> MLP -> 1)
    loss  = mean over rated (clip, dimension) pairs of (prediction - mean expert rating)^2

K = the EmoNet-40 emotions (or a subset) plus optional extra dimensions (e.g. Valence, Arousal). All experts run
fused (one projection GEMM, grouped MLP matmuls) and are trained together by one optimiser; the released per-emotion
files load with :meth:`EmpathicVoiceModel.import_official_experts`. With a frozen encoder, ``feature_cache`` stores
encoder states per clip so later epochs skip the front end and the encoder.

What follows the paper / cards: the encoder (Whisper small dims, 30 s windows, last hidden state), the expert head
shapes (Small P=64 [64, 32, 16], Large P=128 [128, 64, 32], dropouts 0.0/0.1/0.1/0.1), one expert per dimension
on the full flattened sequence, regression of perceived intensity. Our choices: the masked MSE over rated dimensions
(the cards do not state the loss), the fused evaluation, and the ``tiny`` preset (a 2-layer, 16-wide Whisper on
4 s windows) for tests.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torchmetrics import Metric

from zoo.data.collate import pad_collate
from zoo.data.datasets.emonet_voice import emotion_dimensions
from zoo.errors import CheckpointError, ConfigError
from zoo.metrics.intensity import IntensityMetrics
from zoo.models.base import AffectModule, top_k
from zoo.nn.experts import LARGE_HEAD, SMALL_HEAD, ExpertBank, expert_file_name, read_expert_file
from zoo.nn.feature_cache import FeatureCache
from zoo.nn.whisper_encoder import WHISPER_BASE, WHISPER_SMALL, WHISPER_TINY, WhisperAudioEncoder, encoder_config
from zoo.nn.whisper_frontend import HOP_LENGTH, SAMPLE_RATE, WhisperFrontEnd, load_clips
from zoo.registry import register_model
from zoo.taxonomies import EMONET40

TINY_ENCODER = {"num_mel_bins": 80, "d_model": 16, "encoder_layers": 2, "encoder_attention_heads": 2,
                "encoder_ffn_dim": 32, "max_source_positions": 200, "init_std": 0.3}
FILE_ALIASES = {"Helplessness": ("Hopelessness",)}
"""Released files that use another name for a dimension (one public suite ships ``model_Hopelessness_best.pth``)."""


@register_model(
    "empathic_voice",
    presets={
        "tiny": {"encoder": TINY_ENCODER, "chunk_seconds": 4.0, "projection_dim": 8, "hidden_dims": [8, 8, 4],
                 "dropouts": [0.0, 0.1, 0.1, 0.1]},
        "paper": {"encoder": WHISPER_SMALL, "chunk_seconds": 30.0, **SMALL_HEAD},
        "paper_large": {"encoder": WHISPER_SMALL, "chunk_seconds": 30.0, **LARGE_HEAD},
        "paper_pooled": {"encoder": WHISPER_SMALL, "chunk_seconds": 30.0, "pooled": True, **SMALL_HEAD},
        # OpenAI's real Whisper encoders from the weights layer (zoo.weights), frozen; Small expert heads
        "whisper_base": {"encoder": WHISPER_BASE, "encoder_weights": "zoo:whisper_base", "chunk_seconds": 30.0,
                         **SMALL_HEAD},
        "whisper_tiny_en": {"encoder": WHISPER_TINY, "encoder_weights": "zoo:whisper_tiny_en",
                            "chunk_seconds": 30.0, **SMALL_HEAD},
    },
    description="Speech emotion intensity for the 40 EmoNet emotions (+ extra dimensions): frozen Whisper encoder, "
                "one MLP expert per dimension, fused evaluation, import of the released expert files",
    paper="Schuhmann et al., EmoNet-Voice: A Fine-Grained, Expert-Verified Benchmark for Speech Emotion Detection, "
          "2025 (Empathic-Insight-Voice)",
    tags=("audio", "regression"),
)
class EmpathicVoiceModel(AffectModule):
    """See the module docstring.

    Args:
        encoder: Whisper encoder dimensions (keys of ``zoo.nn.whisper_encoder.WHISPER_SMALL``).
        encoder_weights: any source ``zoo.weights.resolve`` accepts: ``zoo:whisper_base``, ``zoo:whisper_tiny_en``, a
            local Whisper folder or ``hf:<repo_id>`` in the HF cache (None: random init).
        chunk_seconds: window length; must give ``2 * max_source_positions`` mel frames (30 s for Whisper), or
            fewer with ``short_windows``.
        emotions: EmoNet-40 emotions to predict (None: all 40, in taxonomy order).
        extra_dimensions: further dimensions after the emotions (e.g. ``["Valence", "Arousal"]``).
        projection_dim / hidden_dims / dropouts: the expert head (Small: 64 / [64, 32, 16] / [0, .1, .1, .1]).
        pooled: experts on mean/min/max/std-pooled states instead of the flattened sequence.
        expert_weights: a folder of released ``model_<Name>_best.pth`` files to import at construction.
        freeze_encoder: keep the encoder frozen (the paper's setting).
        feature_cache: folder for cached encoder states (needs a frozen encoder).
        present_threshold: intensity at which a dimension counts as present (for F1).
        lr / weight_decay: AdamW settings (the encoder's parameters are excluded while frozen).
        short_windows: let the encoder read windows shorter than 30 s (positions cut to the window; a difference
            from Whisper and from the released models, see ``zoo.nn.whisper_encoder.WhisperAudioEncoder``); the
            experts then read ``chunk_seconds * 50`` states.
    """

    pretrained_hparams = ("encoder_weights", "expert_weights", "feature_cache")
    """Cleared on ``zoo.load``: the checkpoint holds the weights, and a loaded model does not write into the cache
    folder it was trained with."""

    def __init__(
        self,
        encoder: dict[str, float] | None = None,
        encoder_weights: str | None = None,
        chunk_seconds: float = 30.0,
        emotions: list[str] | None = None,
        extra_dimensions: list[str] | None = None,
        projection_dim: int = 64,
        hidden_dims: list[int] | None = None,
        dropouts: list[float] | None = None,
        pooled: bool = False,
        expert_weights: str | None = None,
        freeze_encoder: bool = True,
        feature_cache: str | None = None,
        present_threshold: float = 0.5,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        short_windows: bool = False,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.hparams.encoder = encoder_config(encoder)
        self.hparams.hidden_dims = list(hidden_dims or SMALL_HEAD["hidden_dims"])
        self.hparams.dropouts = list(dropouts or SMALL_HEAD["dropouts"])
        self.labels = tuple(emotion_dimensions(emotions, extra_dimensions))
        self.frontend = WhisperFrontEnd(chunk_seconds, n_mels=self.hparams.encoder["num_mel_bins"])
        self.encoder = WhisperAudioEncoder(self.hparams.encoder, encoder_weights, frozen=freeze_encoder,
                                           short_windows=short_windows)
        try:
            self.encoder.check_frames(self.frontend.num_frames)
        except ConfigError as exc:
            raise ConfigError(f"chunk_seconds={chunk_seconds} gives {self.frontend.num_frames} mel frames; the "
                              f"encoder (max_source_positions={self.encoder.seq_len}) needs {self.encoder.num_frames}"
                              f" ({self.encoder.num_frames * HOP_LENGTH / SAMPLE_RATE:g} s): {exc}") from None
        self.experts = ExpertBank(len(self.labels), self.frontend.num_frames // 2, self.encoder.embed_dim,
                                  projection_dim, self.hparams.hidden_dims, self.hparams.dropouts, pooled=pooled)
        if feature_cache and not freeze_encoder:
            raise ConfigError("feature_cache needs freeze_encoder=True (a trained encoder changes its features)")
        self._cache: FeatureCache | None = None
        groups = {g: tuple(m for m in members if m in self.labels) for g, members in EMONET40.groups.items()}
        self.metrics = self.stage_metrics(lambda: IntensityMetrics(self.labels, groups, present_threshold))
        if expert_weights:
            self.import_official_experts(expert_weights)

    # -- weights ------------------------------------------------------------------------------------------------
    def import_official_experts(self, folder: str | Path) -> dict[str, Path]:
        """Load each dimension's released expert file from ``folder`` into the bank; returns the files used.

        A missing file or one whose tensors do not fit the configured head raises :class:`CheckpointError`.
        """
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            raise CheckpointError(folder, "expert folder not found")
        used: dict[str, Path] = {}
        for k, label in enumerate(self.labels):
            names = [label, *FILE_ALIASES.get(label, ())]
            path = next((folder / expert_file_name(n) for n in names if (folder / expert_file_name(n)).is_file()),
                        None)
            if path is None:
                raise CheckpointError(folder, f"no expert for {label!r}: expected "
                                              f"{' or '.join(expert_file_name(n) for n in names)}")
            self.experts.load_expert(k, read_expert_file(path, self.experts))
            used[label] = path
        return used

    @property
    def cache(self) -> FeatureCache | None:
        if self.hparams.feature_cache and self._cache is None:
            fingerprint = f"{self.encoder.fingerprint()}-{self.frontend.chunk_seconds:g}s"
            self._cache = FeatureCache(self.hparams.feature_cache, hashlib.sha256(fingerprint.encode()).hexdigest())
        return self._cache

    # -- data hooks ---------------------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        reader = getattr(getattr(self.trainer, "datamodule", None), "reader", None)
        dims = getattr(reader, "dimensions", None)
        if dims is not None and tuple(dims) != tuple(self.labels):
            raise ConfigError(f"the data's dimensions {list(dims)} differ from the model's {list(self.labels)}; "
                              "give the reader and the model the same emotions / extra_dimensions")

    def preprocessing(self) -> dict[str, Any]:
        return {"sample_rate": SAMPLE_RATE, "mono": True, "chunk_seconds": self.frontend.chunk_seconds,
                "pad": "zeros to chunk_seconds, trim longer clips", "log_mel": "whisper",
                "n_mels": self.frontend.n_mels, "n_fft": 400, "hop_length": HOP_LENGTH}

    def load_inputs(self, paths: Sequence[str | Path]) -> dict[str, Any]:
        clips = load_clips(paths, max_seconds=self.frontend.chunk_seconds)
        return pad_collate([{"path": str(p), "audio": c} for p, c in zip(paths, clips, strict=True)])

    # -- model --------------------------------------------------------------------------------------------------
    def _encode_audio(self, audio: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        log_mel = self.frontend(audio, None if mask is None else mask.sum(-1))
        return self.encoder(log_mel)

    def encode(self, batch: dict[str, Any]) -> torch.Tensor:
        """Encoder states ``[B, T, D]``: given (``features``), from the cache, or computed from ``audio``."""
        if "features" in batch:
            return batch["features"]
        mask = batch.get("audio_mask")
        cache = self.cache if "path" in batch else None
        if cache is None:
            return self._encode_audio(batch["audio"], mask)
        states: list[torch.Tensor | None] = [cache.get(p) for p in batch["path"]]
        todo = [i for i, s in enumerate(states) if s is None]
        if todo:
            idx = torch.tensor(todo, device=batch["audio"].device)
            fresh = self._encode_audio(batch["audio"][idx], None if mask is None else mask[idx])
            for i, s in zip(todo, fresh, strict=True):
                cache.put(batch["path"][i], s)
                states[i] = s
        return torch.stack([s.to(self.device) for s in states])

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        return {"intensity": self.experts(self.encode(batch))}

    def losses(self, outputs: dict[str, torch.Tensor], batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        mask = batch["intensity_mask"].bool()
        err = (outputs["intensity"] - batch["intensity"].float()) ** 2
        return {"loss": err[mask].sum() / mask.sum().clamp(min=1)}

    def update_metrics(self, stage: str, outputs: dict[str, torch.Tensor], batch: dict[str, Any]) -> None:
        self.metrics[stage].update(outputs["intensity"], batch["intensity"], batch["intensity_mask"])

    def epoch_metrics(self, stage: str) -> dict[str, Metric]:
        return {"": self.metrics[stage]}

    def predictions(self, outputs: dict[str, torch.Tensor], batch: dict[str, Any]) -> list[dict[str, Any]]:
        scores = outputs["intensity"].float()
        results = []
        for row, ranked in zip(scores.tolist(), top_k(scores, self.labels, k=5), strict=True):
            results.append({"label": ranked[0][0], "score": ranked[0][1], "top": ranked,
                            "intensities": dict(zip(self.labels, row, strict=True))})
        return results

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        return torch.optim.AdamW(params, lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)

    def extra_repr(self) -> str:
        return f"dimensions={len(self.labels)}, head={'pooled' if self.hparams.pooled else 'full'}"

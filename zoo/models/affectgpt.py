"""AffectGPT-style audio-video-text emotion reasoning (Lian et al., "AffectGPT: A New Dataset, Model, and Benchmark
for Emotion Understanding with Multimodal Large Language Models", ICML 2025, Sec. 4; EMER: "Explainable Multimodal
Emotion Reasoning", arXiv 2306.15401).

Architecture (the "pre-fusion" design)::

    8 face crops / frames -> frozen open_clip image encoder -> H_v [B, 8, d_v]
    8 x 2-s clips @16 kHz -> frozen speech encoder, mean of last 4 hidden layers, mean over time -> H_a [B, 8, d_a]
    H_v, H_a -> TemporalFusion (attention | mean | qformer) -> Linear -> LLM width      (<FaceHere>, <AudioHere>)
    (H_a, H_v) -> PreFusion "multi" token (raw fc_att weights, as the reference code) -> LLM width,
                  repeated multi_tokens times                                            (<MultiHere>)
    prompt (verbatim, subtitle inside) with placeholders expanded to the query-token count; embeddings of the
    placeholder tokens replaced by the projected features (count checked per sample)
    causal LM (any local Hugging Face model; LoRA r16/alpha32/dropout0.05 on q,k,v,o,gate,up,down)
    loss = cross-entropy on the answer tokens only (prompt tokens -100)

"Hybrid" training draws, per sample, the description task (answer = reason text) or the label task (answer =
"The character's emotional state is {labels}."). Generation returns a description and a label list per clip.

Offline weights: ``visual_weights`` (an open_clip checkpoint file), ``audio_encoder`` / ``llm`` (local Hugging Face
folders). Without them the encoders/LLM are built from configs with random weights (``tiny`` for tests; ``paper``
for shapes and the GPU benchmark). Without a local LLM, text goes through a byte-level tokenizer (256 byte tokens +
specials) built in code, so a checkpoint is reproducible from its hyperparameters alone.
"""
from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.data.collate import pad_collate
from zoo.data.datasets.mer import SAMPLE_RATE, audio_clips, resize_frames, uniform_indices
from zoo.data.media import decode_video, load_audio
from zoo.errors import ConfigError, DataError
from zoo.metrics.ovmer import EmotionWheel, OVMERScore
from zoo.models.base import AffectModule
from zoo.nn.prefusion import PreFusion
from zoo.nn.temporal_fusion import TemporalFusion
from zoo.registry import register_model

PROMPT = ("###Human: The audio and video merged info is: <Multi><MultiHere></Multi>. The audio content is as follows: "
          "<Audio><AudioHere></Audio>. Meanwhile, we uniformly sample raw frames from the video and extract faces "
          "from these frames: <Video><FaceHere></Video>. The subtitle of this video is: <Subtitle>{subtitle}</Subtitle>."
          " Now, please answer my question based on all the provided information. {question} ###Assistant: ")
QUESTION_DESCRIPTION = "Please infer the person's emotional state and provide your reasoning process."
QUESTION_LABELS = "Please recognize all possible emotional states of the character."
LABEL_ANSWER = "The character's emotional state is {labels}."
PLACEHOLDERS = ("<FrameHere>", "<FaceHere>", "<AudioHere>", "<MultiHere>")
PAD, EOS = "<|pad|>", "<|endoftext|>"
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def byte_tokenizer():
    """A byte-level BPE tokenizer without merges: every UTF-8 byte is one token, plus pad/eos and placeholders."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tok = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(alphabet)}, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, eos_token=EOS)
    fast.add_special_tokens({"additional_special_tokens": list(PLACEHOLDERS)})
    return fast


def format_labels(labels: Sequence[str]) -> str:
    return LABEL_ANSWER.format(labels=", ".join(labels) if labels else "neutral")


def parse_generated_labels(text: str) -> list[str]:
    """Emotion words from a generated label answer (``"The character's emotional state is a, b and c."``)."""
    text = text.strip()
    low = text.lower()
    key = "emotional state is"
    if key in low:
        text = text[low.index(key) + len(key):]
    text = text.split("###")[0].strip().rstrip(".")
    words = [w.strip(" .'\"").lower() for w in re.split(r",|;|\band\b|/", text)]
    return list(dict.fromkeys(w for w in words if w and len(w) < 40))


def read_cached_features(cache_dir: str | Path, name: str) -> dict[str, Any] | None:
    """Cached encoder features of clip ``name`` (``face_features``, ``audio_features``, ``feature_signature``)."""
    path = Path(cache_dir) / f"{name}.safetensors"
    if not path.is_file():
        return None
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            out = {k: f.get_tensor(k) for k in ("face_features", "audio_features")}
    except (SafetensorError, OSError, KeyError) as exc:
        raise DataError(path, f"not a readable feature-cache file ({exc})") from None
    out["feature_signature"] = meta.get("signature", "")
    return out


class VisualEncoder(nn.Module):
    """A frozen open_clip image tower: ``[N, 3, S, S]`` in [0, 1] -> ``[N, embed_dim]`` (CLIP normalisation)."""

    def __init__(self, name: str | None, weights: str | None, vision_cfg: dict | None, embed_dim: int | None):
        super().__init__()
        import open_clip

        if vision_cfg is not None:
            from open_clip.model import _build_vision_tower

            self.tower = _build_vision_tower(embed_dim, vision_cfg)
            self.dim = embed_dim
        else:
            model = open_clip.create_model(name, pretrained=weights or None, load_weights=bool(weights))
            self.tower = model.visual
            self.dim = int(model.visual.output_dim)
        self.register_buffer("mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CLIP_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.tower((images - self.mean) / self.std)


class SpeechEncoder(nn.Module):
    """A frozen transformers speech encoder: ``[N, samples]`` -> ``[N, hidden]``, the mean of the last 4 hidden
    layers averaged over time (AffectGPT's utterance-level audio feature per 2-s clip)."""

    def __init__(self, path: str | None, config: dict | None, normalize: bool = True):
        super().__init__()
        from transformers import AutoConfig, AutoModel

        if path:
            self.model = AutoModel.from_pretrained(path)
        elif config:
            cfg = dict(config)
            self.model = AutoModel.from_config(AutoConfig.for_model(cfg.pop("model_type"), **cfg))
        else:
            raise ConfigError("the speech encoder needs a local model folder (audio_encoder) or audio_config")
        self.dim = int(self.model.config.hidden_size)
        self.normalize = normalize

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        if self.normalize:
            wave = (wave - wave.mean(-1, keepdim=True)) / (wave.std(-1, keepdim=True) + 1e-7)
        out = self.model(wave, output_hidden_states=True)
        return torch.stack(out.hidden_states[-4:]).mean(0).mean(1)


TINY_VISION = {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8, "mlp_ratio": 2.0}
TINY_AUDIO = {"model_type": "hubert", "hidden_size": 32, "num_hidden_layers": 4, "num_attention_heads": 2,
              "intermediate_size": 64, "conv_dim": [32, 32, 32, 32, 32, 32, 32], "conv_stride": [5, 2, 2, 2, 2, 2, 2],
              "conv_kernel": [10, 3, 3, 3, 3, 2, 2], "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 4}
TINY_LLM = {"model_type": "qwen2", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 2048, "vocab_size": 262,
            "tie_word_embeddings": True, "initializer_range": 0.2}
"""Random tiny Qwen2. ``initializer_range`` 0.2 (not 0.02): with LoRA the embeddings/head stay frozen, and a head
initialised at 0.02 bounds the logits near uniform, so the answer loss could hardly fall."""
HUBERT_LARGE = {"model_type": "hubert", "hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
                "intermediate_size": 4096, "feat_extract_norm": "layer", "do_stable_layer_norm": True,
                "conv_bias": True}
QWEN25_7B = {"model_type": "qwen2", "hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
             "num_attention_heads": 28, "num_key_value_heads": 4, "max_position_embeddings": 32768,
             "vocab_size": 152064, "rope_theta": 1000000.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": False}


@register_model(
    "affectgpt",
    presets={
        "tiny": {"vision_cfg": TINY_VISION, "visual_dim": 32, "audio_config": TINY_AUDIO, "llm_config": TINY_LLM,
                 "image_size": 32, "qformer_heads": 4},
        "paper": {"visual": "ViT-L-14", "audio_config": HUBERT_LARGE, "llm_config": QWEN25_7B, "image_size": 224},
        # the real SmolLM2-135M-Instruct as the language model (LoRA r16/alpha32/dropout0.05 on all 7 projections,
        # the paper's settings); the media encoders are still the tiny random ones: Whisper / FER encoders are not
        # wired into AffectGPT yet (see docs/affectgpt.md)
        "smollm2": {"vision_cfg": TINY_VISION, "visual_dim": 32, "audio_config": TINY_AUDIO,
                    "llm": "zoo:smollm2_135m_instruct", "image_size": 32, "qformer_heads": 4},
    },
    description="AffectGPT-style explainable, open-vocabulary multimodal emotion reasoning: frozen open_clip face "
                "encoder + speech encoder, temporal fusion, pre-fusion multi token, LoRA-tuned causal LM",
    paper="Lian et al., AffectGPT: A New Dataset, Model, and Benchmark for Emotion Understanding with Multimodal "
          "Large Language Models, ICML 2025",
    tags=("video", "audio", "text", "generation", "open-vocabulary"),
)
class AffectGPT(AffectModule):
    """See the module docstring.

    Args:
        visual / visual_weights: open_clip model name and local checkpoint file (``paper``: ViT-L-14, 768-d).
        vision_cfg / visual_dim: an open_clip vision-tower config and output width instead (random weights).
        audio_encoder / audio_config: local transformers speech-model folder, or a config dict (random weights).
        llm / llm_config: local Hugging Face causal-LM folder (with its tokenizer) or a ``zoo:<asset>`` spec such as
            ``zoo:smollm2_135m_instruct``, or a config dict (random weights, byte-level tokenizer).
        fusion: ``attention`` | ``mean`` | ``qformer`` temporal fusion; ``attention_softmax`` normalises attention
            weights; ``num_queries`` / ``qformer_layers`` / ``qformer_heads`` for the Q-Former.
        multi_tokens: copies of the pre-fusion token at ``<MultiHere>`` (the reference's ``num_multi_query_token``).
        lora_r / lora_alpha / lora_dropout: LoRA settings (None r: full fine-tuning of the LLM is off, LLM frozen).
        hybrid_description_prob: chance of the description task when a clip has both targets.
        n_frames / image_size / n_clips / clip_seconds: media sampling (``preprocessing``).
        eval_generate / max_new_tokens: generate label lists in val/test for the OV-MER metric.
        feature_cache_dir: write encoder features here (read by ``MERReader(feature_cache=...)``).
        lr / weight_decay: AdamW.

    ``zoo.load`` rebuilds from the hyperparameters: ``visual_weights`` and ``audio_encoder`` are cleared (the random
    init from ``visual`` / ``audio_config``, which is filled from the folder's config, is then replaced by the
    checkpoint's tensors), while an ``llm`` folder is re-read for its tokenizer and architecture, so it must exist
    at the same path; its weights then come from the checkpoint.
    """

    pretrained_hparams = ("visual_weights", "audio_encoder")

    def __init__(
        self,
        visual: str | None = "ViT-L-14",
        visual_weights: str | None = None,
        vision_cfg: dict | None = None,
        visual_dim: int | None = None,
        audio_encoder: str | None = None,
        audio_config: dict | None = None,
        audio_normalize: bool = True,
        llm: str | None = None,
        llm_config: dict | None = None,
        fusion: str = "attention",
        attention_softmax: bool = False,
        num_queries: int = 1,
        multi_tokens: int = 1,
        qformer_layers: int = 2,
        qformer_heads: int = 8,
        lora_r: int | None = 16,
        lora_alpha: int = 32,
        lora_dropout: float = 0.05,
        hybrid_description_prob: float = 0.5,
        n_frames: int = 8,
        image_size: int = 224,
        n_clips: int = 8,
        clip_seconds: float = 2.0,
        eval_generate: bool = True,
        max_new_tokens: int = 48,
        feature_cache_dir: str | None = None,
        lr: float = 1e-4,
        weight_decay: float = 0.0,
        seed: int = 0,
    ):
        super().__init__()
        self.save_hyperparameters()
        torch.manual_seed(seed)
        self.visual_encoder = VisualEncoder(visual, visual_weights, vision_cfg, visual_dim).requires_grad_(False)
        self.audio_encoder = SpeechEncoder(audio_encoder, audio_config, audio_normalize).requires_grad_(False)
        if audio_encoder and not audio_config:  # so that zoo.load can rebuild the architecture without the folder
            cfg = self.audio_encoder.model.config.to_dict()
            self.hparams.audio_config = {k: v for k, v in cfg.items()
                                         if k not in ("architectures", "transformers_version", "_name_or_path")}
        self.tokenizer, self.llm = self._build_llm(llm, llm_config)
        width = int(self.llm.config.hidden_size)
        dv, da = self.visual_encoder.dim, self.audio_encoder.dim
        self.visual_fusion = TemporalFusion(fusion, dv, num_queries, attention_softmax, qformer_layers, qformer_heads)
        self.audio_fusion = TemporalFusion(fusion, da, num_queries, attention_softmax, qformer_layers, qformer_heads)
        self.visual_proj = nn.Linear(dv, width)
        self.audio_proj = nn.Linear(da, width)
        self.prefusion = PreFusion(da, dv, width, num_tokens=multi_tokens)
        self.placeholder_ids = {t: self.tokenizer.convert_tokens_to_ids(t) for t in PLACEHOLDERS}
        self.token_counts = {"<FrameHere>": self.visual_fusion.num_tokens, "<FaceHere>": self.visual_fusion.num_tokens,
                             "<AudioHere>": self.audio_fusion.num_tokens, "<MultiHere>": multi_tokens}
        self._rng = random.Random(seed)
        self.metrics = self.stage_metrics(lambda: nn.ModuleDict({"ovmer": OVMERScore(EmotionWheel.default())}))

    # -- construction -------------------------------------------------------------------------------------------
    def _build_llm(self, path: str | None, config: dict | None):
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

        if path:
            if path.startswith("zoo:"):  # a weights-layer asset (sha-checked source, converted folder)
                from zoo import weights

                path = str(weights.resolve(path))
            tokenizer = AutoTokenizer.from_pretrained(path)
            llm = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            tokenizer.add_special_tokens({"additional_special_tokens": list(PLACEHOLDERS)})
        elif config:
            tokenizer = byte_tokenizer()
            cfg = dict(config)
            cfg["vocab_size"] = max(int(cfg.get("vocab_size", 0)), len(tokenizer))
            llm = AutoModelForCausalLM.from_config(AutoConfig.for_model(cfg.pop("model_type"), **cfg))
        else:
            raise ConfigError("AffectGPT needs a local causal-LM folder (llm) or an llm_config")
        if llm.get_input_embeddings().num_embeddings < len(tokenizer):
            llm.resize_token_embeddings(len(tokenizer))
        llm.config.pad_token_id = tokenizer.pad_token_id
        hp = self.hparams
        if hp.lora_r:
            from peft import LoraConfig, get_peft_model

            targets = [t for t in LORA_TARGETS if any(n.endswith(t) for n, _ in llm.named_modules())]
            llm = get_peft_model(llm, LoraConfig(r=hp.lora_r, lora_alpha=hp.lora_alpha, lora_dropout=hp.lora_dropout,
                                                 target_modules=targets, task_type="CAUSAL_LM"))
        else:
            llm.requires_grad_(False)
        return tokenizer, llm

    def train(self, mode: bool = True):
        super().train(mode)
        self.visual_encoder.eval()
        self.audio_encoder.eval()
        return self

    def preprocessing(self) -> dict[str, Any]:
        hp = self.hparams
        return {"n_frames": hp.n_frames, "image_size": hp.image_size, "mean": list(CLIP_MEAN), "std": list(CLIP_STD),
                "n_clips": hp.n_clips, "clip_seconds": hp.clip_seconds, "sample_rate": SAMPLE_RATE,
                "prompt": PROMPT}

    @property
    def feature_signature(self) -> str:
        hp = self.hparams
        key = json.dumps([hp.visual, hp.visual_weights, hp.vision_cfg, hp.audio_encoder, hp.audio_config,
                          hp.n_frames, hp.image_size, hp.n_clips, hp.clip_seconds, hp.audio_normalize, hp.seed],
                         sort_keys=True)
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    # -- encoders and cache -------------------------------------------------------------------------------------
    @torch.no_grad()
    def encode_media(self, frames: torch.Tensor, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Frozen features: frames ``[B, T, 3, S, S]`` -> ``[B, T, d_v]``; audio ``[B, C, samples]`` -> ``[B, C, d_a]``."""
        b, t = frames.shape[:2]
        face = self.visual_encoder(frames.flatten(0, 1)).view(b, t, -1)
        b, c = audio.shape[:2]
        aud = self.audio_encoder(audio.flatten(0, 1)).view(b, c, -1)
        return face.float(), aud.float()

    def features(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        if "face_features" in batch:
            bad = [s for s in batch.get("feature_signature", []) if s != self.feature_signature]
            if bad:
                raise ConfigError(f"cached features were made by other encoders (signature {bad[0]}, this model "
                                  f"{self.feature_signature}); rebuild the feature cache")
            return batch["face_features"].float(), batch["audio_features"].float()
        face, aud = self.encode_media(batch["frames"], batch["audio"])
        if self.hparams.feature_cache_dir:
            self.write_cache(batch["name"], face, aud)
        return face, aud

    def write_cache(self, names: Sequence[str], face: torch.Tensor, audio: torch.Tensor) -> None:
        from safetensors.torch import save_file

        from zoo.io import atomic_path

        root = Path(self.hparams.feature_cache_dir)
        root.mkdir(parents=True, exist_ok=True)
        for i, name in enumerate(names):
            with atomic_path(root / f"{name}.safetensors") as tmp:
                save_file({"face_features": face[i].cpu().contiguous(), "audio_features": audio[i].cpu().contiguous()},
                          str(tmp), metadata={"signature": self.feature_signature})

    @torch.no_grad()
    def cache_features(self, dataset, batch_size: int = 8) -> int:
        """Encode every clip of ``dataset`` (media samples) into ``feature_cache_dir``; returns the clip count."""
        if not self.hparams.feature_cache_dir:
            raise ConfigError("set feature_cache_dir to cache features")
        n = 0
        for start in range(0, len(dataset), batch_size):
            batch = pad_collate([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
            face, aud = self.encode_media(batch["frames"].to(self.device), batch["audio"].to(self.device))
            self.write_cache(batch["name"], face, aud)
            n += len(batch["name"])
        return n

    # -- tokens ---------------------------------------------------------------------------------------------------
    def modality_tokens(self, face: torch.Tensor, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        """Projected query tokens per placeholder: ``[B, n_tokens, width]``."""
        visual = self.visual_proj(self.visual_fusion(face))
        return {"<FrameHere>": visual, "<FaceHere>": visual, "<AudioHere>": self.audio_proj(self.audio_fusion(audio)),
                "<MultiHere>": self.prefusion(audio, face)}

    def prompt_text(self, subtitle: str, question: str) -> str:
        text = PROMPT.format(subtitle=subtitle, question=question)
        for token, count in self.token_counts.items():
            text = text.replace(token, token * count)
        return text

    def choose_task(self, sample_index: int, reason: str, labels: Sequence[str], train: bool) -> str:
        """Hybrid sampling: description or labels (random in training, alternating in evaluation)."""
        if not reason:
            return "labels"
        if not labels:
            return "description"
        if train:
            return "description" if self._rng.random() < self.hparams.hybrid_description_prob else "labels"
        return "description" if sample_index % 2 == 0 else "labels"

    def build_inputs(self, subtitles: Sequence[str], questions: Sequence[str],
                     answers: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """Token ids, attention mask and (with answers) labels with every prompt token set to -100.

        Training batches are right-padded; prompt-only batches (generation) are left-padded.
        """
        tok = self.tokenizer
        rows, labels = [], []
        for i, (sub, q) in enumerate(zip(subtitles, questions, strict=True)):
            prompt = tok(self.prompt_text(sub or "", q), add_special_tokens=False)["input_ids"]
            if answers is None:
                rows.append(prompt)
                continue
            answer = tok(answers[i], add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
            rows.append(prompt + answer)
            labels.append([-100] * len(prompt) + answer)
        length = max(len(r) for r in rows)
        ids = torch.full((len(rows), length), tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), length), dtype=torch.long)
        target = torch.full((len(rows), length), -100, dtype=torch.long)
        for i, r in enumerate(rows):
            sl = slice(0, len(r)) if answers is not None else slice(length - len(r), length)
            ids[i, sl], mask[i, sl] = torch.tensor(r), 1
            if answers is not None:
                target[i, sl] = torch.tensor(labels[i])
        out = {"input_ids": ids.to(self.device), "attention_mask": mask.to(self.device)}
        if answers is not None:
            out["labels"] = target.to(self.device)
        return out

    def splice(self, input_ids: torch.Tensor, tokens: dict[str, torch.Tensor]) -> torch.Tensor:
        """Input embeddings with every placeholder token replaced by its modality tokens (count checked)."""
        embeds = self.llm.get_input_embeddings()(input_ids)
        for name, tid in self.placeholder_ids.items():
            where = input_ids == tid
            counts = where.sum(1)
            if not bool(counts.any()):
                continue
            feats = tokens[name]
            if not bool((counts == feats.shape[1]).all()):
                raise ConfigError(f"{name}: the prompt holds {counts.tolist()} placeholder tokens per sample but the "
                                  f"model produces {feats.shape[1]} query tokens")
            embeds = embeds.masked_scatter(where[..., None], feats.to(embeds.dtype))
        return embeds

    # -- training -----------------------------------------------------------------------------------------------
    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        face, audio = self.features(batch)
        tokens = self.modality_tokens(face, audio)
        out: dict[str, Any] = {"tokens": tokens}
        reasons, labels = batch.get("reason"), batch.get("labels")
        if reasons is None and labels is None:
            return out
        n = face.shape[0]
        reasons = reasons or [""] * n
        labels = labels or [[] for _ in range(n)]
        tasks = [self.choose_task(i, reasons[i], labels[i], self.training) for i in range(n)]
        questions = [QUESTION_DESCRIPTION if t == "description" else QUESTION_LABELS for t in tasks]
        answers = [reasons[i] if t == "description" else format_labels(labels[i]) for i, t in enumerate(tasks)]
        inputs = self.build_inputs(batch.get("subtitle") or [""] * n, questions, answers)
        embeds = self.splice(inputs["input_ids"], tokens)
        result = self.llm(inputs_embeds=embeds, attention_mask=inputs["attention_mask"], labels=inputs["labels"])
        out |= {"lm_loss": result.loss, "logits": result.logits, "tasks": tasks, **inputs}
        return out

    def losses(self, outputs: dict[str, Any], batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        return {"loss": outputs["lm_loss"]}

    def update_metrics(self, stage: str, outputs: dict[str, Any], batch: dict[str, Any]) -> None:
        if not self.hparams.eval_generate:
            return
        refs = batch.get("labels") or []
        if not any(refs):
            return
        preds = self.generate_from_tokens(outputs["tokens"], batch.get("subtitle") or [""] * len(refs), "labels")
        metric = self.metrics[stage]["ovmer"]
        metric.update(refs, [parse_generated_labels(p) for p in preds])
        self.log(f"{stage}/ovmer_f_level1", metric, on_step=False, on_epoch=True, batch_size=len(refs))

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        return torch.optim.AdamW(params, lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)

    # -- generation ---------------------------------------------------------------------------------------------
    @torch.no_grad()
    def generate_from_tokens(self, tokens: dict[str, torch.Tensor], subtitles: Sequence[str], task: str,
                             max_new_tokens: int | None = None) -> list[str]:
        """Greedy decoding of the description (``task='description'``) or the label answer (``'labels'``)."""
        question = QUESTION_DESCRIPTION if task == "description" else QUESTION_LABELS
        inputs = self.build_inputs(subtitles, [question] * len(subtitles))
        embeds = self.splice(inputs["input_ids"], tokens)
        mask = inputs["attention_mask"]
        limit = max_new_tokens or self.hparams.max_new_tokens
        eos = self.tokenizer.eos_token_id
        position = (mask.cumsum(1) - 1).clamp(min=0)
        out = self.llm(inputs_embeds=embeds, attention_mask=mask, position_ids=position, use_cache=True)
        past, generated = out.past_key_values, []
        done = torch.zeros(embeds.shape[0], dtype=torch.bool, device=embeds.device)
        next_id = out.logits[:, -1].argmax(-1)
        for _ in range(limit):
            next_id = torch.where(done, torch.full_like(next_id, eos), next_id)
            generated.append(next_id)
            done |= next_id == eos
            if bool(done.all()):
                break
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            position = position[:, -1:] + 1
            out = self.llm(input_ids=next_id[:, None], attention_mask=mask, position_ids=position,
                           past_key_values=past, use_cache=True)
            past, next_id = out.past_key_values, out.logits[:, -1].argmax(-1)
        ids = torch.stack(generated, 1).tolist()
        texts = []
        for row in ids:
            row = row[: row.index(eos)] if eos in row else row
            texts.append(self.tokenizer.decode(row, skip_special_tokens=True).strip())
        return texts

    @torch.no_grad()
    def generate(self, batch: dict[str, Any], max_new_tokens: int | None = None) -> list[dict[str, Any]]:
        face, audio = self.features(batch)
        tokens = self.modality_tokens(face, audio)
        subtitles = batch.get("subtitle") or [""] * face.shape[0]
        descriptions = self.generate_from_tokens(tokens, subtitles, "description", max_new_tokens)
        label_texts = self.generate_from_tokens(tokens, subtitles, "labels", max_new_tokens)
        return [{"description": d, "label_text": t, "labels": parse_generated_labels(t)}
                for d, t in zip(descriptions, label_texts, strict=True)]

    def predictions(self, outputs: dict[str, Any], batch: dict[str, Any]) -> list[dict[str, Any]]:
        subtitles = batch.get("subtitle") or [""] * next(iter(outputs["tokens"].values())).shape[0]
        descriptions = self.generate_from_tokens(outputs["tokens"], subtitles, "description")
        label_texts = self.generate_from_tokens(outputs["tokens"], subtitles, "labels")
        results = []
        for d, t in zip(descriptions, label_texts, strict=True):
            labels = parse_generated_labels(t)
            results.append({"label": labels[0] if labels else "", "labels": labels, "description": d})
        return results

    def predict_step(self, batch: dict[str, Any], batch_idx: int = 0) -> list[dict[str, Any]]:
        face, audio = self.features(batch)
        return self.predictions({"tokens": self.modality_tokens(face, audio)}, batch)

    def load_inputs(self, paths: Sequence[str | Path]) -> dict[str, Any]:
        """Video files -> a batch: uniformly sampled frames, 8 x 2-s audio clips (a ``<stem>.wav`` beside the video
        is preferred, else the video's audio track), subtitle from ``<stem>.txt`` when present."""
        hp = self.hparams
        samples = []
        for p in paths:
            p = Path(p)
            decoded = decode_video(p, audio_sample_rate=None)
            frames = resize_frames(decoded.frames[uniform_indices(decoded.frames.shape[0], hp.n_frames)],
                                    hp.image_size)
            wav = p.with_suffix(".wav")
            try:
                wave, _ = load_audio(wav if wav.is_file() else p, sample_rate=SAMPLE_RATE)
            except DataError as exc:
                if "no audio track" not in exc.problem:
                    raise
                wave = torch.zeros(int(hp.clip_seconds * SAMPLE_RATE))
            sub = p.with_suffix(".txt")
            samples.append({"name": p.stem, "frames": frames,
                            "audio": audio_clips(wave, hp.n_clips, int(round(hp.clip_seconds * SAMPLE_RATE))),
                            "subtitle": sub.read_text(encoding="utf-8").strip() if sub.is_file() else ""})
        return pad_collate(samples)

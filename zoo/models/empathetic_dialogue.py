"""Emotion-aware Transformer-XL encoder-decoder for empathetic dialogue generation (Goel et al., "Emotion-Aware
Transformer Encoder for Empathetic Dialogue Generation", ACII Workshops 2021).

Architecture::

    context turns t_1 [SEP] t_2 [SEP] ... (most recent ``max_context_tokens`` subwords)
      -> emotion detector: word embedding + sinusoid positions -> Transformer encoder -> masked mean pool
                           -> 32-way ED emotion logits and 8-group logits                        (Sec. III-A)
      -> emotion embedding e: p^T E with p = softmax(detector logits) ("predicted", the paper's system)
                              or E[gold label] ("gold", the vanilla ablation); 8 groups or 32 emotions
      -> encoder input  x_i = LayerNorm(sqrt(d) * W_emb[w_i] + e)                                  (Sec. III-B)
      -> Transformer-XL encoder (relative attention with u/v biases, segment recurrence with a stop-gradient
         memory of ``mem_len`` positions carrying the earlier turns; Dai et al. 2019, Sec. 3.2-3.3)
    response [BOS] r_1 .. r_n -> Transformer-XL decoder (causal relative self-attention + cross-attention)
      -> tied output projection -> r_1 .. r_n [EOS]

Loss = NLL(response tokens, label smoothing ``label_smoothing``) + ``emotion_loss_weight`` * (CE_32 + CE_8).
The ``vanilla`` preset is the ablation of the issue: absolute-position Transformer (2 layers, d 256, 8 heads,
FFN 512) conditioned on the gold 8-group emotion.

Our choices where the paper is silent: a separate 2-layer detector that shares the word embedding; the soft
(probability-weighted) emotion embedding so the generation loss also trains the detector; pre-norm layers;
a WordPiece tokenizer trained on the training split and kept, as its JSON string, in the hyperparameters
(``tokenizer_json``), so a checkpoint carries it. Decoding: greedy or beam search (length-normalised).
"""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from zoo.errors import ConfigError, DataError
from zoo.metrics.generation import Perplexity, generation_scores
from zoo.models.base import AffectModule, top_k
from zoo.nn.transformer_xl import (
    AbsoluteDecoder,
    AbsoluteEncoder,
    TransformerXLDecoder,
    TransformerXLEncoder,
    sinusoid,
)
from zoo.registry import register_model
from zoo.taxonomies import ED32
from zoo.text.tokenizer import SubwordTokenizer, train_wordpiece


class EmotionDetector(nn.Module):
    """Context -> 32-way and 8-group emotion logits (shares the word embedding with the generator)."""

    def __init__(self, embedding: nn.Embedding, n_layers: int, d_model: int, n_heads: int, ffn_dim: int,
                 dropout: float):
        super().__init__()
        self.embedding = embedding
        layer = nn.TransformerEncoderLayer(d_model, n_heads, ffn_dim, dropout, activation=F.gelu, batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head32 = nn.Linear(d_model, len(ED32))
        self.head8 = nn.Linear(d_model, len(ED32.coarse_labels))

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        d = self.embedding.embedding_dim
        x = self.embedding(ids) * math.sqrt(d) + sinusoid(torch.arange(ids.shape[1], device=ids.device), d)
        h = self.norm(self.encoder(x, src_key_padding_mask=~mask))
        pooled = (h * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        return self.head32(pooled), self.head8(pooled)


@register_model(
    "empathetic_dialogue",
    presets={
        "tiny": {"vocab_size": 300, "d_model": 32, "n_heads": 4, "encoder_layers": 2, "decoder_layers": 2,
                 "ffn_dim": 64, "detector_layers": 1, "segment_len": 16, "mem_len": 16, "max_context_tokens": 64,
                 "max_response_tokens": 24, "dropout": 0.0},
        "paper": {"vocab_size": 4000, "d_model": 128, "n_heads": 4, "encoder_layers": 2, "decoder_layers": 2,
                  "ffn_dim": 512, "detector_layers": 1, "segment_len": 32, "mem_len": 32, "max_context_tokens": 64,
                  "max_response_tokens": 24, "attention": "relative", "emotion_source": "predicted",
                  "emotion_granularity": 8, "dropout": 0.1},
        "vanilla": {"vocab_size": 4000, "d_model": 256, "n_heads": 8, "encoder_layers": 2, "decoder_layers": 2,
                    "ffn_dim": 512, "detector_layers": 1, "max_context_tokens": 64, "max_response_tokens": 24,
                    "attention": "absolute", "emotion_source": "gold", "emotion_granularity": 8, "dropout": 0.1},
    },
    description="Emotion-aware Transformer-XL encoder-decoder: detects the speaker's emotion (ED-32 / 8 groups) "
                "from the dialogue context and generates an empathetic listener response",
    paper="Goel et al., Emotion-Aware Transformer Encoder for Empathetic Dialogue Generation, ACIIW 2021; "
          "Dai et al., Transformer-XL, ACL 2019",
    tags=("text", "dialogue", "generation", "classification"),
)
class EmpatheticDialogueModel(AffectModule):
    """See the module docstring.

    Args:
        tokenizer_json: a serialised ``tokenizers`` tokenizer (ids 0..4 = [PAD] [UNK] [BOS] [EOS] [SEP]); None
            trains one on the training split when fitting starts.
        vocab_size: embedding rows (>= the tokenizer's vocabulary).
        d_model / n_heads / ffn_dim / encoder_layers / decoder_layers / detector_layers / dropout: sizes.
        attention: "relative" (Transformer-XL) or "absolute" (vanilla Transformer).
        segment_len / mem_len: Transformer-XL segment length and memory length (relative attention only).
        max_context_tokens / max_response_tokens: truncation (the context keeps its most recent tokens).
        emotion_source: "predicted" (detector probabilities) or "gold" (the label; at inference without labels
            the detector's argmax is used).
        emotion_granularity: 8 (groups) or 32 (ED emotions) for the emotion embedding.
        emotion_loss_weight / label_smoothing / lr / weight_decay / warmup_steps: training.
        beam_size / max_decode_len: decoding for predictions (beam_size 1 = greedy).
    """

    def __init__(
        self,
        tokenizer_json: str | None = None,
        vocab_size: int = 4000,
        d_model: int = 256,
        n_heads: int = 4,
        ffn_dim: int = 512,
        encoder_layers: int = 2,
        decoder_layers: int = 2,
        detector_layers: int = 1,
        dropout: float = 0.1,
        attention: str = "relative",
        segment_len: int = 48,
        mem_len: int = 48,
        max_context_tokens: int = 96,
        max_response_tokens: int = 32,
        emotion_source: str = "predicted",
        emotion_granularity: int = 8,
        emotion_loss_weight: float = 1.0,
        label_smoothing: float = 0.1,
        lr: float = 1e-3,
        weight_decay: float = 0.01,
        warmup_steps: int = 200,
        beam_size: int = 1,
        max_decode_len: int = 30,
    ):
        super().__init__()
        if attention not in ("relative", "absolute"):
            raise ConfigError(f"attention must be relative or absolute, not {attention!r}")
        if emotion_source not in ("predicted", "gold"):
            raise ConfigError(f"emotion_source must be predicted or gold, not {emotion_source!r}")
        if emotion_granularity not in (8, 32):
            raise ConfigError(f"emotion_granularity must be 8 or 32, not {emotion_granularity}")
        self.save_hyperparameters()
        self.labels = ED32.labels
        self._tokenizer: SubwordTokenizer | None = None
        if tokenizer_json is not None:
            self._set_tokenizer(tokenizer_json)
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=0)
        nn.init.normal_(self.embedding.weight, std=d_model**-0.5)
        self.detector = EmotionDetector(self.embedding, detector_layers, d_model, n_heads, ffn_dim, dropout)
        self.emotion_embedding = nn.Embedding(emotion_granularity, d_model)
        self.input_norm = nn.LayerNorm(d_model)
        self.decoder_norm = nn.LayerNorm(d_model)
        if attention == "relative":
            self.encoder = TransformerXLEncoder(encoder_layers, d_model, n_heads, ffn_dim, dropout, segment_len,
                                                mem_len)
            self.decoder = TransformerXLDecoder(decoder_layers, d_model, n_heads, ffn_dim, dropout)
        else:
            self.encoder = AbsoluteEncoder(encoder_layers, d_model, n_heads, ffn_dim, dropout)
            self.decoder = AbsoluteDecoder(decoder_layers, d_model, n_heads, ffn_dim, dropout)
        self.dropout = nn.Dropout(dropout)
        self.metrics = self.stage_metrics(lambda: MetricCollection({
            "emotion_acc": MulticlassAccuracy(len(ED32), average="micro"),
            "emotion8_acc": MulticlassAccuracy(len(ED32.coarse_labels), average="micro"),
        }))
        self.perplexity = nn.ModuleDict({stage: Perplexity() for stage in ("val", "test")})

    # -- tokenizer ----------------------------------------------------------------------------------------------
    def _set_tokenizer(self, tokenizer_json: str) -> None:
        tokenizer = SubwordTokenizer(tokenizer_json)
        if tokenizer.vocab_size > self.hparams.vocab_size:
            raise ConfigError(f"tokenizer has {tokenizer.vocab_size} tokens, the model's vocab_size is "
                              f"{self.hparams.vocab_size}")
        self._tokenizer = tokenizer
        self.hparams.tokenizer_json = tokenizer_json

    @property
    def tokenizer(self) -> SubwordTokenizer:
        if self._tokenizer is None:
            raise ConfigError("the model has no tokenizer yet: pass tokenizer_json or fit it on a dataset")
        return self._tokenizer

    def setup(self, stage: str) -> None:
        """Train the subword tokenizer on the training split when fitting a model that has none."""
        if self._tokenizer is not None or stage != "fit":
            return
        reader = getattr(getattr(self.trainer, "datamodule", None), "reader", None)
        if reader is None or not hasattr(reader, "texts"):
            raise ConfigError("no tokenizer_json and the datamodule's reader offers no training texts")
        self._set_tokenizer(train_wordpiece(reader.texts("train"), vocab_size=self.hparams.vocab_size))

    def preprocessing(self) -> dict[str, Any]:
        return {"tokenizer": "WordPiece (Hugging Face tokenizers), lower-cased, JSON in hparams.tokenizer_json",
                "context": "turns joined with [SEP], most recent max_context_tokens kept",
                "max_context_tokens": self.hparams.max_context_tokens,
                "max_response_tokens": self.hparams.max_response_tokens}

    def encode_text(self, contexts: Sequence[Sequence[str]], responses: Sequence[str] | None = None
                    ) -> dict[str, torch.Tensor]:
        """Token ids and masks of dialogue contexts (and responses: decoder inputs and targets)."""
        tok, hp = self.tokenizer, self.hparams
        flat = [t for turns in contexts for t in turns]
        encoded = iter(tok.encode_batch(flat)) if flat else iter(())
        ctx = []
        for turns in contexts:
            ids: list[int] = []
            for _ in turns:
                ids += next(encoded) + [tok.sep_id]
            ctx.append(ids[-hp.max_context_tokens:] or [tok.sep_id])
        width = max(len(c) for c in ctx)
        out = {"input_ids": torch.tensor([c + [tok.pad_id] * (width - len(c)) for c in ctx])}
        out["attention_mask"] = out["input_ids"] != tok.pad_id
        out["attention_mask"][:, 0] = True
        if responses is not None:
            resp = [r[: hp.max_response_tokens] for r in tok.encode_batch(list(responses))]
            width = max(len(r) for r in resp) + 1
            out["decoder_input_ids"] = torch.tensor([[tok.bos_id] + r + [tok.pad_id] * (width - 1 - len(r))
                                                     for r in resp])
            out["labels"] = torch.tensor([r + [tok.eos_id] + [-100] * (width - 1 - len(r)) for r in resp])
        return out

    def on_before_batch_transfer(self, batch: dict[str, Any], dataloader_idx: int) -> dict[str, Any]:
        if "context" in batch and "input_ids" not in batch:
            batch = {**batch, **self.encode_text(batch["context"], batch.get("response"))}
        return batch

    # -- model --------------------------------------------------------------------------------------------------
    def _embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.embedding(ids) * math.sqrt(self.hparams.d_model)

    def encode(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Detector logits, the emotion embedding and the encoder states of the context."""
        ids, mask = batch["input_ids"], batch["attention_mask"]
        logits32, logits8 = self.detector(ids, mask)
        logits = logits8 if self.hparams.emotion_granularity == 8 else logits32
        gold_key = "emotion8" if self.hparams.emotion_granularity == 8 else "emotion"
        if self.hparams.emotion_source == "gold" and gold_key in batch:
            emotion = self.emotion_embedding(batch[gold_key])
        elif self.hparams.emotion_source == "gold":
            emotion = self.emotion_embedding(logits.argmax(-1))
        else:
            emotion = logits.softmax(-1) @ self.emotion_embedding.weight
        x = self.dropout(self.input_norm(self._embed(ids) + emotion[:, None, :]))
        return {"emotion": logits32, "emotion8": logits8, "memory": self.encoder(x, mask), "memory_mask": mask}

    def decode_logits(self, encoded: dict[str, torch.Tensor], decoder_ids: torch.Tensor) -> torch.Tensor:
        mask = decoder_ids != self.tokenizer.pad_id if self._tokenizer is not None else decoder_ids != 0
        mask[:, 0] = True
        y = self.dropout(self._embed(decoder_ids))
        h = self.decoder(y, mask, encoded["memory"], encoded["memory_mask"])
        return h @ self.embedding.weight.T

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        encoded = self.encode(batch)
        out = {"emotion": encoded["emotion"], "emotion8": encoded["emotion8"]}
        if "decoder_input_ids" in batch:
            out["lm_logits"] = self.decode_logits(encoded, batch["decoder_input_ids"])
        return out

    def losses(self, outputs: dict[str, torch.Tensor], batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        hp = self.hparams
        logits = outputs["lm_logits"]
        lm = F.cross_entropy(logits.flatten(0, 1), batch["labels"].flatten(), ignore_index=-100,
                             label_smoothing=hp.label_smoothing)
        emo = F.cross_entropy(outputs["emotion"], batch["emotion"])
        emo8 = F.cross_entropy(outputs["emotion8"], batch["emotion8"])
        return {"loss": lm + hp.emotion_loss_weight * (emo + emo8), "lm": lm, "emotion": emo, "emotion8": emo8}

    def token_nll(self, outputs: dict[str, torch.Tensor], batch: dict[str, Any]) -> tuple[torch.Tensor, int]:
        """Summed unsmoothed NLL of the target tokens and their count (for perplexity)."""
        labels = batch["labels"]
        nll = F.cross_entropy(outputs["lm_logits"].flatten(0, 1).float(), labels.flatten(), ignore_index=-100,
                              reduction="sum")
        return nll, int((labels != -100).sum())

    def update_metrics(self, stage: str, outputs: dict[str, torch.Tensor], batch: dict[str, Any]) -> None:
        metrics = self.metrics[stage]
        metrics["emotion_acc"].update(outputs["emotion"], batch["emotion"])
        metrics["emotion8_acc"].update(outputs["emotion8"], batch["emotion8"])
        self.perplexity[stage].update(*self.token_nll(outputs, batch))
        bs = len(batch["emotion"])
        self.log_metrics(stage, {"": metrics}, bs=bs)  # a MetricCollection is itself a ModuleDict
        self.log(f"{stage}/perplexity", self.perplexity[stage], on_step=False, on_epoch=True, batch_size=bs)

    def configure_optimizers(self):
        hp = self.hparams
        optimizer = torch.optim.AdamW(self.parameters(), lr=hp.lr, weight_decay=hp.weight_decay,
                                      betas=(0.9, 0.98))
        warmup = max(1, hp.warmup_steps)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: min((step + 1) / warmup, math.sqrt(warmup / (step + 1))))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    # -- decoding -----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, batch: dict[str, Any], beam_size: int | None = None,
                 max_len: int | None = None) -> tuple[list[list[int]], dict[str, torch.Tensor]]:
        """Greedy (``beam_size`` 1) or beam-search responses (token ids without specials) and the encoder outputs."""
        beam_size = beam_size or self.hparams.beam_size
        max_len = max_len or self.hparams.max_decode_len
        encoded = self.encode({k: v for k, v in batch.items() if k not in ("emotion", "emotion8")}
                              if self.hparams.emotion_source == "predicted" else batch)
        if beam_size == 1:
            return self._greedy(encoded, max_len), encoded
        return self._beam(encoded, beam_size, max_len), encoded

    def _greedy(self, encoded: dict[str, torch.Tensor], max_len: int) -> list[list[int]]:
        tok = self.tokenizer
        b = encoded["memory"].shape[0]
        ids = torch.full((b, 1), tok.bos_id, dtype=torch.long, device=encoded["memory"].device)
        done = torch.zeros(b, dtype=torch.bool, device=ids.device)
        for _ in range(max_len):
            logits = self.decode_logits(encoded, ids)[:, -1]
            logits[:, : tok.eos_id] = torch.finfo(logits.dtype).min  # never PAD / UNK / BOS
            logits[:, tok.sep_id] = torch.finfo(logits.dtype).min
            logits[:, tok.vocab_size:] = torch.finfo(logits.dtype).min  # embedding rows the tokenizer lacks
            nxt = logits.argmax(-1).masked_fill(done, tok.pad_id)
            ids = torch.cat([ids, nxt[:, None]], 1)
            done |= nxt == tok.eos_id
            if done.all():
                break
        return [[int(i) for i in row[1:] if int(i) > tok.sep_id] for row in self._until_eos(ids)]

    def _until_eos(self, ids: torch.Tensor) -> list[torch.Tensor]:
        rows = []
        for row in ids:
            end = (row[1:] == self.tokenizer.eos_id).nonzero()
            rows.append(row[: int(end[0]) + 1] if len(end) else row)
        return rows

    def _beam(self, encoded: dict[str, torch.Tensor], beam: int, max_len: int) -> list[list[int]]:
        """Beam search with length-normalised log-probabilities (score / length)."""
        tok = self.tokenizer
        b = encoded["memory"].shape[0]
        device = encoded["memory"].device
        expanded = {k: v.repeat_interleave(beam, 0) for k, v in encoded.items() if k in ("memory", "memory_mask")}
        ids = torch.full((b * beam, 1), tok.bos_id, dtype=torch.long, device=device)
        scores = torch.zeros(b, beam, device=device)
        scores[:, 1:] = float("-inf")  # all beams start identical: expand only the first
        finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(b)]
        for step in range(max_len):
            logp = self.decode_logits(expanded, ids)[:, -1].float().log_softmax(-1)
            logp[:, : tok.eos_id] = float("-inf")
            logp[:, tok.sep_id] = float("-inf")
            logp[:, tok.vocab_size:] = float("-inf")
            vocab = logp.shape[-1]
            total = (scores.view(-1, 1) + logp).view(b, beam * vocab)
            top_scores, top_idx = total.topk(2 * beam, dim=-1)
            new_ids, new_scores = [], []
            for i in range(b):
                kept = 0
                for s, flat in zip(top_scores[i].tolist(), top_idx[i].tolist(), strict=True):
                    src, token = divmod(flat, vocab)
                    seq = ids[i * beam + src]
                    if token == tok.eos_id:
                        if s > float("-inf"):
                            finished[i].append((s / (step + 1), seq[1:].tolist()))
                        continue
                    new_ids.append(torch.cat([seq, seq.new_tensor([token])]))
                    new_scores.append(s)
                    kept += 1
                    if kept == beam:
                        break
                while kept < beam:  # pad with dead beams
                    new_ids.append(torch.cat([ids[i * beam], ids.new_tensor([tok.pad_id])]))
                    new_scores.append(float("-inf"))
                    kept += 1
            ids = torch.stack(new_ids)
            scores = torch.tensor(new_scores, device=device).view(b, beam)
            if all(len(f) >= beam for f in finished):
                break
        results = []
        for i in range(b):
            pool = finished[i] or [(float(scores[i, k]) / max_len, ids[i * beam + k, 1:].tolist())
                                   for k in range(beam)]
            best = max(pool, key=lambda p: p[0])[1]
            results.append([t for t in best if t > tok.sep_id])
        return results

    # -- predictions --------------------------------------------------------------------------------------------
    def predict_step(self, batch: dict[str, Any], batch_idx: int = 0) -> list[dict[str, Any]]:
        responses, encoded = self.generate(batch)
        return self.predictions({**encoded, "responses": responses}, batch)

    def predictions(self, outputs: dict[str, Any], batch: dict[str, Any]) -> list[dict[str, Any]]:
        best = top_k(outputs["emotion"].softmax(-1), self.labels, k=3)
        groups = outputs["emotion8"].argmax(-1).tolist()
        results = []
        for i, ranked in enumerate(best):
            result = {"label": ranked[0][0], "score": ranked[0][1], "top": ranked,
                      "emotion_group": ED32.coarse_labels[groups[i]]}
            if "responses" in outputs:
                result["response"] = self.tokenizer.decode(outputs["responses"][i])
            results.append(result)
        return results

    def evaluate_generation(self, contexts: Sequence[Sequence[str]], references: Sequence[str],
                            batch_size: int = 64, beam_size: int | None = None) -> tuple[dict[str, float], list[str]]:
        """BLEU-1..4 and Distinct-1/2 of generated responses (see :mod:`zoo.metrics.generation`)."""
        self.eval()
        hypotheses: list[str] = []
        for start in range(0, len(contexts), batch_size):
            batch = self.encode_text(contexts[start:start + batch_size])
            batch = {k: v.to(self.device) for k, v in batch.items()}
            ids, _ = self.generate(batch, beam_size=beam_size)
            hypotheses += [self.tokenizer.decode(r) for r in ids]
        return generation_scores(hypotheses, list(references)), hypotheses

    def load_inputs(self, paths: Sequence[str | Path]) -> dict[str, Any]:
        """Dialogues for ``zoo predict``: a ``.json`` file (a list of turns or {"turns": [...]}), a text file (one
        turn per non-empty line), or a JSON list of turns given inline."""
        return self.encode_text([read_dialogue(p) for p in paths])


def read_dialogue(source: str | Path) -> list[str]:
    """Turns of one dialogue from a file or an inline JSON list (see :meth:`EmpatheticDialogueModel.load_inputs`)."""
    text = str(source)
    path = Path(text)
    inline = text.lstrip().startswith("[")
    if not inline and not path.is_file():
        raise DataError(path, "dialogue file not found (give a .json / .txt file or an inline JSON list of turns)")
    if inline:
        raw, where = text, "inline dialogue"
    else:
        try:
            raw, where = path.read_text(encoding="utf-8"), str(path)
        except UnicodeDecodeError:
            raise DataError(path, "not UTF-8 text") from None
    if inline or path.suffix.lower() == ".json":
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DataError(where, f"malformed JSON ({exc.msg} at line {exc.lineno})") from None
        turns = data.get("turns") if isinstance(data, dict) else data
        if not isinstance(turns, list) or not all(isinstance(t, str) for t in turns):
            raise DataError(where, 'expected a JSON list of turn strings or {"turns": [...]}')
    else:
        turns = [line.strip() for line in raw.splitlines()]
    turns = [t for t in turns if t.strip()]
    if not turns:
        raise DataError(where, "the dialogue has no turns")
    return turns

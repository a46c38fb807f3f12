"""Test-split evaluation of a text affect checkpoint against the lexicon tools (VADER, TextBlob, NRC EmoLex).

``zoo bench text_affect_eval`` (needs ``$ZOO_DATA``) loads the shipped checkpoint and scores it and the lexicons on
the same test splits:

* GoEmotions sentiment (test rows whose sentiment group is exactly one of positive / negative / neutral): accuracy
  and macro-F1. VADER: compound >= 0.05 / <= -0.05; TextBlob: polarity > 0 / < 0 / = 0; NRC: more positive than
  negative associations or the reverse, else neutral; the model: argmax over those three of its sentiment head.
* GoEmotions Ekman-7 (test rows with exactly one Ekman label): accuracy and macro-F1; NRC: the Ekman emotion with
  most associations, neutral when none; VADER and TextBlob have no emotion categories.
* EmoBank valence (test split): Pearson r with VADER compound, TextBlob polarity, NRC (pos - neg) / (pos + neg).
* ISEAR-7 (our hash test split): accuracy and macro-F1; NRC has no shame or guilt, and a text without any
  association counts as wrong (macro-F1 over the 7 true classes).

Metrics are computed with scikit-learn / scipy, the reference implementations.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.nn import lexicon
from zoo.nn.text_encoder import FeatureCache

SENTIMENT3 = ("negative", "neutral", "positive")
EKMAN_NRC = ("anger", "disgust", "fear", "joy", "sadness", "surprise")
ISEAR_NRC = ("joy", "fear", "anger", "sadness", "disgust")


def _cls(y_true: Sequence[int], y_pred: Sequence[int], num_classes: int) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {"acc": float(accuracy_score(y_true, y_pred)),
            "f1_macro": float(f1_score(y_true, y_pred, labels=list(range(num_classes)), average="macro",
                                       zero_division=0))}


def _pearson(x: Sequence[float], y: Sequence[float]) -> float:
    from scipy.stats import pearsonr

    return float(pearsonr(np.asarray(x, dtype=float), np.asarray(y, dtype=float)).statistic)


def embeddings(model, texts: Sequence[str], cache: FeatureCache | None = None) -> torch.Tensor:
    """Sentence embeddings through the feature cache when one is given (and the encoder is frozen)."""
    if cache is not None and model.frozen:
        return cache.features(texts, model.encoder)
    return model.encoder.encode(list(texts))


@torch.inference_mode()
def task_scores(model, emb: torch.Tensor, task: str) -> torch.Tensor:
    model.eval()
    return model.task_scores(model({"features": emb}), model.task(task))


def model_test_metrics(model, test: dict[str, list[dict[str, Any]]], cache: FeatureCache | None = None,
                       ) -> list[dict[str, Any]]:
    """Every task's metrics on its test samples (``test[task] = samples``), as card metric entries."""
    from scipy.stats import pearsonr
    from sklearn.metrics import f1_score

    out = []
    for task in model.tasks:
        samples = test.get(task.name)
        if not samples:
            continue
        emb = embeddings(model, [s["text"] for s in samples], cache)
        scores = task_scores(model, emb, task.name)
        target = torch.stack([torch.as_tensor(s[task.name]) for s in samples])
        if task.kind == "single":
            values = _cls(target.tolist(), scores.argmax(-1).tolist(), len(task.labels))
        elif task.kind == "multilabel":
            preds = (scores >= getattr(model, f"threshold_{task.name}").cpu()).int().numpy()
            y = target.int().numpy()
            values = {"f1_micro": float(f1_score(y, preds, average="micro", zero_division=0)),
                      "f1_macro": float(f1_score(y, preds, average="macro", zero_division=0))}
        else:
            values = {}
            for i, label in enumerate(task.labels):
                x, y = scores[:, i].numpy(), target[:, i].numpy()
                values[f"pearson_{label}"] = float(pearsonr(x, y).statistic)
                values[f"mae_{label}"] = float(np.abs(x - y).mean())
        out.append({"task": task.name, "split": "test", "n": len(samples), "values": values})
    return out


def _single(samples: list[dict[str, Any]], key: str, labels: Sequence[str], keep: Sequence[str],
            ) -> list[tuple[str, int]]:
    """(text, index in ``keep``) for samples whose multi-hot ``key`` has exactly one label, and it is in ``keep``."""
    out = []
    for s in samples:
        on = [labels[i] for i, v in enumerate(s[key].tolist()) if v > 0]
        if len(on) == 1 and on[0] in keep:
            out.append((s["text"], list(keep).index(on[0])))
    return out


def comparison_table(model, go_test: list[dict[str, Any]], emobank_test: list[dict[str, Any]],
                     isear_test: list[dict[str, Any]], cache: FeatureCache | None = None) -> list[dict[str, Any]]:
    """Rows ``{test set, n, metric, model, VADER, TextBlob, NRC EmoLex}`` on the same test samples."""
    from zoo.data.datasets.goemotions import SENTIMENT4
    from zoo.taxonomies import EKMAN7

    rows: list[dict[str, Any]] = []
    name = "text_affect (ours)"

    sent = _single(go_test, "goemotions_sentiment", SENTIMENT4, SENTIMENT3)
    if sent:
        texts, y = [t for t, _ in sent], [i for _, i in sent]
        probs = task_scores(model, embeddings(model, texts, cache), "goemotions_sentiment")
        cols = [SENTIMENT4.index(label) for label in SENTIMENT3]
        preds = {name: probs[:, cols].argmax(-1).tolist(),
                 "VADER": [SENTIMENT3.index(lexicon.sentiment_label(lexicon.vader_compound(t))) for t in texts],
                 "TextBlob": [SENTIMENT3.index("positive" if p > 0 else "negative" if p < 0 else "neutral")
                              for p in (lexicon.textblob_scores(t)[0] for t in texts)],
                 "NRC EmoLex": [SENTIMENT3.index("positive" if v > 0 else "negative" if v < 0 else "neutral")
                                for v in (lexicon.nrc_valence(t) for t in texts)]}
        scored = {k: _cls(y, p, 3) for k, p in preds.items()}
        for metric in ("acc", "f1_macro"):
            rows.append({"test set": "GoEmotions sentiment (pos/neg/neu single-label)", "n": len(y),
                         "metric": metric, **{k: v[metric] for k, v in scored.items()}})

    ekman = _single(go_test, "goemotions_ekman", EKMAN7.labels, EKMAN7.labels)
    if ekman:
        texts, y = [t for t, _ in ekman], [i for _, i in ekman]
        probs = task_scores(model, embeddings(model, texts, cache), "goemotions_ekman")
        nrc = [EKMAN7.labels.index(lexicon.nrc_predict(t, EKMAN_NRC, fallback="neutral")) for t in texts]
        scored = {name: _cls(y, probs.argmax(-1).tolist(), 7), "NRC EmoLex": _cls(y, nrc, 7)}
        for metric in ("acc", "f1_macro"):
            rows.append({"test set": "GoEmotions Ekman-7 (single-label)", "n": len(y), "metric": metric,
                         **{k: v[metric] for k, v in scored.items()}, "VADER": "n/a", "TextBlob": "n/a"})

    if emobank_test:
        texts = [s["text"] for s in emobank_test]
        gold = [float(s["emobank_vad"][0]) for s in emobank_test]
        vad = task_scores(model, embeddings(model, texts, cache), "emobank_vad")
        rows.append({"test set": "EmoBank valence", "n": len(texts), "metric": "pearson",
                     name: _pearson(vad[:, 0].tolist(), gold),
                     "VADER": _pearson([lexicon.vader_compound(t) for t in texts], gold),
                     "TextBlob": _pearson([lexicon.textblob_scores(t)[0] for t in texts], gold),
                     "NRC EmoLex": _pearson([lexicon.nrc_valence(t) for t in texts], gold)})

    if isear_test:
        from zoo.taxonomies import ISEAR7

        texts, y = [s["text"] for s in isear_test], [int(s["isear"]) for s in isear_test]
        probs = task_scores(model, embeddings(model, texts, cache), "isear")
        nrc = [ISEAR7.labels.index(p) if p else 7 for p in (lexicon.nrc_predict(t, ISEAR_NRC) for t in texts)]
        scored = {name: _cls(y, probs.argmax(-1).tolist(), 7), "NRC EmoLex": _cls(y, nrc, 7)}
        for metric in ("acc", "f1_macro"):
            rows.append({"test set": "ISEAR-7 (hash split)", "n": len(y), "metric": metric,
                         **{k: v[metric] for k, v in scored.items()}, "VADER": "n/a", "TextBlob": "n/a"})
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    cols = ["test set", "n", "metric", "text_affect (ours)", "VADER", "TextBlob", "NRC EmoLex"]
    fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def main(quick: bool = False, out_dir: Path = Path("benchmarks/results"),
         checkpoint: str = "text_affect-minilm-goemotions-emobank-isear",
         cache_path: str | None = "runs/text_affect/features-minilm.safetensors") -> dict[str, Any]:
    from zoo.bench import write_results
    from zoo.data.datasets.emobank import EmoBankReader
    from zoo.data.datasets.goemotions import GoEmotionsReader
    from zoo.data.datasets.isear import ISEARReader
    from zoo.hub import load

    model = load(checkpoint)
    cache = FeatureCache.load(cache_path, model.cache_id()) if cache_path else None
    limit = 300 if quick else None
    go = GoEmotionsReader().samples("test")[:limit]
    eb = EmoBankReader().samples("test")[:limit]
    isear = ISEARReader().samples("test")[:limit]
    rows = comparison_table(model, go, eb, isear, cache)
    metrics = model_test_metrics(model, {"goemotions": go, "goemotions_ekman": go, "goemotions_sentiment": go,
                                         "emobank_vad": eb, "isear": isear}, cache)
    write_results(out_dir, "text_affect_eval" + ("_quick" if quick else ""), rows,
                  extra={"checkpoint": checkpoint, "model_metrics": metrics})
    return {"rows": rows, "model_metrics": metrics}

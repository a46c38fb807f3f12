"""Metrics of the EmoLLMs / AEB evaluation (Liu et al., KDD 2024, Sec. 4.1): Pearson correlation for regression,
accuracy and macro-F1 for ordinal / multi-class classification, and for multi-label classification the SemEval-2018
E-c Jaccard accuracy (Mohammad et al., SemEval 2018, Sec. 5: the mean over texts of |G ∩ P| / |G ∪ P|, with two
empty sets counting 1) with micro / macro F1.

Unparseable answers (``None``) are wrong for classification (an extra class no reference has, so they lower
accuracy and recall) and are left out of Pearson (the caller reports how many were dropped).
"""
from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np


def pearson(preds: Sequence[float | None], target: Sequence[float]) -> float:
    """Pearson's r over the pairs whose prediction parsed (nan with fewer than 2 pairs or zero variance)."""
    pairs = [(float(p), float(t)) for p, t in zip(preds, target, strict=True) if p is not None]
    if len(pairs) < 2:
        return float("nan")
    x, y = np.array(pairs).T
    if x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def accuracy(preds: Sequence[Hashable | None], target: Sequence[Hashable]) -> float:
    return float(np.mean([p == t for p, t in zip(preds, target, strict=True)])) if len(target) else float("nan")


def macro_f1(preds: Sequence[Hashable | None], target: Sequence[Hashable],
             labels: Sequence[Hashable] | None = None) -> float:
    """Mean F1 over ``labels`` (default: every class in target or predictions, unparseable excluded), as
    ``sklearn.metrics.f1_score(average='macro')`` with the same label set."""
    classes = list(labels) if labels is not None else sorted(
        {t for t in target} | {p for p in preds if p is not None}, key=str)
    scores = []
    for c in classes:
        tp = sum(p == c and t == c for p, t in zip(preds, target, strict=True))
        fp = sum(p == c and t != c for p, t in zip(preds, target, strict=True))
        fn = sum(p != c and t == c for p, t in zip(preds, target, strict=True))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return float(np.mean(scores)) if scores else float("nan")


def jaccard_accuracy(preds: Sequence[Sequence[str] | None], target: Sequence[Sequence[str]]) -> float:
    """Mean |G ∩ P| / |G ∪ P| over texts; both empty -> 1; an unparseable prediction -> 0."""
    scores = []
    for p, t in zip(preds, target, strict=True):
        if p is None:
            scores.append(0.0)
            continue
        p, t = set(p), set(t)
        scores.append(1.0 if not p and not t else len(p & t) / len(p | t))
    return float(np.mean(scores)) if scores else float("nan")


def multilabel_f1(preds: Sequence[Sequence[str] | None], target: Sequence[Sequence[str]],
                  labels: Sequence[str]) -> dict[str, float]:
    """Micro and macro F1 over ``labels`` (an unparseable prediction = no label predicted)."""
    tp = np.zeros(len(labels))
    fp = np.zeros(len(labels))
    fn = np.zeros(len(labels))
    for p, t in zip(preds, target, strict=True):
        p, t = set(p or ()), set(t)
        for i, label in enumerate(labels):
            tp[i] += label in p and label in t
            fp[i] += label in p and label not in t
            fn[i] += label not in p and label in t
    denom = 2 * tp + fp + fn
    per = np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), 0.0)
    micro = 2 * tp.sum() / (2 * tp.sum() + fp.sum() + fn.sum()) if (2 * tp.sum() + fp.sum() + fn.sum()) else 0.0
    return {"f1_micro": float(micro), "f1_macro": float(per.mean())}

"""Classification metrics on torchmetrics: accuracy, macro/weighted F1, UAR, per-class report, confusion matrix.

UAR (unweighted average recall) is the macro average of per-class recall, the standard figure of speech-emotion
papers. Classes absent from both targets and predictions are left out of macro averages, as scikit-learn does.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassRecall,
    MultilabelF1Score,
)


def classification_metrics(num_classes: int, ignore_index: int | None = -1) -> MetricCollection:
    """Scalar metrics for single-label classification: ``acc``, ``f1_macro``, ``f1_weighted``, ``uar``."""
    kw = {"num_classes": num_classes, "ignore_index": ignore_index}
    return MetricCollection({
        "acc": MulticlassAccuracy(average="micro", **kw),
        "f1_macro": MulticlassF1Score(average="macro", **kw),
        "f1_weighted": MulticlassF1Score(average="weighted", **kw),
        "uar": MulticlassRecall(average="macro", **kw),
    })


def multilabel_metrics(num_labels: int, threshold: float = 0.5) -> MetricCollection:
    """Scalar metrics for multi-label classification: micro and macro F1 at ``threshold``."""
    return MetricCollection({
        "f1_micro": MultilabelF1Score(num_labels, threshold=threshold, average="micro"),
        "f1_macro": MultilabelF1Score(num_labels, threshold=threshold, average="macro"),
    })


def confusion_matrix(preds: torch.Tensor, target: torch.Tensor, num_classes: int,
                     normalize: str | None = None) -> torch.Tensor:
    """``[true, predicted]`` counts (or ``normalize='true'`` for row-normalised rates)."""
    metric = MulticlassConfusionMatrix(num_classes, normalize=normalize)
    return metric(preds, target)


def per_class_report(preds: torch.Tensor, target: torch.Tensor, labels: Sequence[str]) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support per class, plus macro and weighted averages (as scikit-learn's report)."""
    cm = confusion_matrix(preds, target, len(labels)).double()
    tp = cm.diag()
    support = cm.sum(1)
    predicted = cm.sum(0)
    precision = torch.where(predicted > 0, tp / predicted.clamp(min=1), torch.zeros_like(tp))
    recall = torch.where(support > 0, tp / support.clamp(min=1), torch.zeros_like(tp))
    denom = precision + recall
    f1 = torch.where(denom > 0, 2 * precision * recall / denom.clamp(min=1e-12), torch.zeros_like(tp))
    report = {
        label: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                "support": int(support[i])}
        for i, label in enumerate(labels)
    }
    present = (support + predicted) > 0
    weights = support / support.sum().clamp(min=1)
    for name, avg in (("macro", lambda x: x[present].mean()), ("weighted", lambda x: (x * weights).sum())):
        report[f"{name} avg"] = {"precision": float(avg(precision)), "recall": float(avg(recall)),
                                 "f1": float(avg(f1)), "support": int(support.sum())}
    return report

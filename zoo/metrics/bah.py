"""Ambivalence/hesitancy (A/H) metrics as the BAH release reports them (González-González et al., BAH, Sec. 5).

Class 1 is the presence of A/H, class 0 its absence. :func:`bah_perfs` returns

- ``acc``: accuracy; ``f1_pos`` / ``f1_neg``: per-class F1; ``avgf1``: their unweighted mean (macro-F1, the
  paper's AVGF1); ``wf1``: support-weighted F1;
- ``confusion``: the 2x2 row-normalised confusion matrix (rows: true class, columns: predicted class);
- ``ap_pos``: the release's average precision of class 1, the area under the (recall, precision) curve traced by
  thresholding the class-1 probability at 0, 0.001, ..., 0.999 (trapezoidal rule, as ``sklearn.metrics.auc``);
- ``ap_pos_standard``: the standard step-wise average precision (``sklearn.metrics.average_precision_score``).

The release's AP integrates only over the recall range the thresholds reach: when every positive scores at least
0.999, recall never leaves 1 and the area is 0 (the standard AP is then 1). We keep that definition for comparability.

Unlike the release script, both classes are always scored (``labels=[0, 1]``), so a split where one class is never
predicted or absent gets F1 0 for that class instead of an assertion error.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torchmetrics import Metric

AP_THRESHOLDS = np.arange(0, 1, 0.001)
"""Thresholds of the release's AP: 0 to 0.999 in steps of 0.001."""


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def thresholded_average_precision(prob_pos: np.ndarray, target: np.ndarray,
                                  thresholds: np.ndarray = AP_THRESHOLDS) -> float:
    """Area under the precision-recall curve over fixed thresholds (the BAH release's AP of class 1).

    At each threshold ``th`` a sample is predicted positive when ``prob_pos >= th``; precision is 0 when nothing is
    predicted positive. The (recall, precision) points are integrated with the trapezoidal rule; recall falls
    monotonically as the threshold rises, so the area is taken along decreasing recall, as ``sklearn.metrics.auc``
    does for a monotonically decreasing x.
    """
    prob_pos = np.asarray(prob_pos, dtype=np.float64)
    target = np.asarray(target).astype(bool)
    n_pos = int(target.sum())
    if n_pos == 0:
        raise ValueError("average precision needs at least one positive (A/H) sample")
    predicted = prob_pos[None, :] >= thresholds[:, None]  # [n_thresholds, n]
    tp = (predicted & target[None, :]).sum(1).astype(np.float64)
    fp = (predicted & ~target[None, :]).sum(1).astype(np.float64)
    precision = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=(tp + fp) > 0)
    recall = tp / n_pos
    # recall is non-increasing along the thresholds: integrate from right to left, area >= 0.
    return float(-np.trapezoid(precision, recall))


def standard_average_precision(prob_pos: np.ndarray, target: np.ndarray) -> float:
    """Step-wise AP: sum_n (R_n - R_{n-1}) P_n over every distinct score (scikit-learn's definition)."""
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(np.asarray(target).astype(int), np.asarray(prob_pos, dtype=np.float64)))


def _f1_per_class(target: np.ndarray, pred: np.ndarray) -> np.ndarray:
    f1 = np.zeros(2)
    for c in (0, 1):
        tp = np.sum((pred == c) & (target == c))
        fp = np.sum((pred == c) & (target != c))
        fn = np.sum((pred != c) & (target == c))
        denom = 2 * tp + fp + fn
        f1[c] = 2 * tp / denom if denom > 0 else 0.0
    return f1


def row_normalised_confusion(target: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """``cm[i, j]``: fraction of class-``i`` samples predicted as ``j`` (a row of zeros for an absent class)."""
    cm = np.zeros((2, 2))
    for t, p in zip(target.astype(int), pred.astype(int), strict=True):
        cm[t, p] += 1
    rows = cm.sum(1, keepdims=True)
    return np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)


def bah_perfs(target: np.ndarray, hard_preds: np.ndarray, logits: np.ndarray | None = None,
              probs: np.ndarray | None = None) -> dict[str, Any]:
    """The BAH A/H scores of binary predictions (see the module docstring for the keys).

    Args:
        target: ``[n]`` ground truth in {0, 1}.
        hard_preds: ``[n]`` predicted class in {0, 1}.
        logits: optional ``[n, 2]`` logits (softmaxed to get the class-1 probability), or
        probs: optional ``[n]`` class-1 probabilities. Without either, the AP keys are absent.
    """
    target = np.asarray(target).astype(int).reshape(-1)
    pred = np.asarray(hard_preds).astype(int).reshape(-1)
    if target.shape != pred.shape:
        raise ValueError(f"target {target.shape} and predictions {pred.shape} differ in shape")
    if not set(np.unique(np.concatenate([target, pred]))) <= {0, 1}:
        raise ValueError("BAH targets and predictions must be 0 (No A-H) or 1 (With A-H)")
    f1 = _f1_per_class(target, pred)
    support = np.bincount(target, minlength=2).astype(np.float64)
    perfs: dict[str, Any] = {
        "acc": float((target == pred).mean()) if len(target) else 0.0,
        "f1_pos": float(f1[1]),
        "f1_neg": float(f1[0]),
        "avgf1": float(f1.mean()),
        "wf1": float((f1 * support).sum() / max(support.sum(), 1.0)),
        "confusion": row_normalised_confusion(target, pred),
    }
    if logits is not None:
        logits = np.asarray(logits, dtype=np.float64)
        if logits.shape != (len(target), 2):
            raise ValueError(f"logits must be [n, 2] = {(len(target), 2)}, got {logits.shape}")
        probs = softmax(logits)[:, 1]
    if probs is not None and target.sum() > 0:
        perfs["ap_pos"] = thresholded_average_precision(np.asarray(probs), target)
        perfs["ap_pos_standard"] = standard_average_precision(np.asarray(probs), target)
    return perfs


class BAHPerformance(Metric):
    """Accumulates class-1 probabilities and targets (ignoring ``ignore_index``) and computes :func:`bah_perfs`.

    ``compute()`` returns the scalar scores as tensors (``acc``, ``avgf1``, ``wf1``, ``f1_pos``, ``f1_neg``,
    ``ap_pos``, ``ap_pos_standard``); :meth:`report` returns the full dict with the confusion matrix.
    """

    full_state_update = False

    def __init__(self, ignore_index: int = -1, **kwargs):
        super().__init__(**kwargs)
        self.ignore_index = ignore_index
        self.add_state("probs", default=[], dist_reduce_fx="cat")
        self.add_state("target", default=[], dist_reduce_fx="cat")

    def update(self, logits: torch.Tensor, target: torch.Tensor) -> None:
        """``logits [..., 2]`` and ``target [...]``; positions equal to ``ignore_index`` are skipped."""
        logits = logits.detach().reshape(-1, 2).float()
        target = target.detach().reshape(-1)
        keep = target != self.ignore_index
        self.probs.append(logits[keep].softmax(-1)[:, 1])
        self.target.append(target[keep].long())

    def report(self) -> dict[str, Any]:
        probs = torch.cat(self.probs) if isinstance(self.probs, list) else self.probs
        target = torch.cat(self.target) if isinstance(self.target, list) else self.target
        if probs.numel() == 0:
            return {}
        p = probs.cpu().double().numpy()
        return bah_perfs(target.cpu().numpy(), (p > 0.5).astype(int), probs=p)  # = argmax of the logits

    def compute(self) -> dict[str, torch.Tensor]:
        return {k: torch.tensor(v, dtype=torch.float32) for k, v in self.report().items() if k != "confusion"}

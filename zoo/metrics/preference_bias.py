"""Strategy proficiency, preference and preference bias (Kang et al., "Can Large Language Models be Good Emotional
Supporter? Mitigating Preference Bias on Emotional Support Conversation", ACL 2024, Sec. 3.1 and App. A; formulas as
implemented in the authors' ``metrics.py``, github.com/1eastar/EmotionalSupport).

Given gold strategies ``y`` and predicted strategies ``y_hat`` over ``K`` strategies (ESConv: K = 8):

* **Proficiency** ``Q`` = macro-F1 over the K strategies (their code also reports weighted F1).
* **Preference** ``p_i``: a Bradley-Terry model (Bradley & Terry 1952) in which every prediction is a comparison
  won by the predicted strategy over the gold one. With the confusion matrix ``C[g, k]`` (gold g, predicted k),
  the number of times strategy i beats j is ``w_ij = C[j, i]`` (i predicted where j was gold, i != j; the
  diagonal is not a comparison). Under BT, ``P(i beats j) = p_i / (p_i + p_j)``; the maximum-likelihood ``p``
  solves, for every i,

      p_i = sum_{j != i} w_ij * p_j / (p_i + p_j)  /  sum_{j != i} w_ji / (p_i + p_j)        (Newman 2023, eq. 3)

  iterated from ``p = 1`` with in-place (Gauss-Seidel) updates, each sweep divided by the geometric mean of the
  non-zero ``p``; after the last sweep ``p`` is rescaled to sum to K (mean preference 1). The authors run 20
  sweeps (``iterations=20``, the default here); more sweeps converge to the ML estimate.
* **Preference bias** ``B`` = the (population) standard deviation of ``p_1 ... p_K``.

A strategy that is never compared (no off-diagonal entry in its row or column) has no defined preference; it gets
``nan`` and is left out of ``B`` (the authors' code would divide by zero there).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torchmetrics import Metric

from zoo.errors import ConfigError
from zoo.metrics.classification import per_class_report


def win_matrix(confusion: np.ndarray) -> np.ndarray:
    """``w[i, j]`` = times strategy i was predicted where j was gold (i != j); zero diagonal."""
    confusion = np.asarray(confusion, dtype=np.float64)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1]:
        raise ConfigError(f"confusion matrix must be square, got shape {confusion.shape}")
    if (confusion < 0).any():
        raise ConfigError("confusion matrix has negative counts")
    wins = confusion.T.copy()
    np.fill_diagonal(wins, 0.0)
    return wins


def bradley_terry_preferences(confusion: np.ndarray, iterations: int = 20, tol: float | None = None) -> np.ndarray:
    """Bradley-Terry preferences from a ``[gold, predicted]`` confusion matrix (see the module docstring).

    ``tol``: stop early once no preference changes by more than ``tol`` in a sweep (None: always ``iterations``).
    """
    wins = win_matrix(confusion)
    k = wins.shape[0]
    compared = (wins.sum(0) + wins.sum(1)) > 0
    p = np.where(compared, 1.0, np.nan)
    for _ in range(iterations):
        before = p.copy()
        for i in np.flatnonzero(compared):
            others = compared.copy()
            others[i] = False
            denom_pairs = p[i] + p[others]
            denom_pairs = np.where(denom_pairs > 0, denom_pairs, np.inf)  # 0/0 pair: no information
            won = (wins[i, others] * p[others] / denom_pairs).sum()
            lost = (wins[others, i] / denom_pairs).sum()
            if lost <= 0:
                raise ConfigError("a strategy wins every comparison it takes part in; its Bradley-Terry preference "
                                  "diverges (the ML estimate does not exist)")
            p[i] = won / lost
        positive = p[compared] > 0
        if positive.any():
            p[compared] /= np.exp(np.log(p[compared][positive]).mean())
        if tol is not None and np.nanmax(np.abs(p - before)) <= tol:
            break
    return p * k / np.nansum(p) if compared.any() else p


def preference_bias(preferences: np.ndarray) -> float:
    """``B``: population standard deviation of the defined preferences."""
    values = np.asarray(preferences, dtype=np.float64)
    return float(np.std(values[~np.isnan(values)]))


@dataclass
class StrategyReport:
    proficiency: float
    """``Q``: macro-F1 over the strategies."""
    weighted_f1: float
    accuracy: float
    preferences: dict[str, float]
    bias: float
    """``B``: the spread (std) of the preferences."""
    f1: dict[str, float]

    def as_dict(self) -> dict:
        return {"proficiency_macro_f1": self.proficiency, "weighted_f1": self.weighted_f1, "accuracy": self.accuracy,
                "preference_bias": self.bias, "preferences": self.preferences, "f1": self.f1}


def strategy_report(preds: Sequence[int] | torch.Tensor, target: Sequence[int] | torch.Tensor,
                    labels: Sequence[str], iterations: int = 20) -> StrategyReport:
    """Proficiency, per-strategy F1, Bradley-Terry preferences and preference bias of predicted strategies."""
    preds_t = torch.as_tensor(preds, dtype=torch.long)
    target_t = torch.as_tensor(target, dtype=torch.long)
    k = len(labels)
    confusion = np.zeros((k, k))
    np.add.at(confusion, (target_t.numpy(), preds_t.numpy()), 1)
    report = per_class_report(preds_t, target_t, labels)
    prefs = bradley_terry_preferences(confusion, iterations=iterations)
    return StrategyReport(
        proficiency=report["macro avg"]["f1"],
        weighted_f1=report["weighted avg"]["f1"],
        accuracy=float((preds_t == target_t).double().mean()),
        preferences={label: float(prefs[i]) for i, label in enumerate(labels)},
        bias=preference_bias(prefs),
        f1={label: report[label]["f1"] for label in labels},
    )


class StrategyPreferenceBias(Metric):
    """Epoch-level preference bias ``B`` from accumulated ``[gold, predicted]`` counts (see the module docstring).

    ``update(preds, target)`` takes logits ``[N, K]`` or class indices ``[N]``; ``compute()`` returns ``B``.
    """

    full_state_update = False

    def __init__(self, num_classes: int, iterations: int = 20):
        super().__init__()
        self.num_classes = num_classes
        self.iterations = iterations
        self.add_state("confusion", default=torch.zeros(num_classes, num_classes, dtype=torch.long),
                       dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        if preds.dim() == 2:
            preds = preds.argmax(-1)
        keep = target >= 0
        flat = target[keep] * self.num_classes + preds[keep]
        self.confusion += torch.bincount(flat, minlength=self.num_classes**2).view(self.num_classes, -1)

    def compute(self) -> torch.Tensor:
        try:
            prefs = bradley_terry_preferences(self.confusion.cpu().numpy(), self.iterations)
        except ConfigError:
            return torch.tensor(float("nan"))
        return torch.tensor(preference_bias(prefs) if not np.isnan(prefs).all() else float("nan"))

"""Emotion-intensity metrics for EmoNet-Voice-style benchmarks (Schuhmann et al. 2025, benchmark evaluation:
correlation with the experts' perceived intensity, per emotion and macro-averaged, and high- vs low-arousal
emotions).

Inputs are ``preds`` / ``target`` ``[N, K]`` with a boolean ``mask`` ``[N, K]`` (True where clip n was rated on
dimension k; each EmoNet-Voice Bench clip is rated on the emotion it was generated for). Per dimension, over its
rated clips:

* Pearson r and Spearman rho (Pearson of average ranks, as ``scipy.stats.spearmanr``);
* MAE;
* present/absent F1: a clip is *present* when its value is >= ``threshold`` (targets and predictions alike) and F1
  is that of the *present* class.

A statistic that is undefined (fewer than 2 rated clips, a constant series, no present clip in either target or
prediction) is NaN and left out of the macro average. Group summaries macro-average the dimensions of each taxonomy
group, and ``high_energy`` / ``low_energy`` pool the groups whose name says High-Energy / Low-Energy.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torchmetrics import Metric

STATS = ("pearson", "spearman", "mae", "f1")


def pearson(x: torch.Tensor, y: torch.Tensor) -> float:
    x, y = x.double(), y.double()
    if x.numel() < 2:
        return math.nan
    xc, yc = x - x.mean(), y - y.mean()
    denom = xc.norm() * yc.norm()
    return float((xc * yc).sum() / denom) if denom > 0 else math.nan


def average_ranks(x: torch.Tensor) -> torch.Tensor:
    """1-based ranks, ties sharing the mean of their positions."""
    x = x.double()
    order = torch.argsort(x, stable=True)
    sorted_x = x[order]
    ranks = torch.empty_like(x)
    start = 0
    n = x.numel()
    while start < n:
        end = start
        while end + 1 < n and sorted_x[end + 1] == sorted_x[start]:
            end += 1
        ranks[order[start:end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def spearman(x: torch.Tensor, y: torch.Tensor) -> float:
    if x.numel() < 2:
        return math.nan
    return pearson(average_ranks(x), average_ranks(y))


def present_f1(preds: torch.Tensor, target: torch.Tensor, threshold: float) -> float:
    p, t = preds >= threshold, target >= threshold
    tp = int((p & t).sum())
    fp = int((p & ~t).sum())
    fn = int((~p & t).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else math.nan


def _nanmean(values: Sequence[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else math.nan


def energy_groups(groups: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """``high_energy`` / ``low_energy``: the union of groups named ``*High-Energy*`` / ``*Low-Energy*``."""
    return {
        "high_energy": tuple(label for g, members in groups.items() if "High-Energy" in g for label in members),
        "low_energy": tuple(label for g, members in groups.items() if "Low-Energy" in g for label in members),
    }


def intensity_report(preds: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, labels: Sequence[str],
                     groups: Mapping[str, Sequence[str]] | None = None, threshold: float = 0.5) -> dict:
    """``{"per_dimension": {label: {n, pearson, spearman, mae, f1}}, "macro": {...}, "groups": {group: {...}},
    "energy": {"high_energy": {...}, "low_energy": {...}}}`` (see the module docstring)."""
    preds, target, mask = preds.detach().cpu(), target.detach().cpu(), mask.detach().cpu().bool()
    per: dict[str, dict[str, float]] = {}
    for k, label in enumerate(labels):
        rated = mask[:, k]
        p, t = preds[rated, k], target[rated, k]
        per[label] = {
            "n": int(rated.sum()),
            "pearson": pearson(p, t),
            "spearman": spearman(p, t),
            "mae": float((p - t).abs().mean()) if rated.any() else math.nan,
            "f1": present_f1(p, t, threshold),
        }

    def summary(members: Sequence[str]) -> dict[str, float]:
        rows = [per[m] for m in members if m in per]
        return {"n": sum(r["n"] for r in rows), **{s: _nanmean([r[s] for r in rows]) for s in STATS}}

    groups = dict(groups or {})
    return {
        "per_dimension": per,
        "macro": summary(list(labels)),
        "groups": {g: summary(members) for g, members in groups.items()},
        "energy": {name: summary(members) for name, members in energy_groups(groups).items()},
    }


class IntensityMetrics(Metric):
    """Accumulates ``(preds, target, mask)`` over an epoch (and across processes); ``compute()`` gives the scalar
    summary ``{<stat>_macro, high_energy_<stat>, low_energy_<stat>}`` and :meth:`report` the full report."""

    full_state_update = False

    def __init__(self, labels: Sequence[str], groups: Mapping[str, Sequence[str]] | None = None,
                 threshold: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        self.labels = list(labels)
        self.groups = {g: tuple(m) for g, m in (groups or {}).items()}
        self.threshold = threshold
        self.add_state("preds", default=[], dist_reduce_fx="cat")
        self.add_state("target", default=[], dist_reduce_fx="cat")
        self.add_state("mask", default=[], dist_reduce_fx="cat")

    def update(self, preds: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> None:
        self.preds.append(preds.detach().float())
        self.target.append(target.detach().float())
        self.mask.append(mask.detach().bool())

    def _cat(self, items) -> torch.Tensor:
        return torch.cat(items) if isinstance(items, list) else items

    def report(self) -> dict:
        return intensity_report(self._cat(self.preds), self._cat(self.target), self._cat(self.mask), self.labels,
                                self.groups, self.threshold)

    def compute(self) -> dict[str, torch.Tensor]:
        report = self.report()
        out = {f"{s}_macro": report["macro"][s] for s in STATS}
        for name, summary in report["energy"].items():
            out.update({f"{name}_{s}": summary[s] for s in STATS})
        return {k: torch.tensor(v) for k, v in out.items()}

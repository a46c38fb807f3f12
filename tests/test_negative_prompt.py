"""NegativePrompt: the ten stimuli verbatim, appended without a separator, and the four evaluators."""
from __future__ import annotations

import pytest

from zoo.errors import ConfigError
from zoo.prompts.negative_prompt import (
    NEGATIVE_STIMULI,
    NegativePromptTransform,
    apply_stimulus,
    build_query,
    contains,
    exact_match,
    exact_set,
    normalize_answer,
    score,
    token_f1,
)

PUBLISHED = [
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
]


def test_stimuli_are_the_ten_published_sentences_in_order():
    assert list(NEGATIVE_STIMULI) == PUBLISHED


def test_stimulus_is_appended_with_no_separating_space():
    instruction = "Determine whether a movie review is positive or negative."
    assert apply_stimulus(instruction, 3) == instruction + PUBLISHED[2]
    assert apply_stimulus(instruction, 3) == (
        "Determine whether a movie review is positive or negative.It's clear you're out of your depth here.")
    assert apply_stimulus(instruction, 0) == instruction
    assert NegativePromptTransform(10)(instruction) == instruction + PUBLISHED[9]
    assert NegativePromptTransform(7).name == "NP07"


def test_query_template_holds_transformed_instruction_and_input():
    q = build_query("Sum the two given numbers.", "3 4", k=1)
    assert q == ("Instruction: Sum the two given numbers.You've never been particularly good at this, have you?"
                 "\n\nInput: 3 4\nAnswer:")


@pytest.mark.parametrize("k", [-1, 11])
def test_unknown_stimulus_is_refused(k):
    with pytest.raises(ConfigError, match="1..10"):
        NegativePromptTransform(k)


def test_normalisation_keeps_first_sentence_lowercases_and_strips_punctuation():
    assert normalize_answer("The Cat-sat. And more\nsecond line") == "the cat sat"
    assert normalize_answer("I can't and won't") == "i cannot wont"


def test_exact_match():
    assert exact_match("Positive.", "positive") == 1.0
    assert exact_match("positive review", "positive") == 0.0


def test_token_f1_matches_hand_computation():
    # prediction tokens: a b c d; reference: a b e -> overlap 2, P = 2/4, R = 2/3, F1 = 2PR/(P+R) = 4/7
    assert token_f1("a b c d", "a b e") == pytest.approx(4 / 7)
    assert token_f1("x", "y") == 0.0


def test_exact_set_ignores_order_and_accepts_comma_separated_reference():
    assert exact_set("dog cat", "cat dog") == 1.0
    assert exact_set("dog", "cat, dog") == 0.0
    assert exact_set("cat dog bird", "cat dog") == 0.0


def test_contains_needs_whole_words():
    assert contains("I think the answer is happy indeed", "happy") == 1.0
    assert contains("unhappy", "happy") == 0.0


def test_score_takes_best_reference_and_rejects_unknown_metric():
    assert score("big", ["large", "big"], "em") == 1.0
    with pytest.raises(ConfigError, match="unknown NegativePrompt metric"):
        score("a", "a", "bleu")


def test_task_specific_exact_match_variants():
    from zoo.prompts.negative_prompt import task_score

    # lenient contains-EM on arithmetic / translation / antonyms (plain EM would give 0)
    assert task_score("The answer is 42.", "42", "sum") == 1.0
    assert exact_match("The answer is 42.", "42") == 0.0
    assert task_score("la casa", ["el perro", "casa"], "translation_en-es") == 1.0
    # sentiment: the named polarity, an abbreviation or a number's sign, both named = wrong
    assert task_score("Positive!", "positive", "sentiment") == 1.0
    assert task_score("neg", "negative", "sentiment") == 1.0
    assert task_score("-3", "positive", "sentiment") == 1.0  # the reference drops "-" before reading the sign
    assert task_score("positive or negative", "positive", "sentiment") == 0.0
    # cause_and_effect: any ':'-part of the reference in the prediction
    assert task_score("the rain fell", "The rain fell: the grass is wet.", "cause_and_effect") == 1.0
    # rhymes: one word equals the reference
    assert task_score("cat, hat", "hat", "rhymes") == 1.0 and task_score("chat", "hat", "rhymes") == 0.0
    # orthography_starts_with: word sets (scores and digits dropped); letters_list: the sequence
    assert task_score("apple, ant. 0.9", "ant apple", "orthography_starts_with") == 1.0
    assert task_score("c a t", "c a t", "letters_list") == 1.0 and task_score("a c t", "c a t", "letters_list") == 0.0
    # sentence_similarity: the leading digit of a number in the answer
    assert task_score("I'd say 4 out of 5", "4 - almost perfectly", "sentence_similarity") == 1.0
    # word_in_context: yes/no words mapped to same / not the same
    assert task_score("Yes, same meaning", "same", "word_in_context") == 1.0
    assert task_score("No.", "not the same", "word_in_context") == 1.0
    # larger_animal: the animal before "larger than"; a comma in T5's first word is wrong
    assert task_score("whale is larger than a shrimp", "whale", "larger_animal") == 1.0
    assert task_score("shrimp, whale", "whale", "larger_animal", model="t5") == 0.0
    assert task_score("shrimp, whale", "whale", "larger_animal", model="gpt") == 1.0
    # first_word_letter: contains on what follows "is"
    assert task_score("The first letter is c", "c", "first_word_letter") == 1.0
    # tasks with a non-EM metric keep it (taxonomy_animal: exact set; common_concept: token F1)
    assert task_score("cat dog", "dog cat", "taxonomy_animal") == 1.0
    assert task_score("things that fly", "fly", "common_concept") == pytest.approx(0.5)
    # other tasks: plain exact match
    assert task_score("Hello", "hello", "active_to_passive") == 1.0
    assert task_score("Hello world", "hello", "active_to_passive") == 0.0

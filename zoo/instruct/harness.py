"""Evaluate models on EmoLLMs / AEB-style instruction tasks by prompting (Liu et al., EmoLLMs, KDD 2024, Sec. 4).

An *answerer* turns instruction examples into answer strings:

* :class:`CausalLMAnswerer` -- any local Hugging Face causal LM (folder, or model + tokenizer objects). Each prompt
  is wrapped as EmoLLMs does (``"Human: \\n{prompt}\\n\\nAssistant:\\n"``); decoding is greedy by default, or the
  published sampling settings (:data:`EMOLLMS_SAMPLING`: temperature 0.9, top_p 0.6, top_k 30, repetition penalty
  1.2) with ``sampling=True``. Only the generated continuation is returned.
* :class:`ZooTextAnswerer` -- a zoo text model (anything with ``predict_texts(texts) -> list[dict]``) and a
  formatter that writes its prediction for an example as the task's answer string; :func:`semeval_formatter` maps
  the text affect model's GoEmotions / EmoBank heads onto the SemEval-2018 tasks (zero-shot transfer).

:func:`evaluate` groups examples by task, optionally transforms each instruction (e.g.
:class:`zoo.prompts.negative_prompt.NegativePromptTransform`), parses the answers (:mod:`zoo.instruct.parsing`) and
scores them (:mod:`zoo.metrics.instruction`), reporting the number of unparseable answers per task.

    python -m zoo.instruct.harness --data test.json --causal-lm /path/to/model [--sampling] [--negative-prompt 3]
"""
from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import torch

from zoo.data.datasets.emollms import NO_EMOTION, PROMPT_TEMPLATE, InstructionExample, read_instructions
from zoo.errors import ConfigError
from zoo.instruct.parsing import AnswerSpace, answer_space, parse_answers
from zoo.metrics.instruction import accuracy, jaccard_accuracy, macro_f1, multilabel_f1, pearson

EMOLLMS_SAMPLING = {"do_sample": True, "temperature": 0.9, "top_p": 0.6, "top_k": 30, "repetition_penalty": 1.2,
                    "num_beams": 1}
"""Generation settings of EmoLLMs' ``src/inference.py``."""


class Answerer(Protocol):
    name: str

    def answer(self, examples: Sequence[InstructionExample]) -> list[str]: ...


class CausalLMAnswerer:
    """Prompt a Hugging Face causal LM.

    Args:
        model: a local folder (loaded with ``local_files_only``) or a ``PreTrainedModel``.
        tokenizer: folder or tokenizer object (default: the model folder).
        sampling: use :data:`EMOLLMS_SAMPLING` instead of greedy decoding.
        max_new_tokens: generation budget per answer.
        batch_size: prompts per ``generate`` call (left-padded).
        template: prompt wrapper with a ``{prompt}`` field.
        seed: torch seed set before generating (matters with sampling).
    """

    def __init__(self, model: Any, tokenizer: Any = None, sampling: bool = False, max_new_tokens: int = 32,
                 batch_size: int = 8, template: str = PROMPT_TEMPLATE, seed: int = 23):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if isinstance(model, str | Path):
            self.name = Path(model).name
            tokenizer = tokenizer or model
            model = AutoModelForCausalLM.from_pretrained(str(model), local_files_only=True, dtype=torch.float32)
        else:
            self.name = type(model).__name__
        if isinstance(tokenizer, str | Path):
            tokenizer = AutoTokenizer.from_pretrained(str(tokenizer), local_files_only=True)
        if tokenizer is None:
            raise ConfigError("CausalLMAnswerer needs a tokenizer when given a model object")
        self.model = model.eval()
        self.tokenizer = tokenizer
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token or tokenizer.sep_token
        tokenizer.padding_side = "left"
        self.sampling = sampling
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.template = template
        self.seed = seed

    def generation_kwargs(self) -> dict[str, Any]:
        settings = dict(EMOLLMS_SAMPLING) if self.sampling else {"do_sample": False, "num_beams": 1}
        eos = self.tokenizer.eos_token_id if self.tokenizer.eos_token_id is not None else self.tokenizer.sep_token_id
        return {**settings, "max_new_tokens": self.max_new_tokens, "pad_token_id": self.tokenizer.pad_token_id,
                "eos_token_id": eos}

    @torch.inference_mode()
    def answer(self, examples: Sequence[InstructionExample]) -> list[str]:
        torch.manual_seed(self.seed)
        device = next(self.model.parameters()).device
        out: list[str] = []
        for start in range(0, len(examples), self.batch_size):
            prompts = [self.template.format(prompt=ex.prompt) for ex in examples[start:start + self.batch_size]]
            enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
            generated = self.model.generate(input_ids=enc["input_ids"].to(device),
                                            attention_mask=enc["attention_mask"].to(device),
                                            **self.generation_kwargs())
            new = generated[:, enc["input_ids"].shape[1]:]
            out.extend(t.strip() for t in self.tokenizer.batch_decode(new, skip_special_tokens=True))
        return out


_TEXT_LINE = re.compile(r"^Text:\s?(.*?)(?=^\S[^:\n]{0,40}:|\Z)", re.MULTILINE | re.DOTALL)
_EMOTION_LINE = re.compile(r"^Emotion:\s*(\S+)", re.MULTILINE)


def extract_text(prompt: str) -> str:
    """The ``Text:`` field of an AEB prompt (the whole prompt when there is none)."""
    match = _TEXT_LINE.search(prompt)
    return match.group(1).strip() if match else prompt


Formatter = Callable[[InstructionExample, dict[str, Any]], str]


class ZooTextAnswerer:
    """Answer with a zoo text model: ``model.predict_texts([Text: field])`` then ``formatter(example, pred)``."""

    def __init__(self, model: Any, formatter: Formatter, name: str | None = None, batch_size: int = 64):
        if not hasattr(model, "predict_texts"):
            raise ConfigError(f"{type(model).__name__} has no predict_texts(texts); not a zoo text model")
        self.model = model
        self.formatter = formatter
        self.name = name or getattr(model, "zoo_name", type(model).__name__)
        self.batch_size = batch_size

    def answer(self, examples: Sequence[InstructionExample]) -> list[str]:
        preds = self.model.predict_texts([extract_text(ex.prompt) for ex in examples], batch_size=self.batch_size)
        return [self.formatter(ex, p) for ex, p in zip(examples, preds, strict=True)]


GOEMOTIONS_TO_SEMEVAL = {
    "anger": ("anger", "annoyance"), "disgust": ("disgust",), "fear": ("fear", "nervousness"),
    "joy": ("joy", "amusement", "excitement"), "love": ("love",), "optimism": ("optimism",),
    "sadness": ("sadness", "grief", "disappointment"), "surprise": ("surprise",),
}
"""SemEval-2018 E-c emotions with a GoEmotions counterpart (anticipation, pessimism and trust have none)."""


def semeval_formatter(emotions_task: str = "goemotions", valence_task: str = "emobank_vad",
                      valence_range: tuple[float, float] = (1.0, 5.0)) -> Formatter:
    """Write text-affect predictions as SemEval-2018 AEB answers (zero-shot transfer, our mapping):

    * EI-reg: the GoEmotions probability of the emotion (max over :data:`GOEMOTIONS_TO_SEMEVAL` members);
    * V-reg: EmoBank valence rescaled from ``valence_range`` to [0, 1];
    * E-c: the mapped emotions whose GoEmotions members pass the model's decision thresholds.
    """
    lo, hi = valence_range

    def fmt(ex: InstructionExample, pred: dict[str, Any]) -> str:
        emo = pred[emotions_task]
        if ex.task.startswith("EI-reg"):
            emotion = _EMOTION_LINE.search(ex.prompt).group(1)
            return f"{max(emo['scores'][m] for m in GOEMOTIONS_TO_SEMEVAL[emotion]):.3f}"
        if ex.task.startswith("V-reg"):
            return f"{(pred[valence_task]['valence'] - lo) / (hi - lo):.3f}"
        if ex.task.startswith("E-c"):
            present = set(emo.get("labels", []))
            found = [e for e, members in GOEMOTIONS_TO_SEMEVAL.items() if present & set(members)]
            return ", ".join(found) or NO_EMOTION
        raise ConfigError(f"semeval_formatter has no mapping for task {ex.task!r}")

    return fmt


def score_task(examples: Sequence[InstructionExample], answers: Sequence[str],
               space: AnswerSpace | None = None) -> dict[str, Any]:
    """Parse ``answers`` against the references of one task and compute its metrics."""
    space = space or answer_space(examples)
    parsed = parse_answers(answers, space)
    gold = parse_answers([ex.output for ex in examples], space)
    if gold.unparseable:
        bad = next(ex for ex, v in zip(examples, gold.values, strict=True) if v is None)
        raise ConfigError(f"reference answer {bad.output!r} of {bad.id} does not parse as {space.family}")
    result: dict[str, Any] = {"family": space.family, "n": len(examples), "unparseable": parsed.unparseable}
    if space.family == "regression":
        result["pearson"] = pearson(parsed.values, gold.values)
    elif space.family == "multilabel":
        result["jaccard"] = jaccard_accuracy(parsed.values, gold.values)
        result.update(multilabel_f1(parsed.values, gold.values, space.labels))
    else:
        labels = space.classes if space.family == "ordinal" else space.labels
        result["accuracy"] = accuracy(parsed.values, gold.values)
        result["f1_macro"] = macro_f1(parsed.values, gold.values, labels)
    return result


def evaluate(examples: Sequence[InstructionExample], answerer: Answerer,
             transform: Callable[[str], str] | None = None, keep_answers: bool = False) -> dict[str, Any]:
    """Per-task metrics of ``answerer`` on ``examples`` (instructions passed through ``transform`` first)."""
    tasks: dict[str, list[InstructionExample]] = {}
    for ex in examples:
        tasks.setdefault(ex.task, []).append(ex)
    report: dict[str, Any] = {"answerer": answerer.name, "transform": getattr(transform, "name", None),
                              "tasks": {}}
    for task, group in tasks.items():
        space = answer_space(group)
        prompts = [replace(ex, instruction=transform(ex.instruction)) if transform else ex for ex in group]
        start = time.perf_counter()
        answers = answerer.answer(prompts)
        result = score_task(group, answers, space)
        result["seconds"] = time.perf_counter() - start
        if keep_answers:
            result["answers"] = [{"id": ex.id, "answer": a, "reference": ex.output} for ex, a in
                                 zip(group, answers, strict=True)]
        report["tasks"][task] = result
    return report


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, nargs="+", help="AEB / AAID files (.json lines or .csv)")
    parser.add_argument("--task", default=None, help="task name for all examples (default: file stem)")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--causal-lm", help="local Hugging Face causal LM folder")
    group.add_argument("--zoo-model", help="zoo checkpoint (name or folder) of a text model, with --formatter")
    parser.add_argument("--formatter", default="semeval", choices=["semeval"])
    parser.add_argument("--sampling", action="store_true", help="EmoLLMs sampling settings instead of greedy")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--negative-prompt", type=int, default=0, help="append NegativePrompt stimulus 1-10")
    parser.add_argument("--limit", type=int, default=0, help="first N examples per file (0: all)")
    parser.add_argument("--out", default=None, help="write the report as JSON here")
    args = parser.parse_args(argv)
    examples = []
    for path in args.data:
        loaded = read_instructions(path, task=args.task or Path(path).stem)
        examples += loaded[: args.limit] if args.limit else loaded
    if args.causal_lm:
        answerer: Answerer = CausalLMAnswerer(args.causal_lm, sampling=args.sampling,
                                              max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)
    else:
        from zoo.hub import load

        answerer = ZooTextAnswerer(load(args.zoo_model), semeval_formatter(), name=args.zoo_model)
    transform = None
    if args.negative_prompt:
        from zoo.prompts.negative_prompt import NegativePromptTransform

        transform = NegativePromptTransform(args.negative_prompt)
    report = evaluate(examples, answerer, transform)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        from zoo.io import write_text_atomic

        write_text_atomic(args.out, text + "\n")
    return report


if __name__ == "__main__":
    main()

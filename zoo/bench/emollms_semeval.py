"""EmoLLMs/AEB-style evaluation on real data: SemEval-2018 Task 1 (EI-reg, V-reg, E-c test-gold, placeholder rows
dropped) converted into the AEB instruction format and answered by the models that run here.

Answerers: VADER (V-reg only: ``(compound + 1) / 2``), and every indexed zoo text-affect checkpoint (through
:func:`zoo.instruct.harness.semeval_formatter`, a zero-shot mapping of its GoEmotions / EmoBank heads). Causal LMs
are evaluated with ``python -m zoo.instruct.harness --causal-lm DIR``; none with useful weights is available offline
here, and random-weight models are never reported.

    ZOO_DATA=/path/to/datasets zoo bench emollms_semeval [--quick]
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from zoo.bench import write_results
from zoo.data.datamodule import data_root
from zoo.data.datasets.emollms import InstructionExample, semeval2018_examples
from zoo.errors import ConfigError
from zoo.instruct.harness import ZooTextAnswerer, evaluate, extract_text, semeval_formatter

TASKS = ("EI-reg", "V-reg", "E-c")


class VaderValenceAnswerer:
    """V-reg answers from VADER's compound score rescaled to [0, 1]."""

    name = "vader"

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self.analyzer = SentimentIntensityAnalyzer()

    def answer(self, examples: list[InstructionExample]) -> list[str]:
        return [f"{(self.analyzer.polarity_scores(extract_text(ex.prompt))['compound'] + 1) / 2:.3f}"
                for ex in examples]


def text_affect_checkpoints() -> list[str]:
    from zoo.registry import checkpoint_index

    return [name for name, entry in checkpoint_index().items() if entry.get("model") == "text_affect"]


def main(quick: bool = False, out_dir: Path = Path("benchmarks/results")) -> dict[str, Any]:
    root = data_root("semeval2018_task1")
    if root is None:
        raise ConfigError("emollms_semeval needs the real data: set ZOO_DATA to the folder holding "
                          "semeval2018_task1/")
    data = {task: semeval2018_examples(root, task, "test") for task in TASKS}
    if quick:
        data = {task: _per_task_head(examples, 100) for task, examples in data.items()}
    runs: list[tuple[Any, list[InstructionExample]]] = [(VaderValenceAnswerer(), data["V-reg"])]
    weights: dict[str, str] = {}
    for name in text_affect_checkpoints():
        from zoo.hub import load

        model = load(name)
        weights[name] = model.card.get("weights", {}).get("sha256", "")
        runs.append((ZooTextAnswerer(model, semeval_formatter(), name=name),
                     [ex for task in TASKS for ex in data[task]]))
    rows = []
    for answerer, examples in runs:
        start = time.perf_counter()
        report = evaluate(examples, answerer)
        elapsed = time.perf_counter() - start
        for task, result in report["tasks"].items():
            metric = {k: result[k] for k in ("pearson", "jaccard", "f1_micro", "f1_macro", "accuracy") if k in result}
            rows.append({"model": answerer.name, "task": task, "n": result["n"], "unparseable": result["unparseable"],
                         **metric, "examples/s": result["n"] / max(result["seconds"], 1e-9)})
        print(f"{answerer.name}: {len(examples)} examples in {elapsed:.1f} s")
    write_results(out_dir, "emollms_semeval", rows, extra={
        "data": "SemEval-2018 Task 1 English test-gold, 'mystery' placeholder rows removed, AEB prompts",
        "quick": quick, "checkpoint_sha256": weights, "note": "zoo text models answer zero-shot through a fixed label/score mapping"})
    return {"rows": rows}


def _per_task_head(examples: list[InstructionExample], n: int) -> list[InstructionExample]:
    seen: dict[str, int] = {}
    out = []
    for ex in examples:
        if seen.get(ex.task, 0) < n:
            seen[ex.task] = seen.get(ex.task, 0) + 1
            out.append(ex)
    return out

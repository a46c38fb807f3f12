"""EmoLLMs instruction data: the AAID training set and the AEB benchmark formats (Liu et al., "EmoLLMs: A Series of
Emotional Large Language Models and Annotation Tools for Comprehensive Affective Analysis", KDD 2024, Sec. 3;
github.com/lzw108/EmoLLMs ``data/``).

Formats (one :class:`InstructionExample` per record):

* train / dev JSON lines: ``{"id", "conversations": [{"from": "human", "value": <prompt>}, {"from": "assistant",
  "value": <answer>}]}``;
* test JSON lines: ``{"instruction", "input", "output"}``;
* CSV splits with the columns ``Instruction, Answer``.

Task families (Sec. 3.1): ``regression`` (emotion intensity, valence / sentiment strength: a number),
``ordinal`` (an intensity class ``"k: description"``), ``multiclass`` (one label) and ``multilabel`` (a label list,
or a "neutral or no emotion" answer). :func:`infer_family` reads the family from the prompt's answer cue, as the
AEB prompts end with "Intensity Score:", "Intensity Class:" or "This text contains emotions:".

:func:`semeval2018_examples` converts SemEval-2018 Task 1 (EI-reg, EI-oc, V-reg, V-oc, E-c) into this format with
the published AEB prompts (the README examples of the EmoLLMs repository), dropping the "mystery" placeholder rows
of the test-gold files.
"""
from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from zoo.errors import ConfigError, DataError
from zoo.io import iter_jsonl
from zoo.io import atomic_path
from zoo.taxonomies import SEMEVAL_EC11

FAMILIES = ("regression", "ordinal", "multiclass", "multilabel")
PROMPT_TEMPLATE = "Human: \n{prompt}\n\nAssistant:\n"
"""How EmoLLMs wraps an instruction for a causal LM (``src/inference.py``)."""
NO_EMOTION = "neutral or no emotion"


@dataclass
class InstructionExample:
    id: str
    instruction: str
    input: str
    output: str
    task: str = ""
    family: str = ""

    def __post_init__(self) -> None:
        self.family = self.family or infer_family(self.prompt)
        self.task = self.task or task_name(self.prompt)
        if self.family not in FAMILIES:
            raise ConfigError(f"example {self.id}: unknown task family {self.family!r}; expected one of {FAMILIES}")

    @property
    def prompt(self) -> str:
        """The instruction with its input (if any) on the next line."""
        return f"{self.instruction}\n{self.input}" if self.input else self.instruction


def infer_family(prompt: str) -> str:
    """The task family from the prompt's wording (see the module docstring)."""
    text = prompt.lower()
    if "contains emotions" in text or "one or more of the given emotions" in text or "multi-label" in text:
        return "multilabel"
    if "intensity class" in text or "ordinal class" in text:
        return "ordinal"
    if "intensity score" in text or "numerical value" in text or "real-valued score" in text:
        return "regression"
    return "multiclass"


def task_name(prompt: str) -> str:
    """A task key for grouping when none is given: the prompt's ``Task:`` line (first 80 characters)."""
    match = re.search(r"^\s*task:\s*(.+)$", prompt, flags=re.IGNORECASE | re.MULTILINE)
    return (match.group(1) if match else prompt.splitlines()[0] if prompt else "")[:80].strip()


def _finish(ex: InstructionExample, task: str | None) -> InstructionExample:
    if task:
        ex.task = task
    return ex


def read_conversations_jsonl(path: str | Path, task: str | None = None) -> list[InstructionExample]:
    """AAID train/dev JSON lines (``id`` + a human/assistant ``conversations`` pair)."""
    path = Path(path)
    out = []
    for n, record in iter_jsonl(path):
        turns = record.get("conversations")
        if not isinstance(turns, list) or len(turns) < 2:
            raise DataError(f"{path} line {n}", "expected 'conversations' with a human and an assistant turn")
        try:
            human = next(t["value"] for t in turns if t.get("from") == "human")
            answer = next(t["value"] for t in turns if t.get("from") in ("assistant", "gpt"))
        except (StopIteration, KeyError, AttributeError):
            raise DataError(f"{path} line {n}", "conversations need {'from': 'human'|'assistant', 'value'} "
                                                "turns") from None
        out.append(_finish(InstructionExample(str(record.get("id", n - 1)), str(human), "", str(answer)), task))
    return out


def read_instruction_jsonl(path: str | Path, task: str | None = None) -> list[InstructionExample]:
    """AEB test JSON lines (``instruction``, ``input``, ``output``)."""
    path = Path(path)
    out = []
    for n, record in iter_jsonl(path):
        if "instruction" not in record or "output" not in record:
            raise DataError(f"{path} line {n}", "expected the keys 'instruction', 'input', 'output'")
        out.append(_finish(InstructionExample(str(record.get("id", n - 1)), str(record["instruction"]),
                                              str(record.get("input") or ""), str(record["output"]),
                                              str(record.get("task", "")), str(record.get("family", ""))), task))
    return out


def read_instruction_csv(path: str | Path, task: str | None = None) -> list[InstructionExample]:
    """AEB CSV splits (columns ``Instruction``, ``Answer``)."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            fields = {f.strip().lower(): f for f in reader.fieldnames or []}
            if "instruction" not in fields or "answer" not in fields:
                raise DataError(path, f"expected the columns Instruction, Answer; found {reader.fieldnames}")
            out = []
            for n, row in enumerate(reader, 2):
                instruction, answer = row.get(fields["instruction"]), row.get(fields["answer"])
                if instruction is None or answer is None:
                    raise DataError(f"{path} row {n}", "row has fewer fields than the header")
                out.append(_finish(InstructionExample(str(n - 2), instruction, "", answer), task))
            return out
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(path, f"cannot read as CSV ({exc})") from None


def read_instructions(path: str | Path, task: str | None = None) -> list[InstructionExample]:
    """Any of the three formats, by suffix (``.csv``) or by the first record's keys."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return read_instruction_csv(path, task)
    first = next(iter(iter_jsonl(path)), (0, {}))[1]
    if "conversations" in first:
        return read_conversations_jsonl(path, task)
    return read_instruction_jsonl(path, task)


def write_conversations_jsonl(examples: Sequence[InstructionExample], path: str | Path) -> Path:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for ex in examples:
            handle.write(json.dumps({"id": ex.id, "conversations": [{"from": "human", "value": ex.prompt},
                                                                     {"from": "assistant", "value": ex.output}]},
                                    ensure_ascii=False) + "\n")
    return Path(path)


def write_instruction_jsonl(examples: Sequence[InstructionExample], path: str | Path, extra: bool = False) -> Path:
    """Test format; ``extra`` also writes ``id``, ``task`` and ``family``."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for ex in examples:
            record = asdict(ex) if extra else {"instruction": ex.instruction, "input": ex.input, "output": ex.output}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return Path(path)


def write_instruction_csv(examples: Sequence[InstructionExample], path: str | Path) -> Path:
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Instruction", "Answer"])
        writer.writerows([ex.prompt, ex.output] for ex in examples)
    return Path(path)


# -- SemEval-2018 Task 1 in the AEB format --------------------------------------------------------------------------
EI_REG_TASK = ("Task: Assign a numerical value between 0 (least E) and 1 (most E) to represent the intensity of "
               "emotion E expressed in the text.")
V_REG_TASK = ("Task: Evaluate the valence intensity of the writer's mental state based on the text, assigning it a "
              "real-valued score from 0 (most negative) to 1 (most positive).")
EI_OC_TASK = ("Task: Categorize the text into an ordinal class that best characterizes the writer's mental state "
              "with respect to emotion E. 0: no E can be inferred. 1: low amount of E can be inferred. 2: moderate "
              "amount of E can be inferred. 3: high amount of E can be inferred.")
V_OC_TASK = ("Task: Categorize the text into an ordinal class that best characterizes the writer's mental state, "
             "considering various degrees of positive and negative sentiment intensity. 3: very positive mental "
             "state can be inferred. 2: moderately positive mental state can be inferred. 1: slightly positive "
             "mental state can be inferred. 0: neutral or mixed mental state can be inferred. -1: slightly negative "
             "mental state can be inferred. -2: moderately negative mental state can be inferred. -3: very negative "
             "mental state can be inferred")
E_C_TASK = ("Task: Categorize the text's emotional tone as either 'neutral or no emotion' or identify the presence "
            "of one or more of the given emotions (anger, anticipation, disgust, fear, joy, love, optimism, "
            "pessimism, sadness, surprise, trust).")
SEMEVAL_TASKS = ("EI-reg", "EI-oc", "V-reg", "V-oc", "E-c")
SEMEVAL_EMOTIONS = ("anger", "fear", "joy", "sadness")
_SPLIT_SUFFIX = {"train": "train", "dev": "dev", "val": "dev", "test": "test-gold"}


def _semeval_rows(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(path, f"cannot read as a SemEval-2018 TSV ({exc})") from None
    if not rows or "ID" not in rows[0] or "Tweet" not in rows[0]:
        raise DataError(path, "expected a tab-separated file with the columns ID, Tweet, ...")
    return [r for r in rows if "mystery" not in r["ID"]]  # placeholder 0.000 rows (Equity Evaluation Corpus)


def semeval2018_examples(root: str | Path, task: str, split: str = "test",
                         emotions: Sequence[str] = SEMEVAL_EMOTIONS) -> list[InstructionExample]:
    """SemEval-2018 Task 1 (English) ``task`` / ``split`` as AEB instruction examples.

    ``root``: the folder holding ``datasets/task1/`` (or ``task1/``, or the task folders themselves).
    """
    if task not in SEMEVAL_TASKS:
        raise ConfigError(f"unknown SemEval-2018 task {task!r}; expected one of {SEMEVAL_TASKS}")
    if split not in _SPLIT_SUFFIX:
        raise ConfigError(f"unknown split {split!r}; expected one of {sorted(_SPLIT_SUFFIX)}")
    root = Path(root)
    base = next((p for p in (root / "datasets" / "task1", root / "task1", root) if (p / task).is_dir()), None)
    if base is None:
        raise DataError(root, f"no {task}/ folder under it (expected datasets/task1/{task}/)")
    suffix = _SPLIT_SUFFIX[split]
    out: list[InstructionExample] = []
    if task in ("EI-reg", "EI-oc"):
        for emotion in emotions:
            path = base / task / f"{task}-En-{emotion}-{suffix}.txt"
            for row in _semeval_rows(path):
                if task == "EI-reg":
                    prompt = f"{EI_REG_TASK}\nText: {row['Tweet']}\nEmotion: {emotion}\nIntensity Score:"
                    answer, family = _score(row, "Intensity Score", path), "regression"
                else:
                    prompt = (f"{EI_OC_TASK.replace('emotion E', f'emotion {emotion}').replace(' E ', f' {emotion} ')}"
                              f"\nText: {row['Tweet']}\nEmotion: {emotion}\nIntensity Class:")
                    answer, family = _field(row, "Intensity Class", path), "ordinal"
                out.append(InstructionExample(f"{row['ID']}:{emotion}", prompt, "", answer, f"{task}-{emotion}",
                                              family))
    elif task in ("V-reg", "V-oc"):
        name = "Valence-reg" if task == "V-reg" else "Valence-oc"
        path = base / task / f"{name}-En-{suffix}.txt"
        for row in _semeval_rows(path):
            if task == "V-reg":
                prompt = f"{V_REG_TASK}\nText: {row['Tweet']}\nIntensity Score:"
                answer, family = _score(row, "Intensity Score", path), "regression"
            else:
                prompt = f"{V_OC_TASK}\nText: {row['Tweet']}\nIntensity Class:"
                answer = _field(row, "Intensity Class", path).replace("emotional state", "mental state")
                family = "ordinal"
            out.append(InstructionExample(row["ID"], prompt, "", answer, task, family))
    else:
        path = base / task / f"E-c-En-{suffix}.txt"
        for n, row in enumerate(_semeval_rows(path), 2):
            try:
                present = [e for e in SEMEVAL_EC11.labels if int(row[e]) == 1]
            except (KeyError, TypeError, ValueError):
                raise DataError(f"{path} row {n}", f"expected 0/1 columns {list(SEMEVAL_EC11.labels)}") from None
            prompt = f"{E_C_TASK}\nText: {row['Tweet']}\nThis text contains emotions:"
            out.append(InstructionExample(row["ID"], prompt, "", ", ".join(present) or NO_EMOTION, task,
                                          "multilabel"))
    return out


GOEMOTIONS_TASK = ("Task: Categorize the text's emotional tone as either 'neutral or no emotion' or identify the "
                   "presence of one or more of the given emotions ({labels}).")


def goemotions_examples(root: str | Path | None = None, split: str = "train") -> list[InstructionExample]:
    """GoEmotions (27 emotions + neutral, multi-label) as AAID-style instructions: the E-c prompt pattern over the
    27 GoEmotions emotions; ``neutral`` is answered "neutral or no emotion" (our wording of the AAID task)."""
    from zoo.data.datasets.goemotions import GoEmotionsReader
    from zoo.taxonomies import GOEMOTIONS28

    reader = GoEmotionsReader(None if root is None else str(root), ekman=False, sentiment=False)
    emotions = [e for e in GOEMOTIONS28.labels if e != "neutral"]
    task = GOEMOTIONS_TASK.format(labels=", ".join(emotions))
    out = []
    for sample in reader.samples(split):
        present = [e for e, v in zip(GOEMOTIONS28.labels, sample["goemotions"].tolist(), strict=True)
                   if v and e != "neutral"]
        prompt = f"{task}\nText: {sample['text']}\nThis text contains emotions:"
        out.append(InstructionExample(f"goemotions:{sample['id']}", prompt, "", ", ".join(present) or NO_EMOTION,
                                      "GoEmotions", "multilabel"))
    return out


def _field(row: dict[str, str], key: str, path: Path) -> str:
    value = row.get(key)
    if value is None:
        raise DataError(f"{path} id {row.get('ID')}", f"missing column {key!r}")
    return value.strip()


def _score(row: dict[str, str], key: str, path: Path) -> str:
    value = _field(row, key, path)
    try:
        float(value)
    except ValueError:
        raise DataError(f"{path} id {row.get('ID')}", f"{key} {value!r} is not a number") from None
    return value


# -- a synthetic set in the three formats (tests, recipe defaults) --------------------------------------------------
_SAMPLE_TEXTS = (("what a wonderful surprise, I am thrilled", "0.912", "joy, surprise"),
                 ("I am so angry about the delay", "0.104", "anger"),
                 ("this is fine I guess", "0.498", NO_EMOTION),
                 ("I miss her so much, it hurts", "0.087", "sadness"),
                 ("can't wait for the trip tomorrow", "0.803", "anticipation, joy, optimism"),
                 ("that smell makes me sick", "0.201", "disgust"))


def make_emollms_sample(directory: str | Path) -> dict[str, Path]:
    """Write ``train.json`` (conversations), ``dev.json`` (conversations), ``test.json`` (instruction) and
    ``test.csv`` with V-reg and E-c style prompts over six invented sentences; returns the paths by split."""
    directory = Path(directory)
    examples = []
    for i, (text, valence, emotions) in enumerate(_SAMPLE_TEXTS):
        examples.append(InstructionExample(f"vreg-{i}", f"{V_REG_TASK}\nText: {text}\nIntensity Score:", "", valence,
                                           "V-reg", "regression"))
        examples.append(InstructionExample(f"ec-{i}", f"{E_C_TASK}\nText: {text}\nThis text contains emotions:", "",
                                           emotions, "E-c", "multilabel"))
    paths = {"train": directory / "train.json", "val": directory / "dev.json", "test": directory / "test.json"}
    write_conversations_jsonl(examples, paths["train"])
    write_conversations_jsonl(examples[:4], paths["val"])
    write_instruction_jsonl(examples, paths["test"])
    write_instruction_csv(examples, directory / "test.csv")
    return paths

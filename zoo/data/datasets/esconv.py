"""ESConv (Liu et al., "Towards Emotional Support Dialog Systems", ACL 2021): emotional support dialogues with
supporter strategy annotations (Sec. 3.4: eight strategies, ``zoo.taxonomies.ESCONV8``).

Two on-disk formats are read:

* the original ``ESConv.json``: one JSON list of conversations ``{"experience_type", "emotion_type", "problem_type",
  "situation", "survey_score", "dialog": [{"speaker": "seeker" | "supporter", "annotation": {"strategy",
  "feedback"}, "content"}]}`` (``FailedESConv.json`` of the same repository uses ``speaker`` / ``listener``);
* the JSON-lines ``train.txt`` / ``valid.txt`` / ``test.txt`` of the common 910/195/195 split (codes_zcj
  "reformat"): one conversation per line, ``{"emotion_type", "problem_type", "situation", "dialog": [{"text",
  "speaker": "usr" | "sys", "strategy"}]}``.

A folder holding the split files (directly or under ``FADO_reformat/_reformat/``) is read with its splits; a single
``ESConv.json`` is split 70/15/15 after a seeded shuffle (ours; 910/195/195 for the 1,300 dialogues).

:class:`ESConvStrategyReader` yields one sample per annotated supporter turn: the dialogue history before it (the
situation, then the last ``max_turns`` turns with speakers and the strategies of earlier supporter turns) and the
strategy to predict -- the strategy-selection task of Kang et al. (ACL 2024).
"""
from __future__ import annotations

import json
import random
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from zoo.data.datamodule import Reader, data_root
from zoo.errors import ConfigError, DataError, LabelError
from zoo.io import iter_jsonl, read_json
from zoo.taxonomies import ESCONV8

SEEKER, SUPPORTER, SITUATION = 0, 1, 2
SPEAKERS = {"seeker": SEEKER, "usr": SEEKER, "speaker": SEEKER, "supporter": SUPPORTER, "sys": SUPPORTER,
            "listener": SUPPORTER}
NO_STRATEGY = len(ESCONV8)
"""Strategy id of turns that carry none (seeker turns, the situation)."""

STRATEGY_ALIASES = {"Questions": "Question", "Other": "Others", "Restatement": "Restatement or Paraphrasing",
                    "Approval and Reassurance": "Affirmation and Reassurance"}
"""Spellings of the earlier annotation rounds (seen in FailedESConv.json) -> ESCONV8 labels."""

SPLIT_FILES = {"train": "train.txt", "val": "valid.txt", "test": "test.txt"}


@dataclass
class Turn:
    speaker: int
    text: str
    strategy: int | None = None


@dataclass
class Conversation:
    id: str
    situation: str
    emotion_type: str
    problem_type: str
    turns: list[Turn]
    extra: dict[str, Any] = field(default_factory=dict)


def strategy_index(name: str, source: str) -> int:
    name = str(name).strip().strip("[]")
    return ESCONV8.index(STRATEGY_ALIASES.get(name, name), source)


def _conversation(record: Any, source: str, cid: str, unknown_strategy: str) -> Conversation:
    if not isinstance(record, dict) or not isinstance(record.get("dialog"), list):
        raise DataError(source, "expected a conversation object with a 'dialog' list")
    turns = []
    for t, turn in enumerate(record["dialog"]):
        where = f"{source} turn {t}"
        if not isinstance(turn, dict) or "speaker" not in turn:
            raise DataError(where, "expected a turn object with 'speaker'")
        speaker = SPEAKERS.get(str(turn["speaker"]).lower())
        if speaker is None:
            raise DataError(where, f"unknown speaker {turn['speaker']!r}; expected one of {sorted(SPEAKERS)}")
        text = turn.get("content", turn.get("text"))
        if not isinstance(text, str):
            raise DataError(where, "turn has no 'content' / 'text' string")
        raw = turn.get("strategy", (turn.get("annotation") or {}).get("strategy"))
        strategy = None
        if speaker == SUPPORTER and raw is not None:
            try:
                strategy = strategy_index(raw, where)
            except LabelError:
                if unknown_strategy == "error":
                    raise
        turns.append(Turn(speaker, text.strip(), strategy))
    return Conversation(
        id=cid, situation=str(record.get("situation", "")).strip(), emotion_type=str(record.get("emotion_type", "")),
        problem_type=str(record.get("problem_type", "")), turns=turns,
        extra={k: record[k] for k in ("experience_type", "survey_score") if k in record},
    )


def read_esconv_json(path: str | Path, unknown_strategy: str = "error") -> list[Conversation]:
    """Conversations of an original-schema ``ESConv.json`` (a JSON list)."""
    path = Path(path)
    records = read_json(path)
    if not isinstance(records, list):
        raise DataError(path, "expected a JSON list of conversations")
    return [_conversation(r, f"{path} record {i}", f"{path.stem}-{i}", unknown_strategy)
            for i, r in enumerate(records)]


def read_esconv_jsonl(path: str | Path, unknown_strategy: str = "error") -> list[Conversation]:
    """Conversations of a JSON-lines split file (one conversation per line)."""
    path = Path(path)
    conversations = []
    for n, record in iter_jsonl(path):
        conversations.append(_conversation(record, f"{path} line {n}", f"{path.stem}-{n - 1}", unknown_strategy))
    return conversations


def split_conversations(conversations: Sequence[Conversation], seed: int = 13,
                        fractions: tuple[float, float] = (0.7, 0.15)) -> dict[str, list[Conversation]]:
    """Seeded shuffle, then train / val / test by ``fractions`` (the rest is test)."""
    order = list(range(len(conversations)))
    random.Random(seed).shuffle(order)
    n_train = round(len(order) * fractions[0])
    n_val = round(len(order) * fractions[1])
    pick = lambda idx: [conversations[i] for i in idx]  # noqa: E731
    return {"train": pick(order[:n_train]), "val": pick(order[n_train:n_train + n_val]),
            "test": pick(order[n_train + n_val:])}


def locate(root: str | Path) -> Path:
    """The folder with the split files, or the ``ESConv.json`` file, under ``root``."""
    root = Path(root)
    if root.is_file():
        return root
    for folder in (root, root / "FADO_reformat" / "_reformat"):
        if all((folder / f).is_file() for f in SPLIT_FILES.values()):
            return folder
    if (root / "ESConv.json").is_file():
        return root / "ESConv.json"
    raise DataError(root, f"no ESConv data: expected {sorted(SPLIT_FILES.values())} (or FADO_reformat/_reformat/"
                          "with them) or ESConv.json")


def load_splits(root: str | Path, unknown_strategy: str = "error", seed: int = 13) -> dict[str, list[Conversation]]:
    where = locate(root)
    if where.is_file():
        return split_conversations(read_esconv_json(where, unknown_strategy), seed=seed)
    return {split: read_esconv_jsonl(where / name, unknown_strategy) for split, name in SPLIT_FILES.items()}


@dataclass
class StrategySample:
    id: str
    situation: str
    history: list[Turn]
    strategy: int
    response: str


def strategy_samples(conversations: Sequence[Conversation], max_turns: int = 12) -> list[StrategySample]:
    """One sample per supporter turn with a strategy: the preceding ``max_turns`` turns and its strategy."""
    samples = []
    for conv in conversations:
        for t, turn in enumerate(conv.turns):
            if turn.speaker == SUPPORTER and turn.strategy is not None:
                history = conv.turns[max(0, t - max_turns):t] if max_turns > 0 else []
                samples.append(StrategySample(f"{conv.id}:{t}", conv.situation, list(history), turn.strategy,
                                              turn.text))
    return samples


class StrategyDataset(Dataset):
    """Sample dicts: ``turn_text`` (situation first, then the history), ``turn_speaker`` / ``turn_strategy``
    (``[T]`` long; ``NO_STRATEGY`` where a turn has none), target ``strategy``, ``response`` and ``id``."""

    def __init__(self, samples: Sequence[StrategySample], show_strategies: bool = True):
        self.samples = list(samples)
        self.show_strategies = show_strategies

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict[str, Any]:
        s = self.samples[i]
        texts = [s.situation] + [t.text for t in s.history]
        speakers = [SITUATION] + [t.speaker for t in s.history]
        strategies = [NO_STRATEGY] + [
            t.strategy if (self.show_strategies and t.strategy is not None) else NO_STRATEGY for t in s.history]
        return {"turn_text": texts, "turn_speaker": torch.tensor(speakers), "turn_strategy": torch.tensor(strategies),
                "strategy": s.strategy, "response": s.response, "id": s.id}


class ESConvStrategyReader(Reader):
    """ESConv next-strategy samples.

    Args:
        root: the dataset folder or ``ESConv.json``; None = ``$ZOO_DATA/esconv`` when present, else a small
            synthetic set in the original schema (:func:`make_esconv_sample`).
        max_turns: history turns kept before each supporter turn.
        show_strategies: give the model the strategies of earlier supporter turns (as Kang et al.'s prompts do).
        unknown_strategy: ``"error"`` (LabelError naming the file and turn) or ``"skip"`` (the turn is kept in
            histories without a strategy and is not a sample).
        seed: shuffle seed when a single ``ESConv.json`` is split.
    """

    def __init__(self, root: str | None = None, max_turns: int = 12, show_strategies: bool = True,
                 unknown_strategy: str = "error", seed: int = 13):
        if unknown_strategy not in ("error", "skip"):
            raise ConfigError(f"unknown_strategy must be 'error' or 'skip', not {unknown_strategy!r}")
        if root is None:
            found = data_root("esconv")
            root = str(found) if found else str(make_esconv_sample(Path(tempfile.gettempdir()) / "zoo_esconv_sample"))
        self.root = root
        self.max_turns = max_turns
        self.show_strategies = show_strategies
        self.unknown_strategy = unknown_strategy
        self.seed = seed
        self._splits: dict[str, list[Conversation]] | None = None

    @property
    def conversations(self) -> dict[str, list[Conversation]]:
        if self._splits is None:
            self._splits = load_splits(self.root, self.unknown_strategy, self.seed)
        return self._splits

    def dataset(self, split: str, train: bool = False) -> StrategyDataset:
        self.check_split(split)
        return StrategyDataset(strategy_samples(self.conversations[split], self.max_turns), self.show_strategies)


# -- a synthetic set in the original schema (tests, recipe defaults) ------------------------------------------------
_CUES = {
    "Question": ("can you tell me more about {x}?", "how long have you felt this way about {x}?"),
    "Restatement or Paraphrasing": ("so you are saying that {x} is hard for you.", "you mean {x} upsets you."),
    "Reflection of feelings": ("you sound really frustrated about {x}.", "it seems you feel hurt by {x}."),
    "Self-disclosure": ("i went through {x} myself last year.", "when i had {x}, i felt the same."),
    "Affirmation and Reassurance": ("you are doing great handling {x}.", "you are strong, {x} will pass."),
    "Providing Suggestions": ("maybe you could try talking to someone about {x}.", "have you tried a walk after {x}?"),
    "Information": ("studies show {x} is very common.", "many people experience {x} at some point."),
    "Others": ("hello, nice to meet you.", "thanks for chatting today."),
}
_TOPICS = ("my job", "my exams", "my breakup", "the pandemic", "my family", "moving away")
_SEEKER_CUE = {
    "Question": "i do not know where to start with {x}.",
    "Restatement or Paraphrasing": "it is just that {x} keeps bothering me.",
    "Reflection of feelings": "i am so angry and sad about {x}.",
    "Self-disclosure": "has anyone else been through {x}?",
    "Affirmation and Reassurance": "i feel like i am failing at {x}.",
    "Providing Suggestions": "what should i do about {x}?",
    "Information": "is it normal to struggle with {x}?",
    "Others": "hi there.",
}


def make_esconv_sample(directory: str | Path, n_dialogs: int = 40, turns_per_dialog: int = 6, seed: int = 0) -> Path:
    """Write ``ESConv.json`` (original schema) with synthetic dialogues in which each seeker turn cues the next
    supporter strategy; returns the file path. Idempotent for the same arguments."""
    directory = Path(directory)
    path = directory / "ESConv.json"
    rng = random.Random(seed)
    records = []
    for d in range(n_dialogs):
        topic = rng.choice(_TOPICS)
        dialog = []
        for _ in range(turns_per_dialog):
            strategy = rng.choice(ESCONV8.labels)
            dialog.append({"speaker": "seeker", "annotation": {"feedback": str(rng.randint(1, 5))},
                           "content": _SEEKER_CUE[strategy].format(x=topic)})
            dialog.append({"speaker": "supporter", "annotation": {"strategy": strategy},
                           "content": rng.choice(_CUES[strategy]).format(x=topic)})
        records.append({"experience_type": "Current Experience", "emotion_type": rng.choice(("anxiety", "sadness")),
                        "problem_type": "synthetic", "situation": f"I am worried about {topic}.",
                        "survey_score": {"seeker": {"initial_emotion_intensity": "4"}}, "dialog": dialog})
    text = json.dumps(records, indent=1)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        from zoo.io import write_text_atomic

        write_text_atomic(path, text)
    return path

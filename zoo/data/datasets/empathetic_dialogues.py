"""Reader for the EmpatheticDialogues CSVs (Rashkin et al., "Towards Empathetic Open-domain Conversation Models: a
New Benchmark and Dataset", ACL 2019).

On disk (the official tarball, or the raw web copies named ``empathetic_dialogues_{train,validation,test}.csv``)::

    conv_id,utterance_idx,context,prompt,speaker_idx,utterance,selfeval,tags
    hit:3_conv:6,1,terrified,Today_comma_as i was leaving ...,6,Today_comma_as i was ...,4|5|5_5|5|5,

Fields are separated by bare commas (a comma inside text is written ``_comma_``), rows end in CRLF or LF. A few
official rows carry extra trailing fields (retrieval candidates, some spilling onto further physical lines). We
parse as the official loader does: split each physical line on ``,``, keep the first eight fields of a row that
starts with a conversation id and an integer utterance index, and skip the fragments that do not (counted in
:attr:`EmpatheticDialoguesReader.stats`). ``context`` is one of the 32 emotions of :data:`zoo.taxonomies.ED32`.

Examples: for every conversation, each listener turn (even ``utterance_idx``; ``responses="all"``: every turn after
the first) is a response whose dialogue context is all earlier turns, oldest first.

Splits: with ``train.csv`` present, train / val / test are the official files. The raw training split is not always
available (see the shared data's SOURCE.txt); ``train_source="valid"`` then carves a training split out of the
official validation conversations (a stable hash of ``conv_id`` sends ``val_fraction`` of them to "val", the rest
to "train") and "test" stays the official test file.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from zoo.data.datamodule import Reader, data_root
from zoo.errors import ConfigError, DataError
from zoo.taxonomies import ED32

log = logging.getLogger(__name__)

COLUMNS = ("conv_id", "utterance_idx", "context", "prompt", "speaker_idx", "utterance", "selfeval", "tags")
FILE_NAMES = {
    "train": ("train.csv", "empathetic_dialogues_train.csv"),
    "valid": ("valid.csv", "empathetic_dialogues_validation.csv", "empathetic_dialogues_valid.csv"),
    "test": ("test.csv", "empathetic_dialogues_test.csv"),
}
ED8_INDEX = {label: ED32.coarse_labels.index(group) for label, group in ED32.coarse.items()}


def unescape(text: str) -> str:
    """The dataset writes commas as ``_comma_``."""
    return text.replace("_comma_", ",").strip()


@dataclass
class Conversation:
    conv_id: str
    emotion: str
    prompt: str
    turns: dict[int, str] = field(default_factory=dict)


@dataclass
class FileStats:
    rows: int = 0
    """Rows kept (one utterance each)."""
    extra_fields: int = 0
    """Kept rows that carried fields beyond the eighth (ignored)."""
    skipped: int = 0
    """Physical lines that are not rows: continuation fragments of malformed rows, too few fields, bad index."""
    duplicates: int = 0
    """Rows repeating an utterance index already seen in their conversation (the first is kept)."""
    conversations: int = 0


def read_conversations(path: str | Path) -> tuple[list[Conversation], FileStats]:
    """Parse one EmpatheticDialogues CSV into conversations (in file order) and counts of what was skipped."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(path, "EmpatheticDialogues CSV not found") from None
    except UnicodeDecodeError as exc:
        raise DataError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise DataError(path, "empty file; expected the header " + ",".join(COLUMNS))
    header = tuple(h.strip() for h in lines[0].lstrip("\ufeff").split(","))
    if header[: len(COLUMNS)] != COLUMNS:
        raise DataError(path, f"header is {','.join(header)!r}, expected {','.join(COLUMNS)!r}")
    stats = FileStats()
    conversations: dict[str, Conversation] = {}
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = line.split(",")
        if len(parts) < len(COLUMNS) or "conv" not in parts[0] or not parts[1].strip().isdigit():
            stats.skipped += 1
            continue
        conv_id, idx, emotion, prompt, _speaker, utterance = (p.strip() for p in parts[:6])
        label = ED32.canonical(emotion, f"{path}, line {lineno}")
        conv = conversations.setdefault(conv_id, Conversation(conv_id, label, unescape(prompt)))
        if conv.emotion != label:
            raise DataError(path, f"line {lineno}: conversation {conv_id} changes emotion from {conv.emotion!r} "
                                  f"to {label!r}")
        if int(idx) in conv.turns:
            stats.duplicates += 1
            continue
        conv.turns[int(idx)] = unescape(utterance)
        stats.rows += 1
        stats.extra_fields += len(parts) > len(COLUMNS)
    stats.conversations = len(conversations)
    if not conversations:
        raise DataError(path, "no EmpatheticDialogues rows found under the header")
    return list(conversations.values()), stats


def conversation_examples(conv: Conversation, responses: str = "listener") -> list[dict[str, Any]]:
    """(earlier turns -> next turn) examples of one conversation; ``responses`` = "listener" or "all"."""
    order = sorted(conv.turns)
    turns = [conv.turns[i] for i in order]
    examples = []
    for k in range(1, len(turns)):
        if responses == "listener" and k % 2 == 0:  # position 0 is the speaker's opening turn
            continue
        examples.append({
            "id": f"{conv.conv_id}#{order[k]}",
            "context": turns[:k],
            "response": turns[k],
            "emotion": ED32.index(conv.emotion),
            "emotion8": ED8_INDEX[conv.emotion],
        })
    return examples


class DialogueDataset(Dataset):
    def __init__(self, examples: list[dict[str, Any]]):
        self.examples = examples

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return dict(self.examples[index])


def _in_holdout(conv_id: str, fraction: float) -> bool:
    digest = hashlib.sha256(conv_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


class EmpatheticDialoguesReader(Reader):
    """Dialogue-context -> response examples with 32-way (``emotion``) and 8-group (``emotion8``) targets.

    Samples: ``{"id", "context": [turn, ...], "response", "emotion", "emotion8"}``; the model tokenises the text.

    Args:
        root: folder with the CSVs; None uses ``$ZOO_DATA/empatheticdialogues``.
        train_source: "train" (official train.csv), "valid" (carve train/val from the official validation file) or
            "auto" (train.csv when present, else "valid").
        val_fraction: share of validation conversations held out as "val" when ``train_source`` is "valid".
        responses: "listener" (every listener turn, as in the paper) or "all" (every turn after the first).
        limit: keep at most this many examples per split (for quick runs); None keeps all.
    """

    def __init__(self, root: str | None = None, train_source: str = "auto", val_fraction: float = 0.1,
                 responses: str = "listener", limit: int | None = None):
        found = Path(root) if root else data_root("empatheticdialogues")
        if found is None:
            raise ConfigError("EmpatheticDialoguesReader: no root given and $ZOO_DATA/empatheticdialogues is absent")
        if not found.is_dir():
            raise DataError(found, "EmpatheticDialogues folder not found")
        if train_source not in ("auto", "train", "valid"):
            raise ConfigError(f"train_source must be auto, train or valid, not {train_source!r}")
        if responses not in ("listener", "all"):
            raise ConfigError(f"responses must be listener or all, not {responses!r}")
        self.root = found
        self.files = {name: self._find(name) for name in FILE_NAMES}
        if train_source == "auto":
            train_source = "train" if self.files["train"] is not None else "valid"
        if train_source == "train" and self.files["train"] is None:
            raise DataError(found, f"no training CSV (looked for {', '.join(FILE_NAMES['train'])})")
        self.train_source = train_source
        self.val_fraction = val_fraction
        self.responses = responses
        self.limit = limit
        self.stats: dict[str, FileStats] = {}
        self._cache: dict[str, list[Conversation]] = {}

    def _find(self, name: str) -> Path | None:
        for candidate in FILE_NAMES[name]:
            if (self.root / candidate).is_file():
                return self.root / candidate
        return None

    def conversations(self, name: str) -> list[Conversation]:
        """The parsed conversations of the official file ``name`` (train / valid / test)."""
        if name not in self._cache:
            path = self.files[name]
            if path is None:
                raise DataError(self.root, f"no {name} CSV (looked for {', '.join(FILE_NAMES[name])})")
            self._cache[name], self.stats[name] = read_conversations(path)
            s = self.stats[name]
            log.info("%s: %d rows in %d conversations; skipped %d fragment lines, %d duplicate rows; %d rows had "
                     "extra fields", path, s.rows, s.conversations, s.skipped, s.duplicates, s.extra_fields)
        return self._cache[name]

    def split_conversations(self, split: str) -> list[Conversation]:
        self.check_split(split)
        if split == "test":
            return self.conversations("test")
        if self.train_source == "train":
            return self.conversations("train" if split == "train" else "valid")
        held_out = split == "val"
        return [c for c in self.conversations("valid") if _in_holdout(c.conv_id, self.val_fraction) == held_out]

    def examples(self, split: str) -> list[dict[str, Any]]:
        examples = [e for c in self.split_conversations(split) for e in conversation_examples(c, self.responses)]
        return examples[: self.limit] if self.limit is not None else examples

    def texts(self, split: str = "train") -> list[str]:
        """Every utterance of ``split`` (the tokenizer's training corpus)."""
        return [t for c in self.split_conversations(split) for t in c.turns.values()]

    def dataset(self, split: str, train: bool = False) -> Dataset:
        return DialogueDataset(self.examples(split))

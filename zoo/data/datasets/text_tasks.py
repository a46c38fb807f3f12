"""Text datasets as multi-task samples: a sample is ``{"id", "text", <task>: target, ...}``.

Each text reader declares its tasks (:class:`TextTask`: a name, a kind and ordered labels). Target encodings, so
that readers for different tasks can share one batch (:class:`TextTasksReader`):

* ``single``     class index (int); ``-1`` when the sample has no label for the task (ignored by the loss);
* ``multilabel`` multi-hot float vector ``[K]``; all ``-1`` when absent;
* ``regression`` float vector ``[K]`` (e.g. valence, arousal, dominance); all NaN when absent.
"""
from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from zoo.data.datamodule import Reader
from zoo.errors import ConfigError, DataError

KINDS = ("single", "multilabel", "regression")


@dataclass(frozen=True)
class TextTask:
    name: str
    kind: str
    labels: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"task {self.name}: kind {self.kind!r} is not one of {KINDS}")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "labels": list(self.labels)}

    def missing(self) -> Any:
        """The target of a sample that carries no label for this task."""
        if self.kind == "single":
            return -1
        if self.kind == "multilabel":
            return torch.full((len(self.labels),), -1.0)
        return torch.full((len(self.labels),), float("nan"))


class TextSamples(Dataset):
    """A list of sample dicts."""

    def __init__(self, samples: Sequence[dict[str, Any]]):
        self.samples = list(samples)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.samples[index]


class TextReader(Reader):
    """A reader of one text dataset; subclasses set ``tasks`` and implement ``samples(split)``."""

    tasks: tuple[TextTask, ...] = ()

    def samples(self, split: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    def dataset(self, split: str, train: bool = False) -> Dataset:
        self.check_split(split)
        return TextSamples(self.samples(split))


class TextTasksReader(Reader):
    """Several text readers as one multi-task dataset; a sample carries every task key (absent ones as missing)."""

    def __init__(self, readers: Sequence[TextReader]):
        if not readers:
            raise ConfigError("TextTasksReader needs at least one reader")
        self.readers = list(readers)
        names = [t.name for r in self.readers for t in r.tasks]
        if len(set(names)) != len(names):
            raise ConfigError(f"task names collide across readers: {names}")
        self.tasks = tuple(t for r in self.readers for t in r.tasks)

    def dataset(self, split: str, train: bool = False) -> Dataset:
        self.check_split(split)
        samples = []
        for reader in self.readers:
            for sample in reader.samples(split):
                full = {"id": sample["id"], "text": sample["text"]}
                for task in self.tasks:
                    full[task.name] = sample[task.name] if task.name in sample else task.missing()
                samples.append(full)
        return TextSamples(samples)


def hash_split(key: str, fractions: tuple[float, float] = (0.8, 0.1)) -> str:
    """A deterministic train/val/test assignment from a stable hash of ``key`` (for sets without official splits)."""
    u = int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest()[:8], "big") / 2**64
    return "train" if u < fractions[0] else "val" if u < fractions[0] + fractions[1] else "test"


def read_rows(path: Path, delimiter: str, encoding: str = "utf-8", header: bool = True,
              ) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) for each record of a delimited file; a missing or undecodable file is a DataError."""
    if not path.is_file():
        raise DataError(path, "file not found")
    try:
        with path.open(encoding=encoding, newline="") as handle:
            reader = csv.reader(handle, delimiter=delimiter,
                                quoting=csv.QUOTE_NONE if delimiter in "\t|" else csv.QUOTE_MINIMAL)
            if header:
                next(reader, None)
            for fields in reader:
                yield reader.line_num, fields
    except UnicodeDecodeError as exc:
        raise DataError(path, f"not {encoding} text (byte {exc.start})") from None
    except csv.Error as exc:
        raise DataError(path, f"malformed delimited file ({exc})") from None

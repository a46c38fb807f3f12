"""Reader for GoEmotions (Demszky et al., "GoEmotions: A Dataset of Fine-Grained Emotions", ACL 2020).

Layout (google-research/goemotions TSVs as redistributed by monologg/GoEmotions-pytorch)::

    root/data/original/{train,dev,test}.tsv   text <TAB> comma-separated label ids <TAB> comment id
    root/data/original/labels.txt             27 emotions + neutral, one per line (id = line number)
    root/data/ekman/{train,dev,test}.tsv      the same rows mapped to Ekman's 6 + neutral (paper Sec. 5, Table 6)
    root/data/ekman/labels.txt
    root/data/group/{train,dev,test}.tsv      the same rows mapped to sentiment (ambiguous/negative/neutral/positive)
    root/data/group/labels.txt

Tasks: ``goemotions`` (28-way multi-label), with ``ekman=True`` ``goemotions_ekman`` (Ekman-7 multi-label) and
with ``sentiment=True`` ``goemotions_sentiment`` (4-way multi-label); all are read from the same rows, matched by
comment id. The zoo's ``val`` split is the official ``dev``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from zoo.data.datamodule import data_root
from zoo.data.datasets.text_tasks import TextReader, TextTask, read_rows
from zoo.errors import ConfigError, DataError, LabelError
from zoo.taxonomies import EKMAN7, GOEMOTIONS28

SENTIMENT4 = ("ambiguous", "negative", "neutral", "positive")
SPLIT_FILES = {"train": "train.tsv", "val": "dev.tsv", "test": "test.tsv"}


def _labels(path: Path) -> tuple[str, ...]:
    if not path.is_file():
        raise DataError(path, "file not found")
    return tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


class GoEmotionsReader(TextReader):
    """GoEmotions TSVs -> samples with a 28-way (and optionally Ekman-7) multi-hot target."""

    def __init__(self, root: str | None = None, ekman: bool = True, sentiment: bool = True):
        resolved = Path(root) if root else data_root("goemotions")
        if resolved is None:
            raise ConfigError("GoEmotionsReader: no root given and $ZOO_DATA/goemotions does not exist")
        self.root = resolved
        self.groups = {"goemotions": ("original", GOEMOTIONS28.labels)}
        if ekman:
            self.groups["goemotions_ekman"] = ("ekman", EKMAN7.labels)
        if sentiment:
            self.groups["goemotions_sentiment"] = ("group", SENTIMENT4)
        self.tasks = tuple(TextTask(name, "multilabel", labels) for name, (_, labels) in self.groups.items())
        for folder, labels in self.groups.values():
            path = self.root / "data" / folder / "labels.txt"
            if _labels(path) != labels:
                raise DataError(path, f"label list differs from the expected {list(labels)}")

    def _read(self, folder: str, split: str, num_labels: int) -> dict[str, tuple[str, torch.Tensor]]:
        path = self.root / "data" / folder / SPLIT_FILES[split]
        rows: dict[str, tuple[str, torch.Tensor]] = {}
        for line, fields in read_rows(path, "\t", header=False):
            if len(fields) != 3:
                raise DataError(path, f"line {line}: expected 3 tab-separated fields (text, label ids, id), "
                                      f"got {len(fields)}")
            text, ids, cid = fields
            target = torch.zeros(num_labels)
            try:
                idx = [int(i) for i in ids.split(",")]
            except ValueError:
                raise DataError(path, f"line {line}: label ids {ids!r} are not comma-separated integers") from None
            for i in idx:
                if not 0 <= i < num_labels:
                    raise LabelError(path, f"line {line}: label id {i} outside 0..{num_labels - 1}")
                target[i] = 1.0
            rows[cid] = (text, target)
        return rows

    def samples(self, split: str) -> list[dict[str, Any]]:
        self.check_split(split)
        tables = {name: self._read(folder, split, len(labels)) for name, (folder, labels) in self.groups.items()}
        out = []
        for cid, (text, _) in tables["goemotions"].items():
            sample: dict[str, Any] = {"id": cid, "text": text}
            for name, table in tables.items():
                if cid not in table:
                    raise DataError(self.root / "data" / self.groups[name][0] / SPLIT_FILES[split],
                                    f"comment id {cid} of the original split is missing")
                sample[name] = table[cid][1]
            out.append(sample)
        return out

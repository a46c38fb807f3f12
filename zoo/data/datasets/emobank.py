"""Reader for EmoBank (Buechel & Hahn, "EmoBank: Studying the Impact of Annotation Perspective and Representation
Format on Dimensional Emotion Analysis", EACL 2017).

Layout (JULIELab/EmoBank)::

    root/corpus/emobank.csv    id,split,V,A,D,text   (split in train/dev/test; V/A/D on the 1-5 SAM scale,
                                                      the weighted mean of reader and writer perspectives)

Task ``emobank_vad``: regression of (valence, arousal, dominance). ``val`` is the official ``dev`` split.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import torch

from zoo.data.datamodule import data_root
from zoo.data.datasets.text_tasks import TextReader, TextTask
from zoo.errors import ConfigError, DataError

VAD = ("valence", "arousal", "dominance")
SPLITS = {"train": "train", "val": "dev", "test": "test"}


class EmoBankReader(TextReader):
    """``emobank.csv`` -> samples with a VAD regression target."""

    tasks = (TextTask("emobank_vad", "regression", VAD),)

    def __init__(self, root: str | None = None, file: str = "corpus/emobank.csv"):
        resolved = Path(root) if root else data_root("emobank")
        if resolved is None:
            raise ConfigError("EmoBankReader: no root given and $ZOO_DATA/emobank does not exist")
        self.path = resolved / file
        self._rows: list[dict[str, Any]] | None = None

    def _all(self) -> list[dict[str, Any]]:
        if self._rows is not None:
            return self._rows
        if not self.path.is_file():
            raise DataError(self.path, "file not found")
        rows = []
        try:
            with self.path.open(encoding="utf-8", newline="") as handle:
                reader = csv.DictReader(handle)
                need = {"id", "split", "V", "A", "D", "text"}
                if not need <= set(reader.fieldnames or ()):
                    raise DataError(self.path, f"header {reader.fieldnames} lacks {sorted(need)}")
                for rec in reader:
                    try:
                        vad = [float(rec[k]) for k in "VAD"]
                    except (TypeError, ValueError):
                        raise DataError(self.path, f"line {reader.line_num}: V/A/D are not numbers "
                                                   f"({rec.get('V')!r}, {rec.get('A')!r}, {rec.get('D')!r})") from None
                    if not all(math.isfinite(v) and 1.0 <= v <= 5.0 for v in vad):
                        raise DataError(self.path, f"line {reader.line_num}: V/A/D {vad} outside the 1-5 scale")
                    if rec["split"] not in SPLITS.values():
                        raise DataError(self.path, f"line {reader.line_num}: split {rec['split']!r} is not "
                                                   f"train/dev/test")
                    rows.append({"id": rec["id"], "split": rec["split"], "text": rec["text"] or "",
                                 "emobank_vad": torch.tensor(vad)})
        except UnicodeDecodeError as exc:
            raise DataError(self.path, f"not UTF-8 text (byte {exc.start})") from None
        except csv.Error as exc:
            raise DataError(self.path, f"malformed CSV ({exc})") from None
        self._rows = rows
        return rows

    def samples(self, split: str) -> list[dict[str, Any]]:
        self.check_split(split)
        return [{k: v for k, v in r.items() if k != "split"} for r in self._all() if r["split"] == SPLITS[split]]

"""Reader for ISEAR, the International Survey on Emotion Antecedents and Reactions (Scherer & Wallbott, "Evidence
for universality and cultural variation of differential emotion response patterning", JPSP 1994).

Layout (sinmaniphel/py_isear_dataset)::

    root/isear.csv   '|'-separated, header row; emotion name in ``Field1``, the situation text in ``SIT``,
                     a unique record key in ``MYKEY``

Task ``isear``: 7-way single-label classification (joy, fear, anger, sadness, disgust, shame, guilt). ISEAR has no
official split: records are assigned to train/val/test (80/10/10) by a SHA-1 hash of ``MYKEY``, so the split is
stable across machines and runs. The export's stray ``á`` line-continuation artefacts are replaced by spaces.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from zoo.data.datamodule import data_root
from zoo.data.datasets.text_tasks import TextReader, TextTask, hash_split, read_rows
from zoo.errors import ConfigError, DataError
from zoo.taxonomies import ISEAR7

_ARTEFACT = re.compile(r"\s*á\s*")


class ISEARReader(TextReader):
    """``isear.csv`` -> samples with a 7-class emotion target."""

    tasks = (TextTask("isear", "single", ISEAR7.labels),)

    def __init__(self, root: str | None = None, file: str = "isear.csv"):
        resolved = Path(root) if root else data_root("isear")
        if resolved is None:
            raise ConfigError("ISEARReader: no root given and $ZOO_DATA/isear does not exist")
        self.path = resolved / file
        self._rows: list[dict[str, Any]] | None = None

    def _all(self) -> list[dict[str, Any]]:
        if self._rows is not None:
            return self._rows
        rows, header = [], None
        for line, fields in read_rows(self.path, "|", header=False):
            if header is None:
                header = {name: i for i, name in enumerate(fields)}
                missing = {"Field1", "SIT", "MYKEY"} - set(header)
                if missing:
                    raise DataError(self.path, f"header lacks columns {sorted(missing)}")
                continue
            if len(fields) < len(header) - 1:
                raise DataError(self.path, f"line {line}: {len(fields)} fields, the header has {len(header)}")
            key = fields[header["MYKEY"]]
            text = _ARTEFACT.sub(" ", fields[header["SIT"]]).strip()
            label = ISEAR7.index(fields[header["Field1"]].strip(), f"{self.path}:{line}")
            rows.append({"id": key, "split": hash_split(key), "text": text, "isear": label})
        self._rows = rows
        return rows

    def samples(self, split: str) -> list[dict[str, Any]]:
        self.check_split(split)
        return [{k: v for k, v in r.items() if k != "split"} for r in self._all() if r["split"] == split]

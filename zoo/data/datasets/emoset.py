"""Reader for the EmoSet-118K on-disk layout (Yang et al., ICCV 2023).

::

    root/info.json                        vocabularies: {attribute: {label2idx, idx2label}} incl. "emotion"
    root/{train,val,test}.json            lists of [emotion, image_id, image_path, annotation_path] (root-relative)
    root/annotation/<emotion>/<id>.json   {"emotion", "brightness", "colorfulness", "scene", "object": [...],
                                           "facial_expression", "human_action"}; any attribute may be absent
    root/image/<emotion>/<id>.jpg

Brightness and colorfulness are 0.0-1.0 in 0.1 steps (11 classes). An absent multi-class attribute is label -1
(ignored by the losses); an absent ``object`` list gives an all-zero multi-hot vector and ``object_present`` False.
In 2-class mode the first four Mikels emotions are positive, the rest negative.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from zoo.data.datamodule import Reader
from zoo.data.media import load_image
from zoo.data.transforms import image_transform
from zoo.errors import ConfigError, DataError, LabelError
from zoo.io import read_json
from zoo.taxonomies import MIKELS8, POLARITY2, Taxonomy, load_vocabulary

MULTI_CLASS_ATTRIBUTES = ("brightness", "colorfulness", "scene", "facial_expression", "human_action")
MULTI_LABEL_ATTRIBUTES = ("object",)
ATTRIBUTES = MULTI_CLASS_ATTRIBUTES + MULTI_LABEL_ATTRIBUTES
ATTRIBUTE_SIZES = {"brightness": 11, "colorfulness": 11, "scene": 254, "object": 409, "facial_expression": 6,
                   "human_action": 264}
"""Vocabulary sizes of the EmoSet-118K release."""
SCALAR_ATTRIBUTES = ("brightness", "colorfulness")
SAMPLE_ROOT = Path(__file__).resolve().parents[2] / "assets" / "emoset_sample"
"""The embedded synthetic sample set in EmoSet's layout (see :mod:`zoo.data.datasets.emoset_sample`)."""


class EmoSetDataset(Dataset):
    def __init__(self, reader: EmoSetReader, records: list[tuple[int, str, Path, Path]], train: bool):
        self.reader = reader
        self.records = records
        self.transform = image_transform(train, reader.image_size)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        emotion, image_id, image_path, annotation_path = self.records[index]
        sample: dict[str, Any] = {
            "id": image_id,
            "path": str(image_path),
            "image": self.transform(load_image(image_path)),
            "emotion": emotion,
        }
        sample.update(self.reader.attribute_targets(annotation_path))
        return sample


class EmoSetReader(Reader):
    """EmoSet images with emotion and attribute targets.

    Args:
        root: the dataset folder (``info.json``, split files, ``image/``, ``annotation/``); None reads the
            embedded sample set (:data:`SAMPLE_ROOT`).
        num_emotion_classes: 8 (Mikels) or 2 (positive / negative).
        image_size: crop size of the transforms.
    """

    def __init__(self, root: str | None = None, num_emotion_classes: int = 8, image_size: int = 224):
        if num_emotion_classes not in (8, 2):
            raise ConfigError(f"num_emotion_classes must be 8 or 2, not {num_emotion_classes}")
        self.root = Path(root) if root is not None else SAMPLE_ROOT
        self.num_emotion_classes = num_emotion_classes
        self.image_size = image_size
        info = self.root / "info.json"
        emotions = load_vocabulary(info, "emotion")
        if emotions.labels != MIKELS8.labels:
            raise DataError(info, f"emotion vocabulary {list(emotions.labels)} is not EmoSet's Mikels-8 order")
        self.vocab: dict[str, Taxonomy] = {a: load_vocabulary(info, a) for a in ATTRIBUTES}
        self._lookup = {a: {self._key(a, label): i for i, label in enumerate(v.labels)} for a, v in self.vocab.items()}

    @property
    def taxonomy(self) -> Taxonomy:
        return MIKELS8 if self.num_emotion_classes == 8 else POLARITY2

    @property
    def attribute_sizes(self) -> dict[str, int]:
        return {a: len(v) for a, v in self.vocab.items()}

    @property
    def attribute_vocab(self) -> dict[str, list[str]]:
        return {a: list(v.labels) for a, v in self.vocab.items()}

    @staticmethod
    def _key(attribute: str, value: Any) -> str:
        if attribute in SCALAR_ATTRIBUTES:
            try:
                return f"{float(value):.1f}"
            except (TypeError, ValueError):
                return str(value)
        return str(value)

    def records(self, split: str) -> list[tuple[int, str, Path, Path]]:
        path = self.root / f"{split}.json"
        rows = read_json(path)
        if not isinstance(rows, list):
            raise DataError(path, "expected a JSON list of [emotion, id, image_path, annotation_path]")
        out = []
        for i, row in enumerate(rows):
            if not (isinstance(row, list) and len(row) == 4 and all(isinstance(x, str) for x in row)):
                raise DataError(path, f"row {i} is {row!r}; expected [emotion, id, image_path, annotation_path]")
            emotion, image_id, image_rel, annotation_rel = row
            try:
                label = MIKELS8.index(emotion)
            except LabelError:
                raise LabelError(path, f"row {i}: unknown emotion {emotion!r}; expected one of "
                                       f"{list(MIKELS8.labels)}") from None
            if self.num_emotion_classes == 2:
                label = MIKELS8.coarse_index(emotion)
            out.append((label, image_id, self.root / image_rel, self.root / annotation_rel))
        return out

    def attribute_targets(self, annotation_path: Path) -> dict[str, Any]:
        """Attribute labels of one annotation file (``attributes.<name>`` keys, -1 / zeros when absent)."""
        data = read_json(annotation_path)
        if not isinstance(data, dict):
            raise DataError(annotation_path, "annotation is not a JSON object")
        targets: dict[str, Any] = {}
        for attribute in MULTI_CLASS_ATTRIBUTES:
            value = data.get(attribute)
            if value is None:
                targets[f"attributes.{attribute}"] = -1
                continue
            try:
                targets[f"attributes.{attribute}"] = self._lookup[attribute][self._key(attribute, value)]
            except KeyError:
                raise LabelError(annotation_path, f"unknown {attribute} value {value!r}") from None
        objects = torch.zeros(len(self.vocab["object"]))
        present = "object" in data and data["object"] is not None
        if present:
            if not isinstance(data["object"], list):
                raise DataError(annotation_path, f"'object' must be a list, got {type(data['object']).__name__}")
            for name in data["object"]:
                try:
                    objects[self._lookup["object"][str(name)]] = 1.0
                except KeyError:
                    raise LabelError(annotation_path, f"unknown object label {name!r}") from None
        targets["attributes.object"] = objects
        targets["attributes.object_present"] = present
        return targets

    def dataset(self, split: str, train: bool = False) -> EmoSetDataset:
        self.check_split(split)
        return EmoSetDataset(self, self.records(split), train)

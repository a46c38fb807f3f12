"""Reader for a local EmoNet-Voice-style intensity benchmark (Schuhmann et al. 2025, EmoNet-Voice Bench: each clip
is rated by several experts on whether an emotion is *not present* (0), *mildly present* (1) or *intensely present*
(2)).

Expected layout (column names configurable with ``columns``)::

    root/annotations.csv     one row per rating: clip x dimension x annotator
    root/<audio files>       any format zoo.data.media.load_audio decodes (wav/flac/ogg via soundfile, mp3/m4a/video
                             via PyAV); paths in the CSV are relative to root (or absolute)

    column      default name   content
    file        file           audio path of the clip
    dimension   emotion        an EmoNet-40 name (any spelling the taxonomy accepts, aliases such as "Hopelessness",
                               or the released file-name form "Pleasure_Ecstasy"), or an extra dimension the reader
                               was given (e.g. "Arousal")
    rating      rating         0 / 1 / 2, or not_present / mildly_present (weakly_present) / intensely_present
                               (strongly_present); extra dimensions may carry any number
    annotator   annotator      rater id (optional; only used to count raters)
    split       split          train / val / test (optional; without it a clip's split is fixed by a hash of its
                               path: 80 % train, 10 % val, 10 % test)

Ratings are aggregated per (clip, dimension) by their mean: the target intensity in [0, 2]. A sample is::

    {"id": file, "path": absolute path, "audio": float32 [S] at 16 kHz mono (cut to max_seconds),
     "intensity": float32 [K] (0 where unrated), "intensity_mask": bool [K], "raters": int64 [K]}

with K = the reader's dimensions (EmoNet-40 order by default, then extra dimensions).
"""
from __future__ import annotations

import csv
import hashlib
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from zoo.data.datamodule import Reader
from zoo.data.media import load_audio
from zoo.errors import ConfigError, DataError, LabelError
from zoo.taxonomies import EMONET40

SAMPLE_ROOT = Path(__file__).resolve().parents[2] / "assets" / "voice_sample"
"""The embedded synthetic speech set (see zoo/assets/voice_sample/README.md)."""
DEFAULT_COLUMNS = {"file": "file", "dimension": "emotion", "rating": "rating", "annotator": "annotator",
                   "split": "split"}
RATING_NAMES = {"not_present": 0.0, "not present": 0.0, "absent": 0.0,
                "mildly_present": 1.0, "mildly present": 1.0, "weakly_present": 1.0,
                "intensely_present": 2.0, "intensely present": 2.0, "strongly_present": 2.0}
SAMPLE_RATE = 16000


def emotion_dimensions(emotions: list[str] | None = None, extra_dimensions: list[str] | None = None) -> list[str]:
    """The ordered dimension names: EmoNet-40 emotions (all, or the canonical spellings of ``emotions``) + extras."""
    chosen = list(EMONET40.labels) if emotions is None else [EMONET40.canonical(e) for e in emotions]
    extras = list(extra_dimensions or [])
    dims = chosen + extras
    if len(set(dims)) != len(dims):
        raise ConfigError(f"dimension names repeat: {dims}")
    return dims


def _file_form_lookup() -> dict[str, str]:
    return {label.replace("/", "_").replace(" ", "_").casefold(): label for label in EMONET40.labels}


def _split_of(file: str) -> str:
    bucket = int(hashlib.sha1(file.encode()).hexdigest(), 16) % 10
    return "train" if bucket < 8 else ("val" if bucket == 8 else "test")


class EmoNetVoiceDataset(Dataset):
    def __init__(self, reader: EmoNetVoiceReader, clips: list[dict[str, Any]]):
        self.reader = reader
        self.clips = clips

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> dict[str, Any]:
        clip = self.clips[index]
        wave, _ = load_audio(clip["path"], sample_rate=SAMPLE_RATE, mono=True,
                             expect_sample_rate=self.reader.expect_sample_rate)
        if self.reader.max_seconds is not None:
            wave = wave[: int(self.reader.max_seconds * SAMPLE_RATE)]
        return {"id": clip["id"], "path": str(clip["path"]), "audio": wave, "intensity": clip["intensity"],
                "intensity_mask": clip["mask"], "raters": clip["raters"]}


class EmoNetVoiceReader(Reader):
    """Clips with aggregated per-dimension intensity ratings.

    Args:
        root: dataset folder; None reads the embedded synthetic sample (:data:`SAMPLE_ROOT`).
        annotations: CSV file name inside root.
        columns: mapping of the roles ``file``, ``dimension``, ``rating``, ``annotator``, ``split`` to CSV column
            names (missing roles keep :data:`DEFAULT_COLUMNS`).
        emotions / extra_dimensions: the dimensions, as :func:`emotion_dimensions` (must match the model's).
        max_seconds: cut clips to this length (Whisper sees 30 s).
        expect_sample_rate: require every file at this rate (DataError otherwise); None resamples any rate.
    """

    def __init__(self, root: str | None = None, annotations: str = "annotations.csv",
                 columns: dict[str, str] | None = None, emotions: list[str] | None = None,
                 extra_dimensions: list[str] | None = None, max_seconds: float | None = 30.0,
                 expect_sample_rate: int | None = None):
        self.root = Path(root) if root is not None else SAMPLE_ROOT
        self.annotations = self.root / annotations
        unknown = set(columns or {}) - set(DEFAULT_COLUMNS)
        if unknown:
            raise ConfigError(f"unknown column roles {sorted(unknown)}; roles are {list(DEFAULT_COLUMNS)}")
        self.columns = {**DEFAULT_COLUMNS, **(columns or {})}
        self.dimensions = emotion_dimensions(emotions, extra_dimensions)
        self.extra_dimensions = list(extra_dimensions or [])
        self.max_seconds = max_seconds
        self.expect_sample_rate = expect_sample_rate
        self._clips: dict[str, list[dict[str, Any]]] | None = None

    # -- parsing ------------------------------------------------------------------------------------------------
    def _dimension_index(self, name: str, row: int) -> int:
        index = {d: i for i, d in enumerate(self.dimensions)}
        key = name.strip()
        if key in index:
            return index[key]
        extras = {d.casefold(): index[d] for d in self.extra_dimensions}
        if key.casefold() in extras:
            return extras[key.casefold()]
        try:
            canon = _file_form_lookup().get(key.casefold()) or EMONET40.canonical(key)
        except LabelError:
            raise LabelError(self.annotations, f"row {row}: unknown dimension {name!r}; expected an EmoNet-40 "
                                               f"emotion or one of {self.extra_dimensions}") from None
        if canon not in index:
            raise LabelError(self.annotations, f"row {row}: dimension {canon!r} is not among the reader's "
                                               f"dimensions")
        return index[canon]

    def _rating(self, value: str, row: int, extra: bool) -> float:
        text = value.strip()
        if text.casefold() in RATING_NAMES:
            return RATING_NAMES[text.casefold()]
        try:
            number = float(text)
        except ValueError:
            raise DataError(self.annotations, f"row {row}: rating {value!r} is not 0/1/2 or a rating name "
                                              f"({sorted(RATING_NAMES)})") from None
        if not extra and number not in (0.0, 1.0, 2.0):
            raise DataError(self.annotations, f"row {row}: rating {value!r} is outside the 3-level scale 0/1/2")
        return number

    def _parse(self) -> dict[str, list[dict[str, Any]]]:
        if not self.annotations.is_file():
            raise DataError(self.annotations, "annotation file not found")
        try:
            with open(self.annotations, newline="", encoding="utf-8") as handle:
                reader = csv.DictReader(handle)
                header = reader.fieldnames or []
                rows = list(reader)
        except UnicodeDecodeError:
            raise DataError(self.annotations, "not UTF-8 text") from None
        except csv.Error as exc:
            raise DataError(self.annotations, f"malformed CSV ({exc})") from None
        c = self.columns
        required = [c["file"], c["dimension"], c["rating"]]
        absent = [name for name in required if name not in header]
        if absent:
            raise DataError(self.annotations, f"missing columns {absent}; header is {header} (set `columns` to map "
                                              f"the roles file/dimension/rating)")
        n_extra_start = len(self.dimensions) - len(self.extra_dimensions)
        ratings: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
        split_of: dict[str, str] = {}
        for i, row in enumerate(rows, start=2):  # row 1 is the header
            if None in row or any(row.get(name) is None for name in required):
                raise DataError(self.annotations, f"row {i}: wrong number of fields")
            file = row[c["file"]].strip()
            if not file:
                raise DataError(self.annotations, f"row {i}: empty {c['file']!r}")
            k = self._dimension_index(row[c["dimension"]], i)
            ratings[file][k].append(self._rating(row[c["rating"]], i, extra=k >= n_extra_start))
            split = (row.get(c["split"]) or "").strip() if c["split"] in header else _split_of(file)
            if split not in self.splits:
                raise DataError(self.annotations, f"row {i}: split {split!r} is not one of {list(self.splits)}")
            if split_of.setdefault(file, split) != split:
                raise DataError(self.annotations, f"row {i}: clip {file} is in both {split_of[file]} and {split}")
        clips: dict[str, list[dict[str, Any]]] = {s: [] for s in self.splits}
        for file, per_dim in ratings.items():
            intensity = torch.zeros(len(self.dimensions))
            mask = torch.zeros(len(self.dimensions), dtype=torch.bool)
            raters = torch.zeros(len(self.dimensions), dtype=torch.long)
            for k, values in per_dim.items():
                intensity[k] = sum(values) / len(values)
                mask[k] = True
                raters[k] = len(values)
            path = Path(file) if Path(file).is_absolute() else self.root / file
            clips[split_of[file]].append({"id": file, "path": path, "intensity": intensity, "mask": mask,
                                          "raters": raters})
        return clips

    def clips(self, split: str) -> list[dict[str, Any]]:
        self.check_split(split)
        if self._clips is None:
            self._clips = self._parse()
        return self._clips[split]

    def dataset(self, split: str, train: bool = False) -> EmoNetVoiceDataset:
        return EmoNetVoiceDataset(self, self.clips(split))

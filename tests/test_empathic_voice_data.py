"""EmoNet-Voice-style reader: aggregation, configurable columns, and bad input that names the file."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from zoo.data.datasets.emonet_voice import SAMPLE_ROOT, EmoNetVoiceReader
from zoo.errors import ConfigError, DataError, LabelError
from zoo.taxonomies import EMONET40


def _write(root: Path, rows: list[dict], header: list[str] | None = None, sr: int = 16000) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    header = header or list(rows[0])
    for row in rows:
        clip = root / next(v for k, v in row.items() if k in ("file", "wav"))
        if not clip.exists():
            clip.parent.mkdir(parents=True, exist_ok=True)
            t = np.arange(int(0.5 * sr)) / sr
            sf.write(clip, (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), sr)
    with open(root / "annotations.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return root


def test_the_embedded_sample_reads_with_aggregated_ratings():
    reader = EmoNetVoiceReader()
    assert reader.root == SAMPLE_ROOT
    sizes = {s: len(reader.dataset(s)) for s in ("train", "val", "test")}
    assert sizes == {"train": 20, "val": 4, "test": 4}
    sample = reader.dataset("train")[0]
    assert sample["audio"].dtype == torch.float32 and sample["audio"].dim() == 1
    assert sample["intensity"].shape == sample["intensity_mask"].shape == (40,)
    rated = [EMONET40.labels[i] for i in sample["intensity_mask"].nonzero().flatten()]
    assert set(rated) == {"Elation", "Contentment", "Anger", "Fear", "Sadness", "Fatigue/Exhaustion"}
    assert (sample["raters"][sample["intensity_mask"]] == 3).all()


def test_ratings_are_averaged_per_clip_and_dimension_with_mapped_columns(tmp_path):
    rows = [
        {"wav": "a.wav", "queried_emotion": "Anger", "who": "u1", "score": "intensely_present", "part": "train"},
        {"wav": "a.wav", "queried_emotion": "anger", "who": "u2", "score": "1", "part": "train"},
        {"wav": "a.wav", "queried_emotion": "Hopelessness", "who": "u1", "score": "weakly_present", "part": "train"},
        {"wav": "b.wav", "queried_emotion": "Pleasure_Ecstasy", "who": "u1", "score": "0", "part": "test"},
        {"wav": "b.wav", "queried_emotion": "arousal", "who": "u1", "score": "3.5", "part": "test"},
    ]
    root = _write(tmp_path / "bench", rows)
    reader = EmoNetVoiceReader(str(root), columns={"file": "wav", "dimension": "queried_emotion",
                                                   "rating": "score", "annotator": "who", "split": "part"},
                               extra_dimensions=["Arousal"])
    assert reader.dimensions[-1] == "Arousal" and len(reader.dimensions) == 41
    a = reader.dataset("train")[0]
    assert a["intensity"][EMONET40.index("Anger")] == pytest.approx(1.5)
    assert a["raters"][EMONET40.index("Anger")] == 2
    assert a["intensity"][EMONET40.index("Helplessness")] == pytest.approx(1.0)
    assert int(a["intensity_mask"].sum()) == 2
    b = reader.dataset("test")[0]
    assert b["intensity_mask"][EMONET40.index("Pleasure/Ecstasy")]
    assert b["intensity"][40] == pytest.approx(3.5)


def test_without_a_split_column_clips_are_split_by_a_stable_hash(tmp_path):
    rows = [{"file": f"c{i}.wav", "emotion": "Awe", "rating": i % 3} for i in range(40)]
    reader = EmoNetVoiceReader(str(_write(tmp_path / "bench", rows)))
    sizes = [len(reader.dataset(s)) for s in ("train", "val", "test")]
    assert sum(sizes) == 40 and sizes[0] > sizes[1] and sizes[0] > sizes[2]
    again = EmoNetVoiceReader(str(tmp_path / "bench"))
    assert [c["id"] for c in again.clips("val")] == [c["id"] for c in reader.clips("val")]


def test_unknown_emotion_names_the_file_and_row(tmp_path):
    rows = [{"file": "a.wav", "emotion": "Anger", "rating": 1}, {"file": "a.wav", "emotion": "Grumpiness",
                                                                   "rating": 1}]
    reader = EmoNetVoiceReader(str(_write(tmp_path / "bench", rows)))
    with pytest.raises(LabelError, match=r"annotations\.csv: row 3: unknown dimension 'Grumpiness'"):
        reader.dataset("train")


@pytest.mark.parametrize("rating, message", [("3", "outside the 3-level scale"), ("lots", "not 0/1/2")])
def test_a_malformed_rating_names_the_file_and_row(tmp_path, rating, message):
    rows = [{"file": "a.wav", "emotion": "Anger", "rating": rating}]
    reader = EmoNetVoiceReader(str(_write(tmp_path / "bench", rows)))
    with pytest.raises(DataError, match=rf"annotations\.csv: row 2: rating .*{message}"):
        reader.dataset("train")


def test_missing_columns_and_short_rows_are_data_errors(tmp_path):
    root = _write(tmp_path / "bench", [{"file": "a.wav", "emotion": "Anger", "rating": 1}])
    with pytest.raises(DataError, match=r"missing columns \['score'\]"):
        EmoNetVoiceReader(str(root), columns={"rating": "score"}).dataset("train")
    (root / "annotations.csv").write_text("file,emotion,rating\na.wav,Anger\n", encoding="utf-8")
    with pytest.raises(DataError, match="row 2: wrong number of fields"):
        EmoNetVoiceReader(str(root)).dataset("train")
    with pytest.raises(ConfigError, match="unknown column roles"):
        EmoNetVoiceReader(str(root), columns={"speaker": "spk"})


def test_corrupt_audio_and_wrong_sample_rate_name_the_clip(tmp_path):
    rows = [{"file": "fine.wav", "emotion": "Anger", "rating": 1, "split": "train"},
            {"file": "broken.wav", "emotion": "Anger", "rating": 1, "split": "train"}]
    root = _write(tmp_path / "bench", rows, sr=22050)
    (root / "broken.wav").write_bytes(b"not audio at all")
    dataset = EmoNetVoiceReader(str(root)).dataset("train")
    assert dataset[0]["audio"].numel() == 8000  # 0.5 s resampled to 16 kHz
    with pytest.raises(DataError, match="broken.wav"):
        dataset[1]
    strict = EmoNetVoiceReader(str(root), expect_sample_rate=16000).dataset("train")
    with pytest.raises(DataError, match=r"fine\.wav: sample rate is 22050 Hz, expected 16000 Hz"):
        strict[0]


def test_a_missing_annotation_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="annotations.csv: annotation file not found"):
        EmoNetVoiceReader(str(tmp_path)).dataset("train")

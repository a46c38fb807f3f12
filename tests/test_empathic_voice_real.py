"""Real speech (RAVDESS, TESS from $ZOO_DATA) through the voice front end, reader and tiny pipeline.

These corpora carry acted categorical emotions, not EmoNet intensity ratings: the reader test maps each clip's acted
emotion to its EmoNet-40 name and rates it 2 (intensely present). That exercises decoding (48 kHz and 24,414 Hz
files), absolute paths and aggregation on real audio; it is not an evaluation of perceived intensity.
"""
from __future__ import annotations

import csv

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import WhisperFeatureExtractor

import zoo
from zoo.data.collate import pad_collate
from zoo.data.datasets.emonet_voice import EmoNetVoiceReader
from zoo.nn.whisper_frontend import WhisperFrontEnd, load_clips

pytestmark = pytest.mark.real_data
ACTED_TO_EMONET = {"angry": "Anger", "sad": "Sadness", "fearful": "Fear", "fear": "Fear", "happy": "Elation",
                   "disgust": "Disgust", "surprised": "Astonishment/Surprise", "calm": "Contentment"}


def _real_clips(root, per_corpus: int = 4):
    ravdess = root / "ravdess_speech"
    with open(ravdess / "labels.csv", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["emotion"] in ACTED_TO_EMONET][:per_corpus]
    clips = [(ravdess / r["file"], ACTED_TO_EMONET[r["emotion"]]) for r in rows]
    tess = sorted((root / "tess").glob("*_[Ff]ear/*.wav"))[:per_corpus // 2] + \
        sorted((root / "tess").glob("*_sad/*.wav"))[:per_corpus // 2]
    clips += [(p, "Fear" if "fear" in p.parent.name.lower() else "Sadness") for p in tess]
    return clips


def test_real_speech_log_mel_matches_whisper_feature_extractor(zoo_data):
    clips = _real_clips(zoo_data)
    rates = {sf.info(str(p)).samplerate for p, _ in clips}
    assert rates == {48000, 24414}
    waves = load_clips([p for p, _ in clips])
    reference = WhisperFeatureExtractor()([w.numpy() for w in waves], sampling_rate=16000,
                                          return_tensors="np").input_features
    ours = WhisperFrontEnd().from_batch(pad_collate([{"audio": w} for w in waves])).numpy()
    np.testing.assert_allclose(ours, reference, atol=5e-5)


def test_real_speech_through_the_reader_and_tiny_pipeline(zoo_data, tmp_path):
    clips = _real_clips(zoo_data)
    with open(tmp_path / "annotations.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file", "emotion", "annotator", "rating", "split"])
        writer.writeheader()
        for path, emotion in clips:
            writer.writerow({"file": str(path), "emotion": emotion, "annotator": "acted", "rating": 2,
                             "split": "test"})
    dataset = EmoNetVoiceReader(str(tmp_path), max_seconds=4.0).dataset("test")
    batch = pad_collate([dataset[i] for i in range(len(dataset))])
    assert batch["audio"].shape[0] == len(clips) and int(batch["intensity_mask"].sum()) == len(clips)
    torch.manual_seed(0)
    model = zoo.create("empathic_voice", "tiny").eval()
    with torch.no_grad():
        out = model(batch)["intensity"]
    assert out.shape == (len(clips), 40) and torch.isfinite(out).all()
    assert float(model.losses({"intensity": out}, batch)["loss"]) > 0

"""The Whisper log-mel front end against transformers.WhisperFeatureExtractor, and clip decoding."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import WhisperFeatureExtractor

from zoo.data.collate import pad_collate
from zoo.errors import DataError
from zoo.nn.whisper_frontend import WhisperFrontEnd, load_clips


def _speechlike(rng: np.random.Generator, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * 16000)) / 16000
    f0 = 120 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / 16000
    voiced = sum(np.sin(h * phase) / h for h in range(1, 8)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    return (0.2 * voiced + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.mark.parametrize("chunk_seconds", [30.0, 4.0])
def test_log_mel_matches_whisper_feature_extractor_batched(chunk_seconds):
    rng = np.random.default_rng(0)
    waves = [_speechlike(rng, s) for s in (1.3, 3.7, chunk_seconds + 2.5)]  # the last one is trimmed
    reference = WhisperFeatureExtractor(chunk_length=int(chunk_seconds))(
        waves, sampling_rate=16000, return_tensors="np").input_features
    batch = pad_collate([{"audio": torch.from_numpy(w)} for w in waves])
    ours = WhisperFrontEnd(chunk_seconds).from_batch(batch).numpy()
    assert ours.shape == reference.shape == (3, 80, int(chunk_seconds * 100))
    np.testing.assert_allclose(ours, reference, atol=5e-5)


def test_padding_value_of_the_batch_does_not_matter():
    rng = np.random.default_rng(1)
    short, long = torch.from_numpy(_speechlike(rng, 1.0)), torch.from_numpy(_speechlike(rng, 2.0))
    padded = torch.stack([torch.cat([short, torch.full((16000,), 0.7)]), long])
    lengths = torch.tensor([16000, 32000])
    frontend = WhisperFrontEnd(4.0)
    torch.testing.assert_close(frontend(padded, lengths)[0], frontend(short)[0])


def test_clips_are_decoded_to_16k_mono(tmp_path):
    rng = np.random.default_rng(2)
    stereo = rng.uniform(-0.5, 0.5, size=(int(1.5 * 44100), 2)).astype(np.float32)  # 1.5 s at 44.1 kHz
    sf.write(tmp_path / "a.wav", stereo, 44100)
    sf.write(tmp_path / "b.ogg", _speechlike(rng, 1.5)[::2].copy(), 8000)  # 1.5 s at 8 kHz
    a, b = load_clips([tmp_path / "a.wav", tmp_path / "b.ogg"])
    assert a.dim() == 1 and abs(a.numel() - 1.5 * 16000) <= 1
    assert b.dim() == 1 and abs(b.numel() - 1.5 * 16000) <= 1
    assert load_clips([tmp_path / "a.wav"], max_seconds=0.5)[0].numel() == 8000


def test_a_corrupt_clip_is_a_data_error_naming_it(tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    with pytest.raises(DataError, match="broken.wav"):
        load_clips([bad])


def test_odd_sample_rates_are_resampled_quickly_and_band_limited(tmp_path):
    """TESS is 24,414 Hz: torchaudio would build 8000 sinc phases; media.resample uses a polyphase FIR instead."""
    import time

    t = np.arange(int(2.0 * 24414)) / 24414
    sf.write(tmp_path / "tone.wav", (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 24414)
    start = time.perf_counter()
    (wave,) = load_clips([tmp_path / "tone.wav"])
    assert time.perf_counter() - start < 5.0
    assert abs(wave.numel() - 32000) <= 1
    spectrum = np.abs(np.fft.rfft(wave.numpy()))
    assert np.argmax(spectrum) * 16000 / wave.numel() == pytest.approx(440, abs=1)

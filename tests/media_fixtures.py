"""Writers of small real-format media files for tests (WAV via soundfile, MP4 via PyAV)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def write_wav(path: Path, seconds: float = 0.5, sample_rate: int = 16000, freq: float = 220.0,
              channels: int = 1) -> Path:
    import soundfile as sf

    t = np.arange(int(seconds * sample_rate)) / sample_rate
    wave = 0.3 * np.sin(2 * np.pi * freq * t)
    sf.write(str(path), np.stack([wave] * channels, axis=1) if channels > 1 else wave, sample_rate)
    return path


def write_video(path: Path, seconds: float = 1.0, fps: int = 10, size: int = 32, audio_rate: int | None = 16000
                ) -> Path:
    """An MP4 of a growing colour bar, with a sine audio track unless ``audio_rate`` is None."""
    from zoo.data import media

    n = int(seconds * fps)
    frames = np.zeros((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        frames[i, :, : (i * size) // n + 1] = (255, 64 * (i % 4), 0)
    audio = None
    if audio_rate:
        audio = (0.2 * np.sin(2 * np.pi * 330 * np.arange(int(seconds * audio_rate)) / audio_rate)).astype(np.float32)
    return media.write_video(path, frames, fps, audio, audio_rate or 16000)

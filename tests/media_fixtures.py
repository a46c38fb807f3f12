"""Writers of small real-format media files for tests (WAV via soundfile, MP4 via PyAV)."""
from __future__ import annotations

from fractions import Fraction
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
    """An MPEG-4 video of moving colour bars, with a sine audio track (AAC) unless ``audio_rate`` is None."""
    import av

    with av.open(str(path), "w") as container:
        video = container.add_stream("mpeg4", rate=fps)
        video.width = video.height = size
        video.pix_fmt = "yuv420p"
        audio = None
        if audio_rate:
            audio = container.add_stream("aac", rate=audio_rate)
            audio.layout = "mono"
        n = int(seconds * fps)
        for i in range(n):
            img = np.zeros((size, size, 3), dtype=np.uint8)
            img[:, : (i * size) // n + 1] = (255, 64 * (i % 4), 0)
            for packet in video.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if audio is not None:
            samples = (0.2 * np.sin(2 * np.pi * 330 * np.arange(int(seconds * audio_rate)) / audio_rate)).astype(
                np.float32)
            frame_size = 1024
            for start in range(0, len(samples), frame_size):
                chunk = samples[start : start + frame_size]
                if len(chunk) < frame_size:
                    chunk = np.pad(chunk, (0, frame_size - len(chunk)))
                frame = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
                frame.sample_rate = audio_rate
                frame.pts = start
                frame.time_base = Fraction(1, audio_rate)
                for packet in audio.encode(frame):
                    container.mux(packet)
            for packet in audio.encode():
                container.mux(packet)
    return path

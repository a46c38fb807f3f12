"""Decoding of images, audio and video with errors that name the file and the problem.

Images go through PIL; audio through soundfile (WAV/FLAC/OGG) with PyAV as the fallback for compressed and video
containers; resampling through torchaudio; video frames and the audio track through PyAV.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from zoo.errors import DataError

AUDIO_SUFFIXES_SOUNDFILE = {".wav", ".flac", ".ogg", ".aiff", ".aif"}


def load_image(path: str | Path):
    """An RGB ``PIL.Image``; a missing, empty or undecodable file raises :class:`DataError`."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise DataError(path, "image file not found")
    try:
        with Image.open(path) as img:
            img.load()
            return img.convert("RGB")
    except UnidentifiedImageError:
        raise DataError(path, "not an image PIL can decode (corrupt file or wrong format)") from None
    except OSError as exc:
        raise DataError(path, f"image is truncated or corrupt ({exc})") from None


MAX_SINC_PHASES = 1000
"""torchaudio builds one sinc kernel per output phase (target_sr / gcd): 8000 for TESS's 24,414 Hz -> 16 kHz, about
10 s per clip on a CPU. Beyond this many phases, resample() uses scipy's polyphase FIR instead (also band-limited)."""


def resample(wave: torch.Tensor, orig_sr: int, target_sr: int) -> torch.Tensor:
    """Band-limited sinc resampling (torchaudio) along the last dimension; polyphase FIR (scipy.signal.resample_poly)
    for rate pairs whose sinc kernel bank would exceed :data:`MAX_SINC_PHASES`."""
    if orig_sr == target_sr:
        return wave
    g = math.gcd(orig_sr, target_sr)
    if target_sr // g > MAX_SINC_PHASES:
        from scipy.signal import resample_poly

        out = resample_poly(wave.double().numpy(), target_sr // g, orig_sr // g, axis=-1)
        return torch.from_numpy(out).to(wave.dtype)
    import torchaudio.functional as AF

    return AF.resample(wave, orig_sr, target_sr)


def _decode_audio_soundfile(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)  # [T, C]
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise DataError(path, f"audio could not be decoded ({exc})") from None
    return data.T, sr


def _decode_audio_av(path: Path) -> tuple[np.ndarray, int]:
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise DataError(path, "no audio track")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="fltp", layout=None, rate=None)
            chunks = [f.to_ndarray() for frame in container.decode(stream) for f in resampler.resample(frame)]
            sr = stream.codec_context.sample_rate
    except DataError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise DataError(path, f"audio could not be decoded ({exc})") from None
    if not chunks:
        raise DataError(path, "audio track holds no samples")
    return np.concatenate(chunks, axis=1).astype(np.float32), sr


def load_audio(path: str | Path, sample_rate: int | None = 16000, mono: bool = True,
               expect_sample_rate: int | None = None) -> tuple[torch.Tensor, int]:
    """Decode an audio (or video) file to float32 ``[channels, time]`` (``[time]`` when ``mono``).

    ``sample_rate`` resamples to that rate (None keeps the file's). ``expect_sample_rate`` instead *requires* the
    file to be at that rate and raises :class:`DataError` otherwise (for readers of fixed-rate corpora).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "audio file not found")
    if path.stat().st_size == 0:
        raise DataError(path, "audio file is empty")
    if path.suffix.lower() in AUDIO_SUFFIXES_SOUNDFILE:
        data, sr = _decode_audio_soundfile(path)
    else:
        data, sr = _decode_audio_av(path)
    if expect_sample_rate is not None and sr != expect_sample_rate:
        raise DataError(path, f"sample rate is {sr} Hz, expected {expect_sample_rate} Hz")
    if data.shape[1] == 0:
        raise DataError(path, "audio holds no samples")
    wave = torch.from_numpy(np.ascontiguousarray(data))
    if mono:
        wave = wave.mean(dim=0)
    if sample_rate is not None and sample_rate != sr:
        wave = resample(wave, sr, sample_rate)
        sr = sample_rate
    return wave, sr


@dataclass
class DecodedVideo:
    frames: torch.Tensor  # uint8 [T, H, W, 3]
    timestamps: torch.Tensor  # seconds, [T]
    fps: float  # the rate frames were sampled at
    audio: torch.Tensor | None  # float32 mono [S] at audio_sample_rate, or None when the file has no audio track
    audio_sample_rate: int | None


def decode_video(path: str | Path, fps: float | None = None, audio_sample_rate: int | None = 16000,
                 max_frames: int | None = None) -> DecodedVideo:
    """Decode frames (optionally resampled to ``fps`` by nearest timestamp) and the audio track with PyAV.

    A file without a video stream, or with a broken stream, raises :class:`DataError`. A missing audio track is
    not an error: ``audio`` is None and callers decide.
    """
    import av

    path = Path(path)
    if not path.is_file():
        raise DataError(path, "video file not found")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DataError(path, "no video stream")
            vstream = container.streams.video[0]
            native = float(vstream.average_rate or vstream.guessed_rate or 25)
            step = None if fps is None else 1.0 / fps
            frames, stamps, next_t = [], [], 0.0
            for frame in container.decode(vstream):
                t = float(frame.pts * vstream.time_base) if frame.pts is not None else len(stamps) / native
                if step is not None:
                    if t + 1e-6 < next_t:
                        continue
                    next_t = (math.floor(t / step + 1e-6) + 1) * step
                frames.append(frame.to_ndarray(format="rgb24"))
                stamps.append(t)
                if max_frames is not None and len(frames) >= max_frames:
                    break
    except DataError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise DataError(path, f"video could not be decoded ({exc})") from None
    if not frames:
        raise DataError(path, "video stream holds no decodable frames")
    audio, sr = None, None
    if audio_sample_rate is not None:
        try:
            audio, sr = load_audio(path, sample_rate=audio_sample_rate)
        except DataError as exc:
            if "no audio track" not in exc.problem:
                raise
    return DecodedVideo(
        frames=torch.from_numpy(np.stack(frames)),
        timestamps=torch.tensor(stamps, dtype=torch.float64),
        fps=float(fps if fps is not None else native),
        audio=audio,
        audio_sample_rate=sr,
    )



def write_video(path: str | Path, frames: np.ndarray, fps: int, audio: np.ndarray | None = None,
                sample_rate: int = 16000) -> Path:
    """Write uint8 ``[T, H, W, 3]`` frames as H.264 and an optional mono float waveform as AAC (an MP4 with PyAV).

    Used by the embedded sample generators and the tests; the files are what :func:`decode_video` reads back.
    """
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        vstream = container.add_stream("libx264", rate=fps)
        vstream.width, vstream.height = frames.shape[2], frames.shape[1]
        vstream.pix_fmt = "yuv420p"
        vstream.options = {"crf": "30", "preset": "veryfast"}
        astream = None
        if audio is not None:
            astream = container.add_stream("aac", rate=sample_rate)
            astream.layout = "mono"
            astream.bit_rate = 24000
        for frame in frames:
            for packet in vstream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in vstream.encode():
            container.mux(packet)
        if astream is not None:
            pcm = np.clip(audio, -1, 1).astype(np.float32)
            for start in range(0, len(pcm), 1024):
                aframe = av.AudioFrame.from_ndarray(pcm[None, start : start + 1024], format="flt", layout="mono")
                aframe.sample_rate = sample_rate
                aframe.pts = start
                aframe.time_base = Fraction(1, sample_rate)
                for packet in astream.encode(aframe):
                    container.mux(packet)
            for packet in astream.encode():
                container.mux(packet)
    return path

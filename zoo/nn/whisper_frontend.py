"""Whisper's audio front end on tensors, batched: 16 kHz mono -> pad/trim -> 80-bin log-mel.

Radford et al., "Robust Speech Recognition via Large-Scale Weak Supervision" (2022), Sec. 2.2: audio is re-sampled
to 16 kHz, an 80-channel log-magnitude Mel spectrogram is computed on 25 ms windows with a 10 ms stride, and the
input is globally scaled to about [-1, 1]. Concretely, per clip (as ``transformers.WhisperFeatureExtractor``):

    x       = pad with zeros / trim to chunk_seconds * 16000 samples
    S       = |STFT(x; n_fft=400, hop=160, periodic Hann window, centred, reflect padding)|^2   (drop the last frame)
    M       = F^T S        F: 201 x 80 Slaney-normalised mel filters on the Slaney mel scale, 0-8000 Hz
    L       = log10(max(M, 1e-10))
    L       = max(L, max_{f,t} L - 8)                                                          (per clip)
    log_mel = (L + 4) / 4

so 30 s give 3000 frames, which Whisper's two convolutions (the second with stride 2) turn into 1500 positions.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from zoo.data.media import load_audio

SAMPLE_RATE = 16000
N_FFT = 400
HOP_LENGTH = 160
N_MELS = 80


def mel_filters(n_mels: int = N_MELS, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """``[n_fft // 2 + 1, n_mels]`` Slaney-scale, Slaney-normalised triangular filters from 0 Hz to 8 kHz."""
    import torchaudio.functional as AF

    return AF.melscale_fbanks(n_freqs=n_fft // 2 + 1, f_min=0.0, f_max=8000.0, n_mels=n_mels,
                              sample_rate=sample_rate, norm="slaney", mel_scale="slaney")


def pad_or_trim(wave: torch.Tensor, num_samples: int, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Zero-pad or cut ``[B, S]`` waveforms to ``num_samples``; samples at or past ``lengths[i]`` are zeroed first
    (so a batch padded by the collate with anything but zeros still matches Whisper's zero padding)."""
    if lengths is not None:
        keep = torch.arange(wave.shape[-1], device=wave.device)[None, :] < lengths.to(wave.device)[:, None]
        wave = wave * keep
    if wave.shape[-1] >= num_samples:
        return wave[..., :num_samples]
    return torch.nn.functional.pad(wave, (0, num_samples - wave.shape[-1]))


class WhisperFrontEnd(nn.Module):
    """``[B, S]`` 16 kHz waveforms (+ optional valid lengths) -> ``[B, n_mels, chunk_seconds * 100]`` log-mel.

    Args:
        chunk_seconds: clip length the encoder sees (30 for every released Whisper; shorter for ``tiny`` presets).
        n_mels: mel bins (80 for Whisper tiny-large-v2, 128 for large-v3).
    """

    def __init__(self, chunk_seconds: float = 30.0, n_mels: int = N_MELS):
        super().__init__()
        self.chunk_seconds = float(chunk_seconds)
        self.num_samples = int(round(chunk_seconds * SAMPLE_RATE))
        if self.num_samples % HOP_LENGTH:
            raise ValueError(f"chunk_seconds={chunk_seconds} is not a whole number of 10 ms hops")
        self.num_frames = self.num_samples // HOP_LENGTH
        self.n_mels = n_mels
        self.register_buffer("window", torch.hann_window(N_FFT), persistent=False)
        self.register_buffer("filters", mel_filters(n_mels).T.contiguous(), persistent=False)  # [n_mels, 201]

    @torch.no_grad()
    def forward(self, wave: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if wave.dim() == 1:
            wave = wave[None]
        wave = pad_or_trim(wave.float(), self.num_samples, lengths)
        stft = torch.stft(wave, N_FFT, HOP_LENGTH, window=self.window, center=True, pad_mode="reflect",
                          return_complex=True)
        power = (stft[..., :-1].abs() ** 2).contiguous()  # [B, 201, frames]
        log_spec = torch.matmul(self.filters, power).clamp(min=1e-10).log10()
        peak = log_spec.amax(dim=(1, 2), keepdim=True)
        log_spec = torch.maximum(log_spec, peak - 8.0)
        return (log_spec + 4.0) / 4.0

    def from_batch(self, batch: dict) -> torch.Tensor:
        """Log-mel of a collated batch: ``audio`` ``[B, S]`` with ``audio_mask`` (True on real samples)."""
        lengths = batch["audio_mask"].sum(-1) if "audio_mask" in batch else None
        return self(batch["audio"], lengths)


def load_clips(paths: Sequence[str | Path], max_seconds: float | None = None) -> list[torch.Tensor]:
    """Decode files to 16 kHz mono float32 (soundfile; PyAV for mp3/m4a/video), optionally cut to ``max_seconds``."""
    clips = []
    for path in paths:
        wave, _ = load_audio(path, sample_rate=SAMPLE_RATE, mono=True)
        if max_seconds is not None:
            wave = wave[: int(max_seconds * SAMPLE_RATE)]
        clips.append(wave)
    return clips

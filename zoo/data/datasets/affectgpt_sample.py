"""Generate a few synthetic clips in the MER2025 / AffectGPT media layout (the embedded default and test fixture).

Each clip is an MP4 (H.264 frames + AAC audio, written with PyAV) whose colour, moving blob and tone pitch depend on
its emotion, so a tiny model can tell them apart. Layout (see :mod:`zoo.data.datasets.mer`): ``video/``, ``audio/``
(16 kHz WAV for some clips; the others use the video's audio track), ``face/<name>/*.png`` crops for some clips and
``face/<name>.npy`` for one, ``labels.csv`` (``name, openset``), ``reasons.csv`` (``name, reason``),
``subtitles.csv`` (``name, chinese, english``) and ``train/val/test.txt``.

    python -m zoo.data.datasets.affectgpt_sample OUT_DIR [--clips 6] [--size 32] [--seconds 2]
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from zoo.data.media import write_video

EMOTIONS = {  # name: (RGB colour, tone Hz, open-set labels, subtitle, reason)
    "happy": ((230, 190, 40), 660.0, ["happy", "excited"], "That is wonderful news, thank you!",
              "She smiles widely and her voice rises; the words express thanks, so she is happy and excited."),
    "sad": ((40, 60, 160), 220.0, ["sad", "disappointed"], "I guess it does not matter anymore.",
            "His head is lowered and he speaks slowly in a low voice, so he feels sad and disappointed."),
    "angry": ((200, 30, 30), 440.0, ["angry", "annoyed"], "Stop talking to me like that.",
              "He frowns and raises his voice sharply; the words are a rebuke, so he is angry and annoyed."),
    "worried": ((120, 160, 120), 330.0, ["worried", "nervous"], "What if they never come back?",
                "Her brows are drawn together and she speaks quickly, asking an anxious question: worried, nervous."),
    "surprised": ((200, 120, 220), 880.0, ["surprised"], "Wait, you did what?",
                  "Her eyes widen and her pitch jumps on the question, so she is surprised."),
    "neutral": ((128, 128, 128), 500.0, [], "The meeting starts at nine.",
                "His face is relaxed and his tone flat while stating a fact, so he is neutral."),
}
SAMPLE_RATE = 16000


def _frames(colour, n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros((n, size, size, 3), np.uint8)
    yy, xx = np.mgrid[:size, :size]
    for t in range(n):
        cx = size * (0.25 + 0.5 * t / max(1, n - 1))
        blob = ((xx - cx) ** 2 + (yy - size / 2) ** 2) < (size / 5) ** 2
        frame = np.clip(np.array(colour)[None, None] * 0.7 + rng.normal(0, 8, (size, size, 3)), 0, 255)
        frame[blob] = 255 - np.array(colour)
        out[t] = frame.astype(np.uint8)
    return out


def _tone(hz: float, seconds: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.3 * np.sin(2 * np.pi * hz * t) + 0.01 * rng.normal(size=t.size)).astype(np.float32)


def make_affectgpt_sample(root: str | Path, clips: int = 6, size: int = 32, seconds: float = 2.0,
                          seed: int = 0) -> Path:
    import soundfile as sf
    from PIL import Image

    root = Path(root)
    for sub in ("video", "audio", "face"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    emotions = list(EMOTIONS)
    names, rows = [], []
    fps = 8
    for i in range(clips):
        emo = emotions[i % len(emotions)]
        colour, hz, labels, subtitle, reason = EMOTIONS[emo]
        name = f"sample_{i:08d}"
        frames = _frames(colour, int(seconds * fps), size, rng)
        audio = _tone(hz, seconds, rng)
        with_wav = i % 3 == 1
        write_video(root / "video" / f"{name}.mp4", frames, fps, None if with_wav else audio, SAMPLE_RATE)
        if with_wav:
            sf.write(root / "audio" / f"{name}.wav", audio, SAMPLE_RATE, subtype="PCM_16")
        if i % 3 == 2:
            face_dir = root / "face" / name
            face_dir.mkdir(exist_ok=True)
            for t in range(0, len(frames), 2):
                Image.fromarray(frames[t, size // 4 : 3 * size // 4, size // 4 : 3 * size // 4]).save(
                    face_dir / f"{t:03d}.png")
        if i == 0:
            np.save(root / "face" / f"{name}.npy", frames[:, size // 4 : 3 * size // 4, size // 4 : 3 * size // 4])
        names.append(name)
        rows.append((name, labels, subtitle, reason))
    with (root / "labels.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["name", "openset"])
        w.writerows([(n, str(labels)) for n, labels, _, _ in rows])
    with (root / "reasons.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["name", "reason"])
        w.writerows([(n, r) for n, _, _, r in rows])
    with (root / "subtitles.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["name", "chinese", "english"])
        w.writerows([(n, "", s) for n, _, s, _ in rows])
    n_val = max(1, clips // 6)
    splits = {"train": names[: clips - 2 * n_val], "val": names[clips - 2 * n_val : clips - n_val],
              "test": names[clips - n_val :]}
    for split, members in splits.items():
        (root / f"{split}.txt").write_text("".join(f"{n}\n" for n in members), encoding="utf-8")
    return root


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--clips", type=int, default=6)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    make_affectgpt_sample(args.out_dir, args.clips, args.size, args.seconds)

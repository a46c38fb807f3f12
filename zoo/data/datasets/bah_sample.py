"""Generate a small BAH-layout dataset: short H.264 + AAC videos with a face, a voice-like tone and a transcript.

Each participant answers the BAH questions; in "With A-H" answers an A/H segment (onset/offset) is where the face
shakes side to side and darkens, the tone warbles at a higher pitch and the transcript hesitates ("um, I want to, but
..."). Frame annotations go to ``video_annotation.yaml`` (release format, native frame indices). The face is the
Grace Hopper portrait that matplotlib ships as sample data (a U.S. Navy photograph in the public domain), so a real
face detector finds it. The embedded sample (``zoo/assets/bah_sample``) was written by ``python -m
zoo.data.datasets.bah_sample zoo/assets/bah_sample``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from zoo.data.datasets.bah import SPLIT_SUBDIR
from zoo.data.media import write_video

AH_WORDS = ["um", "I want to, but", "I don't know", "maybe", "it's hard, honestly",
            "I should, but I keep putting it off"]
CALM_WORDS = ["I enjoy it", "I do it every day", "it makes me happy", "that's easy for me", "I like it a lot"]


def _face(size: int) -> np.ndarray:
    import matplotlib.cbook
    from PIL import Image

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
        img = Image.open(handle).convert("RGB")
    img = img.crop((150, 90, 380, 370)).resize((size, int(size * 280 / 230)), Image.BILINEAR)
    return np.asarray(img)


def render(num_frames: int, fps: int, size: int, segment: tuple[float, float] | None, rng: np.random.Generator,
           face: np.ndarray, sample_rate: int = 16000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frames, waveform, per-frame 0/1 labels) of one answer."""
    h, w = size, size
    bg = rng.integers(60, 200, size=3)
    fh, fw = face.shape[:2]
    frames = np.empty((num_frames, h, w, 3), dtype=np.uint8)
    labels = np.zeros(num_frames, dtype=np.int64)
    for t in range(num_frames):
        sec = t / fps
        ah = segment is not None and segment[0] <= sec <= segment[1]
        labels[t] = int(ah)
        dx = int(round((8 * np.sin(2 * np.pi * 2.0 * sec)) if ah else rng.integers(-1, 2)))
        img = np.empty((h, w, 3), dtype=np.float32)
        img[:] = bg
        x0, y0 = (w - fw) // 2 + dx, (h - fh) // 2
        img[y0 : y0 + fh, x0 : x0 + fw] = face
        if ah:
            img *= 0.7
        frames[t] = np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)
    n = int(num_frames / fps * sample_rate)
    tt = np.arange(n) / sample_rate
    base = 140 + rng.uniform(-10, 10)
    wave = 0.25 * np.sin(2 * np.pi * base * tt) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * tt))
    if segment is not None:
        inside = (tt >= segment[0]) & (tt <= segment[1])
        warble = 0.35 * np.sin(2 * np.pi * (320 + 40 * np.sin(2 * np.pi * 5 * tt)) * tt)
        wave = np.where(inside, warble, wave)
    wave = wave + rng.normal(0, 0.01, n)
    return frames, wave.astype(np.float32), labels


def make_bah_sample(root: str | Path, participants: dict[str, list[str]] | None = None, questions: int = 3,
                    seconds: float = 3.0, fps: int = 10, size: int = 112, seed: int = 0) -> Path:
    """Write videos, split files and ``video_annotation.yaml`` under ``root``; returns ``root``.

    ``participants`` maps split -> participant ids (default: 4 train, 2 val, 2 test). Question 1 of every participant
    is "No A-H"; later questions alternate between "With A-H" and "No A-H", starting with "With A-H" at question 2
    for even participant indices and at question 3 for odd ones.
    """
    import yaml

    root = Path(root)
    participants = participants or {"train": ["90001", "90002", "90003", "90004"], "val": ["90005", "90006"],
                                    "test": ["90007", "90008"]}
    rng = np.random.default_rng(seed)
    face = _face(int(size * 0.5))
    num_frames = int(seconds * fps)
    annotations: dict[str, dict] = {}
    split_dir = root / SPLIT_SUBDIR
    split_dir.mkdir(parents=True, exist_ok=True)
    p_index = 0
    for split, pids in participants.items():
        rows = []
        for pid in pids:
            for q in range(1, questions + 1):
                ah = q > 1 and (q + p_index) % 2 == 0
                segment = None
                if ah:
                    onset = float(np.round(rng.uniform(0.2, seconds / 2), 1))
                    segment = (onset, float(np.round(min(seconds - 0.1, onset + rng.uniform(0.8, 1.4)), 1)))
                frames, wave, labels = render(num_frames, fps, size, segment, rng, face)
                rel = f"Videos/{pid}/Visite_1/{pid}_Question_{q}_2026-01-0{q}_10-00-0{q}_Video.mp4"
                write_video(root / rel, frames, fps, wave)
                words = rng.choice(AH_WORDS if ah else CALM_WORDS, size=3)
                transcript = ", ".join(words) + (", so, well, I'm not sure." if ah else ", and that's it.")
                rows.append(f"{rel},{int(ah)},{transcript[0].upper()}{transcript[1:]}")
                key = rel.split("Videos/", 1)[1].rsplit(".", 1)[0]
                annotations[key] = {"frame_annotation": [[i, int(v)] for i, v in enumerate(labels)]}
            p_index += 1
        (split_dir / f"{split}.txt").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (split_dir.parents[2] / "frame-level" / "BAH_DB" / "split-0").mkdir(parents=True, exist_ok=True)
    (split_dir.parents[2] / "frame-level" / "BAH_DB" / "split-0" / "class_id.yaml").write_text(
        "With A-H: 1\nNo A-H: 0\n", encoding="utf-8")
    (root / "video_annotation.yaml").write_text(yaml.safe_dump(annotations, default_flow_style=None, width=200),
                                                encoding="utf-8")
    return root


if __name__ == "__main__":
    make_bah_sample(sys.argv[1] if len(sys.argv) > 1 else "zoo/assets/bah_sample")

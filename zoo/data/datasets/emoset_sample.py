"""Generate a small synthetic dataset in the real EmoSet layout (the zoo's embedded default and test fixture).

Images are procedural: each emotion has its own hue band and stroke pattern, so a model can learn them; brightness
and colorfulness labels are *measured* from the generated pixels (mean V and mean S in HSV, rounded to 0.1), as
EmoSet derives them from the image. Scene, object and action vocabularies have EmoSet's sizes with placeholder
names (the real ``info.json`` holds Places365 / Open Images / Kinetics names). Some attributes are left out of some
annotations, as in the real release.

    python -m zoo.data.datasets.emoset_sample OUT_DIR [--per-split 3 1 1] [--size 48]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from zoo.data.datasets.emoset import ATTRIBUTE_SIZES
from zoo.taxonomies import FACIAL_EXPRESSION6, MIKELS8

_HUES = {"amusement": 0.15, "awe": 0.55, "contentment": 0.3, "excitement": 0.02,
         "anger": 0.98, "disgust": 0.22, "fear": 0.72, "sadness": 0.62}


def _vocab(names: list) -> dict:
    return {"label2idx": {str(n): i for i, n in enumerate(names)}, "idx2label": {str(i): n for i, n in enumerate(names)}}


def info_json() -> dict:
    steps = [round(0.1 * i, 1) for i in range(11)]
    return {
        "emotion": _vocab(list(MIKELS8.labels)),
        "brightness": {"label2idx": {f"{s:.1f}": i for i, s in enumerate(steps)},
                       "idx2label": {str(i): s for i, s in enumerate(steps)}},
        "colorfulness": {"label2idx": {f"{s:.1f}": i for i, s in enumerate(steps)},
                         "idx2label": {str(i): s for i, s in enumerate(steps)}},
        "scene": _vocab([f"scene_{i:03d}" for i in range(ATTRIBUTE_SIZES["scene"])]),
        "object": _vocab([f"Object {i:03d}" for i in range(ATTRIBUTE_SIZES["object"])]),
        "facial_expression": _vocab(list(FACIAL_EXPRESSION6.labels)),
        "human_action": _vocab([f"action {i:03d}" for i in range(ATTRIBUTE_SIZES["human_action"])]),
    }


def _image(rng: np.random.Generator, emotion_index: int, hue: float, size: int) -> np.ndarray:
    """HSV image: an emotion-specific hue band, stroke orientation and value level, plus noise."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    angle = np.pi * emotion_index / 8
    stripes = 0.5 + 0.5 * np.sin(2 * np.pi * (3 + emotion_index % 3) * (xx * np.cos(angle) + yy * np.sin(angle)))
    h = (hue + 0.04 * rng.standard_normal() + 0.05 * stripes) % 1.0
    s = np.clip(0.35 + 0.5 * (emotion_index < 4) * stripes + 0.1 * rng.standard_normal((size, size)), 0, 1)
    v = np.clip((0.75 if emotion_index < 4 else 0.4) + 0.2 * stripes + 0.05 * rng.standard_normal((size, size)), 0, 1)
    hsv = np.stack([np.broadcast_to(h, (size, size)), s, v], axis=-1)
    return (np.asarray(Image.fromarray((hsv * 255).astype(np.uint8), "HSV").convert("RGB"))).copy()


def make_emoset_sample(root: str | Path, per_split: tuple[int, int, int] = (3, 1, 1), size: int = 48,
                       seed: int = 0) -> Path:
    """Write the sample dataset under ``root`` and return it. Deterministic for a given seed."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    (root / "image").mkdir(parents=True, exist_ok=True)
    (root / "info.json").write_text(json.dumps(info_json(), indent=1), encoding="utf-8")
    splits: dict[str, list[list[str]]] = {"train": [], "val": [], "test": []}
    for e, emotion in enumerate(MIKELS8.labels):
        (root / "image" / emotion).mkdir(exist_ok=True)
        (root / "annotation" / emotion).mkdir(parents=True, exist_ok=True)
        n = 0
        for split, count in zip(splits, per_split, strict=True):
            for _ in range(count):
                image_id = f"{emotion}_{n:05d}"
                n += 1
                pixels = _image(rng, e, _HUES[emotion], size)
                image_rel = f"image/{emotion}/{image_id}.jpg"
                Image.fromarray(pixels).save(root / image_rel, quality=85)
                hsv = np.asarray(Image.fromarray(pixels).convert("HSV"), dtype=np.float32) / 255
                annotation = {
                    "emotion": emotion,
                    "brightness": round(float(hsv[..., 2].mean()), 1),
                    "colorfulness": round(float(hsv[..., 1].mean()), 1),
                }
                if rng.random() < 0.8:
                    annotation["scene"] = f"scene_{int(rng.integers(ATTRIBUTE_SIZES['scene'])):03d}"
                if rng.random() < 0.7:
                    annotation["object"] = [f"Object {int(i):03d}" for i in
                                            rng.choice(ATTRIBUTE_SIZES["object"], size=2, replace=False)]
                if rng.random() < 0.4:
                    annotation["facial_expression"] = FACIAL_EXPRESSION6.labels[e % 6]
                if rng.random() < 0.4:
                    annotation["human_action"] = f"action {int(rng.integers(ATTRIBUTE_SIZES['human_action'])):03d}"
                annotation_rel = f"annotation/{emotion}/{image_id}.json"
                (root / annotation_rel).write_text(json.dumps(annotation), encoding="utf-8")
                splits[split].append([emotion, image_id, image_rel, annotation_rel])
    for split, rows in splits.items():
        (root / f"{split}.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--per-split", type=int, nargs=3, default=(3, 1, 1), metavar=("TRAIN", "VAL", "TEST"))
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(make_emoset_sample(args.out_dir, tuple(args.per_split), args.size, args.seed))


if __name__ == "__main__":
    main()

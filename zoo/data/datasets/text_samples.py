"""Small synthetic text sets written in the real on-disk layouts of GoEmotions, EmoBank and ISEAR.

For tests and for the sample recipe (``recipes/text_affect.yaml``); the texts are template sentences whose emotion
words determine the labels, so a model can fit them. ``python -m zoo.data.datasets.text_samples OUT_DIR``.
"""
from __future__ import annotations

import csv
import random
import sys
from pathlib import Path

from zoo.data.datasets.goemotions import SENTIMENT4
from zoo.taxonomies import EKMAN7, GOEMOTIONS28, ISEAR7

WORDS = {
    "anger": ["furious", "outraged", "angry", "livid"],
    "disgust": ["disgusted", "repulsed", "sickened", "grossed out"],
    "fear": ["terrified", "scared", "afraid", "frightened"],
    "joy": ["delighted", "happy", "thrilled", "overjoyed"],
    "neutral": ["informed", "told", "notified", "updated"],
    "sadness": ["heartbroken", "sad", "devastated", "miserable"],
    "surprise": ["astonished", "surprised", "amazed", "stunned"],
    "shame": ["ashamed", "humiliated", "embarrassed", "mortified"],
    "guilt": ["guilty", "remorseful", "to blame", "responsible"],
}
SUBJECTS = ["I was", "My friend was", "We were", "She was", "He was", "They were"]
OBJECTS = ["about the news", "after the meeting", "by the letter", "at the game", "about the trip", "by the result"]
VAD = {"anger": (1.8, 4.0, 3.4), "disgust": (1.9, 3.4, 3.0), "fear": (1.9, 4.1, 1.8), "joy": (4.3, 3.8, 3.6),
       "neutral": (3.0, 2.7, 3.0), "sadness": (1.7, 2.4, 2.2), "surprise": (3.3, 4.0, 2.9)}
SENTIMENT = {"anger": "negative", "disgust": "negative", "fear": "negative", "sadness": "negative", "joy": "positive",
             "surprise": "ambiguous", "neutral": "neutral"}
SPLITS = {"train": "train", "val": "dev", "test": "test"}


def _sentence(rng: random.Random, emotion: str) -> str:
    return f"{rng.choice(SUBJECTS)} {rng.choice(WORDS[emotion])} {rng.choice(OBJECTS)}."


def make_text_samples(root: str | Path, per_class: tuple[int, int, int] = (6, 2, 2), seed: int = 0) -> Path:
    """Write ``root/{goemotions,emobank,isear}`` (``per_class`` texts per emotion in train/val/test)."""
    rng = random.Random(seed)
    root = Path(root)
    go = root / "goemotions" / "data"
    for folder, labels in (("original", GOEMOTIONS28.labels), ("ekman", EKMAN7.labels), ("group", SENTIMENT4)):
        (go / folder).mkdir(parents=True, exist_ok=True)
        (go / folder / "labels.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
    emobank_rows = []
    for (split, file_split), n in zip(SPLITS.items(), per_class, strict=True):
        rows = [(f"{split}{e}{i}", e, _sentence(rng, e)) for e in EKMAN7.labels for i in range(n)]
        rng.shuffle(rows)
        for folder, to_id in (("original", GOEMOTIONS28.labels.index), ("ekman", EKMAN7.labels.index),
                              ("group", lambda e: SENTIMENT4.index(SENTIMENT[e]))):
            with (go / folder / f"{file_split}.tsv").open("w", encoding="utf-8") as handle:
                handle.writelines(f"{text}\t{to_id(e)}\t{cid}\n" for cid, e, text in rows)
        for cid, e, text in rows:
            v, a, d = (round(x + rng.uniform(-0.2, 0.2), 2) for x in VAD[e])
            emobank_rows.append({"id": cid, "split": file_split, "V": v, "A": a, "D": d, "text": text})
    (root / "emobank" / "corpus").mkdir(parents=True, exist_ok=True)
    with (root / "emobank" / "corpus" / "emobank.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "split", "V", "A", "D", "text"])
        writer.writeheader()
        writer.writerows(emobank_rows)
    (root / "isear").mkdir(parents=True, exist_ok=True)
    header = ["ID", "Field1", "MYKEY", "SIT", "STATE"]
    with (root / "isear" / "isear.csv").open("w", encoding="utf-8") as handle:
        handle.write("|".join(header) + "|\n")
        key = 0
        for _ in range(sum(per_class) * 2):
            for e in ISEAR7.labels:
                key += 1
                handle.write(f"{key // 7}|{e}|{key:07d}|{_sentence(rng, e)} á and then it ended.|1|\n")
    return root


if __name__ == "__main__":
    print(make_text_samples(sys.argv[1]))

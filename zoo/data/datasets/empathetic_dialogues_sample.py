"""Synthetic EmpatheticDialogues CSVs in the real on-disk format, for tests and the embedded sample recipe.

Each conversation's opening turn names a situation typical of its emotion; the listener replies with a phrase of
the emotion's 8-group, so a small model can learn both the emotion and the reply. The files reproduce the format's
quirks: ``_comma_`` for commas, CRLF row ends, a row with trailing retrieval-candidate fields, and one whose extra
fields spill onto a further physical line (a fragment the reader must skip and count).
"""
from __future__ import annotations

import random
from pathlib import Path

from zoo.data.datasets.empathetic_dialogues import COLUMNS
from zoo.taxonomies import ED32

SAMPLE_ROOT = Path(__file__).resolve().parents[2] / "assets" / "empathetic_dialogues_sample"

_REPLIES = {
    "excited": "wow_comma_ that is wonderful news !",
    "afraid": "oh no_comma_ that sounds scary . are you safe ?",
    "disgusted": "that is awkward_comma_ i would feel bad too .",
    "annoyed": "that is so frustrating . i would be mad .",
    "grateful": "that is really kind . you are lucky .",
    "disappointed": "i am so sorry . that must be hard .",
    "impressed": "you should be proud of that !",
    "prepared": "good luck_comma_ you are ready for it .",
}
_THINGS = ("job", "dog", "car", "exam", "sister", "garden", "trip", "house")


def _row(conv: str, idx: int, emotion: str, prompt: str, speaker: int, text: str, extra: str = "") -> str:
    return ",".join([conv, str(idx), emotion, prompt, str(speaker), text, "5|5|5_2|2|5", ""]) + extra


def make_empathetic_dialogues_sample(root: str | Path, conversations: dict[str, int] | None = None,
                                     seed: int = 0) -> Path:
    """Write ``train.csv`` / ``valid.csv`` / ``test.csv`` under ``root`` (conversations per emotion and file)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    conversations = conversations or {"train": 2, "valid": 1, "test": 1}
    rng = random.Random(seed)
    hit = 0
    for split, per_emotion in conversations.items():
        rows = [",".join(COLUMNS)]
        for _ in range(per_emotion):
            for emotion in ED32.labels:
                hit += 1
                conv = f"hit:{hit}_conv:{2 * hit}"
                thing = rng.choice(_THINGS)
                prompt = f"i felt {emotion} about my {thing}"
                turns = [f"i feel {emotion} about my {thing}_comma_ it happened today .",
                         _REPLIES[ED32.coarse[emotion]],
                         f"yes_comma_ my {thing} made me feel {emotion} .",
                         _REPLIES[ED32.coarse[emotion]]]
                for i, text in enumerate(turns, start=1):
                    extra = ""
                    if split == "valid" and hit % 7 == 0 and i == 2:
                        extra = ",candidate one|candidate two"  # a row with extra trailing fields
                    rows.append(_row(conv, i, emotion, prompt, 1 + (i + 1) % 2, text, extra))
        if split == "valid":
            rows[3] += ',"spilled candidate'
            rows.insert(4, 'text continues on its own line|and more"')  # a fragment line: skipped, counted
        (root / f"{split}.csv").write_bytes(("\r\n".join(rows) + "\r\n").encode("utf-8"))
    return root


if __name__ == "__main__":
    make_empathetic_dialogues_sample(SAMPLE_ROOT)

"""Generate the embedded synthetic speech sample (zoo/assets/voice_sample) in the EmoNet-Voice reader's layout.

Speech comes from the espeak-ng formant synthesiser (``apt-get install espeak-ng``); each clip *portrays* one of six
EmoNet emotions at level 1 (mild) or 2 (intense) through prosody: espeak-ng's pitch / rate / amplitude settings,
then torchaudio effects (saturation for Anger, 7 Hz tremolo for Fear, low-pass for the low-energy emotions, breath
noise for Fatigue), resampled to 16 kHz mono and stored as 16-bit FLAC. Neutral clips use the default prosody.

The ratings are *synthetic*: three simulated annotators per clip and emotion, derived from the generation recipe
(the portrayed emotion gets its level, with one annotator one step lower on some intense clips; a related emotion
sometimes gets a 1; everything else 0). They make the pipeline runnable and learnable; they are not perceptual
judgements and say nothing about real speech.

    python -m zoo.data.datasets.voice_sample OUT_DIR
"""
from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

EMOTIONS = ("Elation", "Anger", "Fear", "Contentment", "Sadness", "Fatigue/Exhaustion")
NEUTRAL = {"pitch": 50, "speed": 160, "amplitude": 100}
RECIPES = {
    # espeak-ng prosody at level 2 (level 1 is half-way from neutral) + post-processing effects
    "Elation": {"pitch": 88, "speed": 205, "amplitude": 160},
    "Anger": {"pitch": 28, "speed": 190, "amplitude": 190, "drive": 6.0},
    "Fear": {"pitch": 82, "speed": 225, "amplitude": 110, "tremolo": 0.7},
    "Contentment": {"pitch": 42, "speed": 135, "amplitude": 85, "lowpass": 4000.0},
    "Sadness": {"pitch": 18, "speed": 105, "amplitude": 60, "lowpass": 1800.0},
    "Fatigue/Exhaustion": {"pitch": 8, "speed": 85, "amplitude": 45, "lowpass": 1500.0, "breath": 0.02},
}
RELATED = {"Elation": "Contentment", "Contentment": "Elation", "Sadness": "Fatigue/Exhaustion",
           "Fatigue/Exhaustion": "Sadness", "Anger": "Fear", "Fear": "Anger"}
SENTENCES = ("I did not expect to hear from you today.", "The results came in this morning.",
             "We have to leave before it gets dark.", "Nobody told me it would be like this.")
VOICES = ("en+m3", "en+f3")
SAMPLE_RATE = 16000


def _espeak(text: str, voice: str, pitch: int, speed: int, amplitude: int, out: Path) -> None:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install -y espeak-ng)")
    subprocess.run([exe, "-v", voice, "-p", str(pitch), "-s", str(speed), "-a", str(amplitude), "-w", str(out),
                    text], check=True, capture_output=True)


def _effects(wave: torch.Tensor, sr: int, recipe: dict, level: int, rng: np.random.Generator) -> torch.Tensor:
    strength = level / 2
    if "drive" in recipe:
        drive = 1 + (recipe["drive"] - 1) * strength
        wave = torch.tanh(drive * wave) / np.tanh(drive)
    if "tremolo" in recipe:
        t = torch.arange(wave.numel()) / sr
        wave = wave * (1 - recipe["tremolo"] * strength * 0.5 * (1 + torch.sin(2 * np.pi * 7.0 * t)))
    if "lowpass" in recipe:
        cutoff = 8000 - (8000 - recipe["lowpass"]) * strength
        wave = AF.lowpass_biquad(wave, sr, cutoff)
    if "breath" in recipe:
        wave = wave + recipe["breath"] * strength * torch.from_numpy(rng.standard_normal(wave.numel())).float()
    return wave.clamp(-1, 1)


def _prosody(recipe: dict, level: int) -> dict:
    strength = level / 2
    return {k: int(round(NEUTRAL[k] + (recipe[k] - NEUTRAL[k]) * strength)) for k in NEUTRAL}


def make_voice_sample(root: str | Path, seed: int = 0) -> Path:
    """Write the clips and ``annotations.csv`` under ``root``; deterministic for a given espeak-ng version."""
    root = Path(root)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows: list[dict] = []
    plan: list[tuple[str, str | None, int, str, str]] = []  # (name, emotion, level, voice, split)
    for e, emotion in enumerate(EMOTIONS):
        for voice in VOICES:
            for level in (1, 2):
                heldout = voice == VOICES[1] and level == 1
                split = ("val" if e % 2 == 0 else "test") if heldout else "train"
                slug = emotion.split("/")[0].lower()
                plan.append((f"{slug}_{voice[-2:]}_l{level}", emotion, level, voice, split))
    for i, split in enumerate(("train", "train", "val", "test")):
        plan.append((f"neutral_{VOICES[i % 2][-2:]}_{i}", None, 0, VOICES[i % 2], split))
    with tempfile.TemporaryDirectory() as tmp:
        for n, (name, emotion, level, voice, split) in enumerate(plan):
            recipe = RECIPES[emotion] if emotion else {}
            prosody = _prosody(recipe, level) if emotion else NEUTRAL
            raw = Path(tmp) / f"{name}.wav"
            _espeak(SENTENCES[n % len(SENTENCES)], voice, prosody["pitch"], prosody["speed"], prosody["amplitude"],
                    raw)
            data, sr = sf.read(str(raw), dtype="float32")
            wave = AF.resample(torch.from_numpy(data), sr, SAMPLE_RATE)
            wave = _effects(wave, SAMPLE_RATE, recipe, level, rng)
            rel = f"audio/{name}.flac"
            sf.write(str(root / rel), wave.numpy(), SAMPLE_RATE, subtype="PCM_16")
            for target in EMOTIONS:
                for annotator in range(3):
                    if target == emotion:
                        rating = level - 1 if (level == 2 and annotator == 2 and n % 3 == 0) else level
                    elif emotion and RELATED[emotion] == target and level == 2 and annotator == 0:
                        rating = 1
                    else:
                        rating = 0
                    rows.append({"file": rel, "emotion": target, "annotator": f"synthetic_{annotator}",
                                 "rating": rating, "split": split})
    with open(root / "annotations.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file", "emotion", "annotator", "rating", "split"])
        writer.writeheader()
        writer.writerows(rows)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(make_voice_sample(args.out_dir, args.seed))


if __name__ == "__main__":
    main()

"""Train the tiny AffectGPT on the embedded sample clips (cached encoder features), measure the OV-MER label F on
its val and test clips, and write ``checkpoints/affectgpt/tiny-sample`` (+ index entry ``affectgpt-tiny-sample``).

    nice -n 10 .venv/bin/python recipes/affectgpt_sample_checkpoint.py [--epochs 40] [--out checkpoints/affectgpt]

A smoke-test checkpoint: synthetic clips, random-initialised encoders, byte-level tiny LLM. Its numbers say that the
pipeline learns, not anything about emotion recognition.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import lightning as L
import torch

import zoo
from zoo.data import AffectDataModule, pad_collate
from zoo.data.datasets.mer import MERReader
from zoo.hub import add_to_index, save_pretrained
from zoo.metrics.ovmer import EmotionWheel, ovmer_scores
from zoo.models.affectgpt import parse_generated_labels


def evaluate(model, reader: MERReader, split: str) -> dict[str, float]:
    ds = reader.dataset(split)
    batch = pad_collate([ds[i] for i in range(len(ds))])
    model.eval()
    with torch.no_grad():
        face, audio = model.features(batch)
        texts = model.generate_from_tokens(model.modality_tokens(face, audio), batch["subtitle"], "labels")
    refs = {n: labels for n, labels in zip(batch["name"], batch["labels"], strict=True)}
    preds = {n: parse_generated_labels(t) for n, t in zip(batch["name"], texts, strict=True)}
    for n in refs:
        print(f"{split} {n}: reference {refs[n]} generated {texts[list(refs).index(n)]!r}")
    scores = ovmer_scores(refs, preds, EmotionWheel.default())
    return {k: scores[k] for k in ("f_level1", "precision_level1", "recall_level1", "f_level2", "samples")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--out", default="checkpoints/affectgpt")
    args = parser.parse_args()
    L.seed_everything(0)
    model = zoo.create("affectgpt", "tiny", lr=1e-2, max_new_tokens=60, eval_generate=False)
    with tempfile.TemporaryDirectory() as cache:
        model.hparams.feature_cache_dir = cache
        for split in ("train", "val", "test"):
            model.cache_features(MERReader(image_size=32).dataset(split))
        model.hparams.feature_cache_dir = None
        reader = MERReader(image_size=32, feature_cache=cache)
        trainer = L.Trainer(max_epochs=args.epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
                            enable_progress_bar=False, limit_val_batches=0, num_sanity_val_steps=0)
        trainer.fit(model, AffectDataModule(reader, batch_size=4))
        metrics = []
        for split in ("val", "test"):
            values = evaluate(model, reader, split)
            print(split, values)
            metrics.append({"dataset": "affectgpt_sample (synthetic, embedded)", "split": split,
                            "values": values, "wheel": "zoo default"})
    model.hparams.eval_generate = True
    out = Path(args.out) / "tiny-sample"
    card = save_pretrained(model, out, name="affectgpt-tiny-sample", metrics=metrics,
                           provenance={"recipe": "recipes/affectgpt_sample_checkpoint.py", "epochs": args.epochs,
                                       "data": "zoo/assets/affectgpt_sample (train split, 8 clips)"},
                           licence="Apache-2.0 (synthetic data, random-initialised encoders)",
                           notes="Smoke-test checkpoint: learns the synthetic sample's colour/tone -> label mapping.")
    add_to_index(out, "affectgpt-tiny-sample", Path(args.out).parent)
    print(f"wrote {out} ({card['weights']['bytes']:,} bytes)")


if __name__ == "__main__":
    main()

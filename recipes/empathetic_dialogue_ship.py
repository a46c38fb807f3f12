"""Re-save a trained ``empathetic_dialogue`` checkpoint with float16 weight storage (to keep shipped files small),
after measuring on the test split that the float16-rounded weights behave like the float32 ones.

    ZOO_DATA=/path/to/datasets .venv/bin/python recipes/empathetic_dialogue_ship.py checkpoints/NAME \\
        --ablation checkpoints/NAME_vanilla/card.json --check 500

``zoo.load`` rebuilds the model in float32 and copies the float16 values in, so the loaded model *is* the rounded
one. The card keeps the float32 test metrics (measured by recipes/empathetic_dialogue_train.py) and gains
``float16_check`` (perplexity of both on the first ``--check`` test examples, share of identical greedy replies)
and, with ``--ablation``, the metrics of an ablation whose weights are not shipped.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F

from zoo.data.collate import pad_collate
from zoo.data.datasets.empathetic_dialogues import EmpatheticDialoguesReader
from zoo.hub import add_to_index, load, save_pretrained


@torch.no_grad()
def perplexity_and_replies(model, examples, batch_size: int = 64) -> tuple[float, list[list[int]]]:
    nll, tokens, replies = 0.0, 0, []
    for start in range(0, len(examples), batch_size):
        batch = model.on_before_batch_transfer(pad_collate(examples[start:start + batch_size]), 0)
        logits = model(batch)["lm_logits"]
        nll += float(F.cross_entropy(logits.flatten(0, 1), batch["labels"].flatten(), ignore_index=-100,
                                     reduction="sum"))
        tokens += int((batch["labels"] != -100).sum())
        replies += model.generate({k: v for k, v in batch.items() if k not in ("decoder_input_ids", "labels")},
                                  beam_size=1)[0]
    return math.exp(nll / tokens), replies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="a float32 checkpoint folder written by empathetic_dialogue_train.py")
    parser.add_argument("--check", type=int, default=500, help="test examples for the float16 check")
    parser.add_argument("--ablation", action="append", default=[], help="card.json of an ablation to cite")
    parser.add_argument("--index-root", default="checkpoints")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = Path(args.checkpoint)
    model = load(folder)
    card = model.card
    rounded = copy.deepcopy(model)
    for p in rounded.parameters():
        p.data = p.data.half().float()
    examples = EmpatheticDialoguesReader().examples("test")[: args.check]
    ppl32, replies32 = perplexity_and_replies(model, examples)
    ppl16, replies16 = perplexity_and_replies(rounded, examples)
    same = sum(a == b for a, b in zip(replies32, replies16, strict=True)) / len(examples)
    metrics = card["metrics"]
    metrics[0]["float16_check"] = {"test_examples": len(examples), "perplexity_float32": ppl32,
                                   "perplexity_float16": ppl16, "identical_greedy_replies": same}
    for path in args.ablation:
        ablation = json.loads(Path(path).read_text(encoding="utf-8"))
        for m in ablation["metrics"]:
            metrics.append({**m, "model": f"ablation: {ablation['name']} (weights not shipped)",
                            "ablation_hparams": {k: v for k, v in ablation["hparams"].items()
                                                 if k != "tokenizer_json"},
                            "ablation_provenance": ablation["provenance"]})
    provenance = {k: v for k, v in card["provenance"].items() if k not in ("commit", "date")}
    provenance["train_commit"] = card["provenance"].get("commit")
    provenance["weights_dtype"] = "float16 storage (zoo.load restores float32 modules)"
    save_pretrained(model.half(), folder, name=card["name"], metrics=metrics, provenance=provenance,
                    licence=card["licence"], notes=card["notes"])
    add_to_index(folder, card["name"], args.index_root)
    print(json.dumps(metrics[0]["float16_check"], indent=2))


if __name__ == "__main__":
    main()

"""OV-MER metrics on the shipped MER2024 baseline outputs (``$ZOO_DATA/mertools``), against the published figures.

* MER2024 OV track metric (per-sample GPT synonym groups, ``openset-synonym.zip``): README of MER2024 publishes
  precision ("set level accuracy") 0.581777108433735 and recall 0.4977911646586345 for ``predict-openset.csv``.
  Computed with our list parser and with the MERTools parser (which splits "don't believe" at the apostrophe).
* EW-based metric (MER2025 wheels ``wheel1..5`` + ``synonym.xlsx`` + ``format.csv``) at level 1 and 2, and with the
  zoo's default mapping. No published figure exists for this file pair.
* Hit rate of the MER2023 discrete label (``MERBench/labels_json/mer2023-dataset__label-6way.json``) in the predicted
  and in the reference open set, after level-1 wheel normalisation, averaged over the 5 wheels.

    zoo bench affectgpt_ovmer
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from zoo.bench import write_results
from zoo.data import data_root
from zoo.errors import ConfigError
from zoo.metrics.ovmer import (
    EmotionWheel,
    hit_rate,
    ovmer_scores,
    parse_label_list,
    read_synonym_groups,
    synonym_group_scores,
)

PUBLISHED = {"precision": 0.581777108433735, "recall": 0.4977911646586345}


def _mertools_parse(text: str) -> list[str]:
    body = text.strip()[1:-1].replace('"', "'")
    return [x.strip().lower() for x in body.split("'") if x.strip() not in ("", ",")]


def main(quick: bool = False, out_dir: Path = Path("benchmarks/results")) -> dict[str, Any]:
    root = data_root("mertools")
    if root is None:
        raise ConfigError("set ZOO_DATA to the shared datasets folder (needs mertools/)")
    store = root / "MER2024" / "ov_store"
    raw = {}
    for kind in ("check", "predict"):
        with (store / f"{kind}-openset.csv").open(encoding="utf-8") as f:
            raw[kind] = {r["name"]: r["openset"] for r in csv.DictReader(f)}
    gt = {k: parse_label_list(v) for k, v in raw["check"].items()}
    pred = {k: parse_label_list(v) for k, v in raw["predict"].items()}
    groups = read_synonym_groups(store / "openset-synonym.zip")
    rows: list[dict[str, Any]] = []
    ours = synonym_group_scores(gt, pred, groups)
    ref = synonym_group_scores({k: _mertools_parse(v) for k, v in raw["check"].items()},
                               {k: _mertools_parse(v) for k, v in raw["predict"].items()}, groups)
    for label, s in (("MER2024 synonym groups, zoo parser", ours), ("MER2024 synonym groups, MERTools parser", ref)):
        rows.append({"metric": label, "precision": s["precision"], "recall": s["recall"],
                     "published_precision": PUBLISHED["precision"], "published_recall": PUBLISHED["recall"],
                     "samples": s["samples"]})
    official = EmotionWheel.from_folder(root / "MER2025" / "MER2025_Track23" / "emotion_wheel")
    for name, wheel in (("official MER2025 wheels", official), ("zoo default wheels", EmotionWheel.default())):
        s = ovmer_scores(gt, pred, wheel)
        for level in ("level1", "level2"):
            rows.append({"metric": f"EW {level}, {name}", "f": s[f"f_{level}"], "precision": s[f"precision_{level}"],
                         "recall": s[f"recall_{level}"], "samples": s["samples"]})
    labels_json = root / "MERBench" / "labels_json" / "mer2023-dataset__label-6way.json"
    discrete = {n: v["emo"] for split in json.loads(labels_json.read_text(encoding="utf-8")).values()
                for n, v in split.items()}
    names = [n for n in gt if n in discrete]
    for source, sets in (("predict-openset", pred), ("check-openset (reference)", gt)):
        rates = []
        for w in official.wheels:
            norm = lambda word, w=w: official.normalise(word, w, "level1") or f"<unmapped:{word}>"  # noqa: E731
            rates.append(hit_rate([discrete[n] for n in names], [sets[n] for n in names], norm))
        rows.append({"metric": f"hit rate of MER2023 label in {source}", "hit_rate": sum(rates) / len(rates),
                     "samples": len(names)})
    write_results(out_dir, "affectgpt_ovmer", rows, {"data": str(store)})
    return {"rows": rows}

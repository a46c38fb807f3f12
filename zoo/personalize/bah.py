"""Personalisation of a trained BAH recognizer to each target participant (BAH paper, arXiv 2505.19328,
personalisation with unsupervised domain adaptation: source participants labelled, target participant unlabelled).

Methods:

- ``source_only``: the source-trained model as is.
- ``uda_mmd``: fine-tune on labelled source videos while aligning the pooled video features and the frame features
  of source and *all* target participants with MMD (:func:`zoo.nn.adaptation.mmd`); one adapted model is evaluated on
  every target participant.
- ``subject_uda``: the same, with the target domain restricted to one participant; one adapted model per
  participant.
- ``shot``: source-free, per participant (SHOT, Liang et al., ICML 2020): the heads (the source hypothesis) are
  frozen and the rest of the network is trained on the participant's unlabelled videos with the information-
  maximisation loss plus ``beta`` times cross-entropy to nearest-centroid pseudo-labels.

:func:`personalise` evaluates each method on every target participant (frame- and video-level BAH metrics) and
reports mean +/- std over participants.
"""
from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from zoo.data.collate import pad_collate
from zoo.errors import ConfigError
from zoo.metrics.bah import bah_perfs
from zoo.nn.adaptation import information_maximization, mmd, shot_pseudo_labels

METHODS = ("source_only", "uda_mmd", "subject_uda", "shot")


@dataclass
class AdaptConfig:
    steps: int = 50
    lr: float = 1e-4
    batch_size: int = 4
    mmd_weight: float = 1.0
    shot_beta: float = 0.3
    seed: int = 0


def _loader(ds: Dataset, batch_size: int, shuffle: bool, seed: int) -> DataLoader:
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, collate_fn=pad_collate,
                      generator=torch.Generator().manual_seed(seed))


def _frame_features(out: dict[str, torch.Tensor]) -> torch.Tensor:
    return out["trunk"][out["mask"]]


def adapt_mmd(model, source: Dataset, target: Dataset, cfg: AdaptConfig):
    """A copy of ``model`` fine-tuned with source cross-entropy + ``mmd_weight`` * (video + frame) MMD."""
    model = copy.deepcopy(model).train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
    src = itertools.cycle(_loader(source, cfg.batch_size, True, cfg.seed))
    tgt = itertools.cycle(_loader(target, cfg.batch_size, True, cfg.seed + 1))
    for _ in range(cfg.steps):
        sb, tb = next(src), next(tgt)
        so, to = model(sb), model(tb)
        align = mmd(so["pooled"], to["pooled"]) + mmd(_frame_features(so), _frame_features(to))
        loss = model.losses(so, sb)["loss"] + cfg.mmd_weight * align
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def adapt_shot(model, target: Dataset, cfg: AdaptConfig):
    """A copy of ``model`` adapted source-free with SHOT (heads frozen)."""
    model = copy.deepcopy(model).train()
    for head in (model.frame_head, model.video_head):
        head.requires_grad_(False)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
    loader = itertools.cycle(_loader(target, cfg.batch_size, True, cfg.seed))
    for _ in range(cfg.steps):
        batch = next(loader)
        out = model(batch)
        frame_logits = out["frame_logits"][out["mask"]]
        loss = information_maximization(out["video_logits"]) + information_maximization(frame_logits)
        if cfg.shot_beta > 0:
            pseudo = shot_pseudo_labels(_frame_features(out), frame_logits)
            loss = loss + cfg.shot_beta * F.cross_entropy(frame_logits, pseudo)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@torch.inference_mode()
def evaluate(model, ds: Dataset, batch_size: int = 4) -> dict[str, dict[str, Any]]:
    """Frame- and video-level :func:`~zoo.metrics.bah.bah_perfs` of ``model`` on ``ds``."""
    model.eval()
    fl, ft, vl, vt = [], [], [], []
    for batch in _loader(ds, batch_size, False, 0):
        out = model(batch)
        keep = out["mask"] & (batch["frame_labels"] >= 0)
        fl.append(out["frame_logits"][keep])
        ft.append(batch["frame_labels"][keep])
        vl.append(out["video_logits"])
        vt.append(batch["label"])
    result = {}
    for level, logits, target in (("frame", fl, ft), ("video", vl, vt)):
        logits, target = torch.cat(logits).double().numpy(), torch.cat(target).numpy()
        result[level] = bah_perfs(target, logits.argmax(1), logits=logits)
    return result


def summarise(per_participant: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, list[float]]]:
    """``{level: {metric: [mean, std]}}`` over participants (population std), for scalar metrics every participant
    has."""
    summary: dict[str, dict[str, list[float]]] = {}
    for level in ("frame", "video"):
        rows = [r[level] for r in per_participant.values()]
        keys = [k for k in rows[0] if k != "confusion" and all(k in r for r in rows)]
        summary[level] = {k: [float(np.mean([r[k] for r in rows])), float(np.std([r[k] for r in rows]))]
                          for k in keys}
    return summary


def personalise(model, source: Dataset, targets: dict[str, Dataset], methods=METHODS,
                cfg: AdaptConfig | None = None) -> dict[str, Any]:
    """Adapt ``model`` (trained on ``source``) to each target participant with each method and evaluate.

    Returns ``{method: {"participants": {id: {frame, video}}, "summary": {level: {metric: [mean, std]}}}}``.
    """
    cfg = cfg or AdaptConfig()
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ConfigError(f"unknown personalisation methods {sorted(unknown)}; known: {list(METHODS)}")
    results: dict[str, Any] = {}
    pooled_model = None
    for method in methods:
        torch.manual_seed(cfg.seed)
        per: dict[str, dict[str, Any]] = {}
        for pid, target in targets.items():
            if method == "source_only":
                adapted = model
            elif method == "uda_mmd":
                if pooled_model is None:
                    pooled_model = adapt_mmd(model, source, ConcatDataset(list(targets.values())), cfg)
                adapted = pooled_model
            elif method == "subject_uda":
                adapted = adapt_mmd(model, source, target, cfg)
            else:
                adapted = adapt_shot(model, target, cfg)
            per[pid] = evaluate(adapted, target, cfg.batch_size)
        results[method] = {"participants": per, "summary": summarise(per)}
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """``python -m zoo.personalize.bah CHECKPOINT [--root BAH_DB] [--steps N] [--out results.json]``: personalise a
    trained ``bah_ah`` checkpoint (zoo folder or Lightning ``.ckpt``) to every participant of the target split and
    print mean +/- std over participants per method."""
    import argparse
    import json

    import zoo
    from zoo.data.datasets.bah import BAHReader
    from zoo.io import write_text_atomic

    parser = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--root", default=None, help="BAH release folder (default: the embedded sample)")
    parser.add_argument("--source-split", default="train")
    parser.add_argument("--target-split", default="test")
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-frames", type=int, default=64)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    model = zoo.load(args.checkpoint)
    hp = model.hparams
    reader = BAHReader(args.root, fps=hp.fps, max_frames=args.max_frames, face_size=hp.face_size,
                       face_detector=hp.face_detector, tokenizer=hp.tokenizer if "text" in hp.modalities else None)
    cfg = AdaptConfig(steps=args.steps, lr=args.lr, batch_size=args.batch_size)
    results = personalise(model, reader.dataset(args.source_split, train=True), reader.participants(args.target_split),
                          args.methods, cfg)
    for method, result in results.items():
        line = ", ".join(f"{level} AVGF1 {s['avgf1'][0]:.4f} +/- {s['avgf1'][1]:.4f}"
                         for level, s in result["summary"].items())
        print(f"{method:12s} {line}  ({len(result['participants'])} participants)")
    if args.out:
        def plain(x):
            return x.tolist() if isinstance(x, np.ndarray) else x
        write_text_atomic(args.out, json.dumps(results, default=plain, indent=1) + "\n")
    return results


if __name__ == "__main__":
    main()

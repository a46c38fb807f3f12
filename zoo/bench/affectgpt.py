"""AffectGPT training-step throughput: live frozen encoders (decode media + encode every step) vs cached features.

Rows (CPU): the ``tiny`` preset on the embedded sample clips, and (full run only) paper-size encoders (open_clip
ViT-L-14 + HuBERT-large architecture, random weights) with the tiny LLM, where the encoders dominate. With a CUDA
device, a ``paper``-size forward/backward in bf16 (ViT-L-14, HuBERT-large, Qwen2.5-7B architecture, LoRA, random
weights) with peak memory and tokens/s; without one that row is recorded as skipped.

    zoo bench affectgpt [--quick]
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from zoo.bench import write_results
from zoo.data.collate import pad_collate
from zoo.data.datasets.mer import MERReader


def _steps(model, reader: MERReader, batch_size: int, steps: int, names_per_step=None) -> dict[str, float]:
    ds = reader.dataset("train")
    opt = model.configure_optimizers()
    model.train()
    model.hparams.hybrid_description_prob = 0.5
    times, tokens = [], 0
    for step in range(steps + 1):  # step 0 warms up and is not timed
        start = time.perf_counter()
        idx = [(step * batch_size + i) % len(ds) for i in range(batch_size)]
        batch = pad_collate([ds[i] for i in idx])
        out = model(batch)
        opt.zero_grad()
        out["lm_loss"].backward()
        opt.step()
        if step:
            times.append(time.perf_counter() - start)
            tokens += int(out["attention_mask"].sum())
    total = sum(times)
    return {"steps": steps, "batch": batch_size, "s_per_step": total / steps, "samples_per_s": steps * batch_size / total,
            "tokens_per_s": tokens / total}


def _compare(label: str, make_model, batch_size: int, steps: int, image_size: int) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        model = make_model()
        live = _steps(model, MERReader(image_size=image_size), batch_size, steps)
        rows.append({"config": label, "encoders": "live", **live})
        model.hparams.feature_cache_dir = cache
        start = time.perf_counter()
        n = model.cache_features(MERReader(image_size=image_size).dataset("train"), batch_size=batch_size)
        encode_s = time.perf_counter() - start
        model.hparams.feature_cache_dir = None
        cached = _steps(model, MERReader(image_size=image_size, feature_cache=cache), batch_size, steps)
        rows.append({"config": label, "encoders": "cached", **cached,
                     "cache_build_s": encode_s, "cache_clips": n,
                     "speedup": live["s_per_step"] / cached["s_per_step"]})
    return rows


def _paper_encoder_cost(model, repeats: int = 2) -> dict[str, Any]:
    """Seconds to encode one clip (8 x 224-px frames through ViT-L-14, 8 x 2-s clips through HuBERT-large): the
    per-sample cost that a feature cache removes from every training step."""
    sample = MERReader(image_size=224).dataset("train")[0]
    frames, audio = sample["frames"][None], sample["audio"][None]
    model.encode_media(frames, audio)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.encode_media(frames, audio)
        times.append(time.perf_counter() - start)
    return {"config": "paper encoders (ViT-L-14, HuBERT-large arch, random weights)", "encoders": "live",
            "batch": 1, "encode_s_per_clip": sum(times) / len(times)}


def _gpu_paper_row() -> dict[str, Any]:
    from zoo.registry import create

    device = torch.device("cuda")
    torch.cuda.reset_peak_memory_stats(device)
    with torch.device(device):
        model = create("affectgpt", "paper").to(device=device, dtype=torch.bfloat16)
    model.train()
    b, seq_subtitle = 2, "I really did not expect to see you here today."
    batch = {"face_features": torch.randn(b, 8, model.visual_encoder.dim, device=device),
             "audio_features": torch.randn(b, 8, model.audio_encoder.dim, device=device),
             "subtitle": [seq_subtitle] * b, "reason": ["He smiles broadly and his voice rises, so he is happy."] * b,
             "labels": [["happy", "surprised"]] * b}
    frames = torch.rand(b, 8, 3, 224, 224, device=device, dtype=torch.bfloat16)
    audio = torch.randn(b, 8, 32000, device=device, dtype=torch.bfloat16)
    opt = model.configure_optimizers()
    times, tokens = [], 0
    for step in range(4):
        torch.cuda.synchronize()
        start = time.perf_counter()
        face, aud = model.encode_media(frames, audio)
        out = model({**batch, "face_features": face, "audio_features": aud})
        opt.zero_grad()
        out["lm_loss"].backward()
        opt.step()
        torch.cuda.synchronize()
        if step:
            times.append(time.perf_counter() - start)
            tokens += int(out["attention_mask"].sum())
    return {"config": "paper (ViT-L-14 + HuBERT-large + Qwen2.5-7B arch, LoRA)", "encoders": "live", "batch": b,
            "dtype": "bf16", "s_per_step": sum(times) / len(times), "tokens_per_s": tokens / sum(times),
            "peak_mem_gib": torch.cuda.max_memory_allocated(device) / 2**30,
            "device": torch.cuda.get_device_name(0)}


def main(quick: bool = False, out_dir: Path = Path("benchmarks/results")) -> dict[str, Any]:
    from zoo.models.affectgpt import HUBERT_LARGE
    from zoo.registry import create

    torch.manual_seed(0)
    steps = 3 if quick else 8
    rows = _compare("tiny (32-px ViT, tiny HuBERT, tiny Qwen2)", lambda: create("affectgpt", "tiny", lr=1e-3),
                    batch_size=4, steps=steps, image_size=32)
    if not quick:
        rows.append(_paper_encoder_cost(create("affectgpt", "tiny", visual="ViT-L-14", vision_cfg=None,
                                               visual_dim=None, image_size=224, audio_config=HUBERT_LARGE)))
    import os

    extra: dict[str, Any] = {"load_average_1_5_15": list(os.getloadavg()),
                             "note": "shared 2-core CPU; timings include contention from other jobs"}
    if torch.cuda.is_available():
        rows.append(_gpu_paper_row())
    else:
        extra["gpu"] = "skipped: no CUDA device on this machine (the bf16 paper-size row needs a GPU)"
    write_results(out_dir, "affectgpt" + ("_quick" if quick else ""), rows, extra)
    return {"rows": rows, **extra}

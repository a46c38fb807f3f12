"""Empathic-Insight-Voice speed: fused vs one-by-one experts, and clips/s end to end with and without the cache.

1. Experts only, on random encoder states ``[B, T, D]``: the fused :class:`~zoo.nn.experts.ExpertBank` (one
   projection GEMM + grouped MLP matmuls) against the released inference loop (K separate ``FullEmbeddingMLP``
   modules called in turn; they view the bank's tensors, so both read the same weights). Time per batch is the
   median over repetitions (``speedup_best_of`` compares the fastest repetitions, less sensitive to other jobs on
   a shared CPU), at 1 and 2 threads; peak memory is measured in a fresh process per variant: the RSS watermark is
   reset after setup, and the peak during the forward passes minus the RSS before them is the memory on top of
   weights and inputs (the total peak RSS is reported too).
   Outputs are compared (max abs difference).
2. End to end on real speech (RAVDESS + TESS from ``$ZOO_DATA`` when present, else the embedded synthetic sample):
   decode -> 16 kHz -> log-mel -> Whisper encoder -> experts, timed per stage, then the same clips through the model
   with a feature cache, first cold (computes and writes states) then warm (reads them; audio is still decoded),
   after one untimed warm-up batch.
   Encoders are randomly initialised (speed does not depend on the weights).

At ``paper`` size one expert's projection is 1,152,000 x 64 floats (295 MB), so 40 experts need 11.8 GB; the paper
rows use fewer experts (``PAPER_EXPERTS``) on this 24 GB machine shared with other jobs, as the results say.

    zoo bench voice_experts [--quick]
"""
from __future__ import annotations

import multiprocessing as mp
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from zoo.bench import write_results

TINY = {"seq_len": 200, "embed_dim": 16, "projection_dim": 8, "hidden_dims": [8, 8, 4]}
PAPER = {"seq_len": 1500, "embed_dim": 768, "projection_dim": 64, "hidden_dims": [64, 32, 16]}
DROPOUTS = [0.0, 0.1, 0.1, 0.1]
PAPER_EXPERTS = 10


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _reset_peak() -> None:
    """Restart the peak-RSS watermark (Linux ``clear_refs`` 5), so setup transients do not count."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def _peak_mb() -> float:
    with open("/proc/self/status") as handle:
        line = next(line for line in handle if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def _build(size: dict, experts: int, batch: int):
    from zoo.nn.experts import ExpertBank

    torch.manual_seed(0)
    bank = ExpertBank(experts, size["seq_len"], size["embed_dim"], size["projection_dim"], size["hidden_dims"],
                      DROPOUTS).eval()
    modules = [bank.expert(k, share=True).eval() for k in range(experts)]
    states = torch.randn(batch, size["seq_len"], size["embed_dim"])
    return bank, modules, states


def _run(variant: str, bank, modules, states) -> torch.Tensor:
    if variant == "fused":
        return bank(states)
    return torch.stack([m(states) for m in modules], dim=-1)


def _measure(variant: str, size: dict, experts: int, batch: int, reps: int, threads: int, queue) -> None:
    """Child process: time ``reps`` forward passes of one variant and report its peak memory."""
    torch.set_num_threads(threads)
    bank, modules, states = _build(size, experts, batch)
    with torch.inference_mode():
        _reset_peak()
        before = _rss_mb()
        _run(variant, bank, modules, states)  # warm-up
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            _run(variant, bank, modules, states)
            times.append(time.perf_counter() - start)
    queue.put({"median_ms": 1000 * statistics.median(times), "min_ms": 1000 * min(times),
               "extra_peak_mb": _peak_mb() - before, "total_peak_mb": _peak_mb()})


def _in_child(*args) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_measure, args=(*args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def expert_rows(quick: bool) -> list[dict[str, Any]]:
    rows = []
    for name, size, experts, batch, reps in (("tiny", TINY, 40, 8, 20 if quick else 100),
                                             ("paper", PAPER, 2 if quick else PAPER_EXPERTS, 8, 3 if quick else 7)):
        bank, modules, states = _build(size, experts, batch)
        with torch.inference_mode():
            diff = float((_run("fused", bank, modules, states) - _run("loop", bank, modules, states)).abs().max())
        del bank, modules, states
        for threads in (1, 2):
            fused = _in_child("fused", size, experts, batch, reps, threads)
            loop = _in_child("loop", size, experts, batch, reps, threads)
            rows.append({"size": name, "experts": experts, "batch": batch, "threads": threads,
                         "one_by_one_ms": loop["median_ms"], "fused_ms": fused["median_ms"],
                         "speedup": loop["median_ms"] / fused["median_ms"],
                         "speedup_best_of": loop["min_ms"] / fused["min_ms"],
                         "one_by_one_extra_mb": loop["extra_peak_mb"], "fused_extra_mb": fused["extra_peak_mb"],
                         "one_by_one_peak_mb": loop["total_peak_mb"], "fused_peak_mb": fused["total_peak_mb"],
                         "max_abs_diff": diff})
    return rows


def _clips(limit: int) -> tuple[list[Path], str]:
    from zoo.data import data_root
    from zoo.data.datasets.emonet_voice import SAMPLE_ROOT

    ravdess, tess = data_root("ravdess_speech"), data_root("tess")
    if ravdess and tess:
        files = sorted(ravdess.glob("Actor_*/*.wav"))[: limit // 2] + sorted(tess.glob("*/*.wav"))[: limit - limit // 2]
        return files, "RAVDESS (48 kHz) + TESS (24.4 kHz) real speech, $ZOO_DATA"
    return sorted((SAMPLE_ROOT / "audio").glob("*.flac"))[:limit], "embedded synthetic sample (no $ZOO_DATA)"


def _timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def end_to_end_rows(quick: bool) -> tuple[list[dict[str, Any]], str]:
    import zoo
    from zoo.taxonomies import EMONET40

    rows = []
    source = ""
    for preset, experts, n in (("tiny", 40, 16 if quick else 48), ("paper", 2 if quick else PAPER_EXPERTS,
                                                                   4 if quick else 8)):
        files, source = _clips(n)
        emotions = list(EMONET40.labels[:experts])
        with tempfile.TemporaryDirectory() as cache_dir:
            torch.manual_seed(0)
            model = zoo.create("empathic_voice", preset, emotions=emotions, feature_cache=cache_dir).eval()
            stages = {"decode": 0.0, "frontend": 0.0, "encoder": 0.0, "experts": 0.0}
            cold = warm = 0.0
            with torch.inference_mode():
                model.experts(model.encoder(model.frontend.from_batch(model.load_inputs(files[:8]))))  # warm-up
                for start in range(0, len(files), 8):
                    chunk = files[start:start + 8]
                    batch, t = _timed(model.load_inputs, chunk)
                    stages["decode"] += t
                    mel, t = _timed(model.frontend.from_batch, batch)
                    stages["frontend"] += t
                    states, t = _timed(model.encoder, mel)
                    stages["encoder"] += t
                    _, t = _timed(model.experts, states)
                    stages["experts"] += t
                for start in range(0, len(files), 8):
                    chunk = files[start:start + 8]
                    _, t = _timed(lambda c: model(model.load_inputs(c)), chunk)
                    cold += t
                for start in range(0, len(files), 8):
                    chunk = files[start:start + 8]
                    _, t = _timed(lambda c: model(model.load_inputs(c)), chunk)
                    warm += t
            total = sum(stages.values())
            rows.append({"size": preset, "experts": experts, "clips": len(files), "batch": 8,
                         "no_cache_clips_per_s": len(files) / total, "cache_cold_clips_per_s": len(files) / cold,
                         "cache_warm_clips_per_s": len(files) / warm,
                         **{f"{k}_ms_per_clip": 1000 * v / len(files) for k, v in stages.items()}})
    return rows, source


def main(quick: bool = False, out_dir: Path = Path("benchmarks/results")) -> dict[str, Any]:
    experts = expert_rows(quick)
    write_results(out_dir, "voice_experts" + ("_quick" if quick else ""), experts,
                  {"note": f"experts only; paper size uses {experts[-1]['experts']} experts (40 x 295 MB do not fit "
                           "beside other jobs); times are medians, memory from a fresh process per variant",
                   "load_average": os.getloadavg()})
    e2e, source = end_to_end_rows(quick)
    write_results(out_dir, "voice_end_to_end" + ("_quick" if quick else ""), e2e,
                  {"clips": source, "note": "random-init encoders; warm cache still decodes audio",
                   "load_average": os.getloadavg()})
    return {"experts": experts, "end_to_end": e2e, "clips": source}

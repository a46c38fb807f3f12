"""Pretrained assets (zoo.weights): what converting them costs, and whether the zoo's encoders run as fast as the same
architecture built directly.

(a) Conversion time per asset: cold (an empty cache: source sha256 check + conversion + manifest), cached on the
    first use in a process (sizes + every file's sha256) and cached after that (sizes only).
(b) Encoder forward time per input, and the speed ratio direct / zoo (>= 0.95 means the zoo wrapper costs at most
    5 %): the zoo's encoder on converted weights against the reference implementation built directly with the same
    weights (Whisper: ``transformers`` ``WhisperEncoder``; MobileNetV2: ``torchvision.models.mobilenet_v2``;
    MiniLM: ``transformers`` ``BertModel`` + the same mean pooling). The two run in alternation, several rounds, and
    are compared on medians so that load from other processes hits both alike.

Assets whose converter is not in this checkout are listed with a note. Timings use one thread; the library imports
are done before the first cold conversion.

    zoo bench weights [--quick]
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from zoo.bench import write_results
from zoo.errors import ConfigError


def _conversion_rows(quick: bool) -> list[dict[str, Any]]:
    import safetensors.torch  # noqa: F401  (imported up front so the first cold conversion does not pay for it)
    import transformers.models.whisper.modeling_whisper  # noqa: F401

    from zoo import weights

    rows = []
    saved = os.environ.get("ZOO_CACHE")
    with tempfile.TemporaryDirectory(prefix="zoo-bench-weights-") as tmp:
        os.environ["ZOO_CACHE"] = tmp
        try:
            for a in weights.ASSETS.values():
                row: dict[str, Any] = {"asset": a.name, "source_MB": round(a.source_bytes / 1e6, 1)}
                weights._VERIFIED.clear()
                try:
                    start = time.perf_counter()
                    folder = weights.prepare(a.name)
                    row["cold_s"] = time.perf_counter() - start
                except ConfigError as exc:
                    rows.append({**row, "note": str(exc).split(" (")[0]})
                    continue
                weights._VERIFIED.clear()
                start = time.perf_counter()
                weights.prepare(a.name)
                row["cached_first_use_s"] = time.perf_counter() - start
                start = time.perf_counter()
                weights.prepare(a.name)
                row["cached_s"] = time.perf_counter() - start
                size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
                row["output_MB"] = round(size / 1e6, 1)
                row["note"] = "used in place (sha256 check only)" if a.in_place else ""
                rows.append(row)
        finally:
            weights._VERIFIED.clear()
            if saved is None:
                os.environ.pop("ZOO_CACHE", None)
            else:
                os.environ["ZOO_CACHE"] = saved
    return rows


def _alternate(zoo_fn: Callable[[], Any], direct_fn: Callable[[], Any], rounds: int) -> tuple[float, float]:
    """Median seconds of ``zoo_fn`` and ``direct_fn``, run in alternation after one warm-up each."""
    zoo_fn(), direct_fn()
    zoo_t, direct_t = [], []
    for _ in range(rounds):
        for fn, out in ((zoo_fn, zoo_t), (direct_fn, direct_t)):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return statistics.median(zoo_t), statistics.median(direct_t)


def _whisper(name: str, dims: dict[str, int], seconds: float, rounds: int) -> dict[str, Any]:
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    from zoo import weights
    from zoo.nn.whisper_encoder import WhisperAudioEncoder

    ours = WhisperAudioEncoder(dims, f"zoo:{name}", short_windows=seconds < 30)
    state = weights.state_dict(f"zoo:{name}")
    direct = WhisperEncoder(WhisperConfig.from_pretrained(weights.resolve(f"zoo:{name}"))).eval()
    direct.load_state_dict({k.removeprefix("model.encoder."): v for k, v in state.items()
                            if k.startswith("model.encoder.")}, strict=True)
    mel = torch.randn(1, dims["num_mel_bins"], int(seconds * 100)) * 0.5
    with torch.inference_mode():
        if seconds >= 30:
            torch.testing.assert_close(ours(mel), direct(mel).last_hidden_state, rtol=0, atol=0)
            zoo_s, direct_s = _alternate(lambda: ours(mel), lambda: direct(mel).last_hidden_state, rounds)
        else:  # transformers' encoder only takes 30 s: compare against it on the full window
            full = torch.randn(1, dims["num_mel_bins"], 3000) * 0.5
            zoo_s, direct_s = _alternate(lambda: ours(mel), lambda: direct(full).last_hidden_state, rounds)
    row = {"asset": name, "input": f"log-mel, one {seconds:g} s window", "zoo_ms_per_input": zoo_s * 1e3,
           "direct_ms_per_input": direct_s * 1e3, "direct": "transformers WhisperEncoder (30 s window)"}
    if seconds >= 30:
        row["direct_over_zoo"] = direct_s / zoo_s
    else:
        row["short_window_speedup"] = direct_s / zoo_s
    return row


def _mobilenet(rounds: int) -> dict[str, Any]:
    import torchvision

    from zoo import weights
    from zoo.nn.backbones import ImageBackbone

    ours = ImageBackbone("torchvision:mobilenet_v2", "zoo:mobilenet_v2").eval()
    direct = torchvision.models.mobilenet_v2(weights=None)
    direct.load_state_dict(weights.state_dict("zoo:mobilenet_v2"), strict=True)
    direct.classifier = torch.nn.Identity()
    direct.eval()
    batch = 16
    images = torch.randn(batch, 3, 224, 224)
    with torch.inference_mode():
        torch.testing.assert_close(ours(images), direct(images), rtol=0, atol=0)
        zoo_s, direct_s = _alternate(lambda: ours(images), lambda: direct(images), rounds)
    return {"asset": "mobilenet_v2", "input": f"224 px image (batch {batch})", "zoo_ms_per_input": zoo_s / batch * 1e3,
            "direct_ms_per_input": direct_s / batch * 1e3, "direct_over_zoo": direct_s / zoo_s,
            "direct": "torchvision mobilenet_v2"}


def _minilm(rounds: int) -> dict[str, Any]:
    from transformers import BertModel

    from zoo import weights
    from zoo.nn.text_encoder import SentenceEncoder, pool

    ours = SentenceEncoder("zoo:all_minilm_l6_v2", max_length=64).eval()
    direct = BertModel.from_pretrained(str(weights.resolve("zoo:all_minilm_l6_v2")), add_pooling_layer=False).eval()
    texts = [f"I felt {w} when the results came in, and I told my friends about it." for w in
             ("happy", "sad", "angry", "afraid", "surprised", "calm", "proud", "ashamed")] * 4
    enc = ours.tokenize(texts)

    def run_direct() -> torch.Tensor:
        hidden = direct(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
        return torch.nn.functional.normalize(pool(hidden, enc["attention_mask"]), dim=-1)

    with torch.inference_mode():
        torch.testing.assert_close(ours(enc["input_ids"], enc["attention_mask"]), run_direct(), rtol=0, atol=0)
        zoo_s, direct_s = _alternate(lambda: ours(enc["input_ids"], enc["attention_mask"]), run_direct, rounds)
    n = len(texts)
    return {"asset": "all_minilm_l6_v2", "input": f"sentence (batch {n})", "zoo_ms_per_input": zoo_s / n * 1e3,
            "direct_ms_per_input": direct_s / n * 1e3, "direct_over_zoo": direct_s / zoo_s,
            "direct": "transformers BertModel + mean pooling"}


def main(quick: bool = False, out_dir: Path = Path("benchmarks/results")) -> dict[str, Any]:
    from zoo.nn.whisper_encoder import WHISPER_BASE, WHISPER_TINY

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        conversion = _conversion_rows(quick)
        rounds = 3 if quick else 7
        speed = [_mobilenet(rounds), _minilm(rounds)]
        for name, dims in (("whisper_tiny_en", WHISPER_TINY), ("whisper_base", WHISPER_BASE)):
            speed.append(_whisper(name, dims, 30.0, max(2, rounds // 2)))
            speed.append(_whisper(name, dims, 5.0, max(2, rounds // 2)))
        write_results(out_dir, "weights_conversion", conversion)
        path = write_results(out_dir, "weights", speed, extra={"conversion": conversion, "quick": quick})
    finally:
        torch.set_num_threads(threads)
    return {"path": str(path), "conversion": conversion, "speed": speed}

"""Text affect speed: ``zoo annotate`` rows/s on 10,000 rows, and texts/s of the text model vs bare encoder + heads.

* annotation: a 10,000-row CSV (one text column of real-length sentences) through :func:`zoo.annotate.annotate_file`
  with VADER + TextBlob only, and with Ekman-7 emotion from the ``tiny`` model; with the shipped MiniLM checkpoint on
  1,000 rows (a 22M-parameter encoder on a shared CPU). Resumable writes included (fsync per 256-row chunk).
* model vs bare: the same texts through ``TextAffectModel.scores`` (what ``zoo.load`` gives back) and through the
  bare pieces called directly: the Hugging Face tokenizer + ``BertModel`` + mean pooling + L2 norm + the head MLP.
  Both use the ``paper`` architecture (MiniLM + 256-wide heads); the heads are the shipped checkpoint's when it is
  indexed. Rounds alternate (model, bare, model, bare, ...) and the best round of each is reported.

Timed with one intra-op thread (``torch.set_num_threads(1)``): on the shared 2-core machine two spinning OpenMP
threads are much slower than one.
"""
from __future__ import annotations

import csv
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

SENTENCES = [
    "Health officials confirmed three new measles cases in the county this week.",
    "I am so grateful the clinic stayed open late so my kids could get vaccinated!",
    "This is terrifying, the outbreak keeps spreading and nobody seems to care.",
    "Parents are furious about the misinformation being shared in school groups.",
    "Watch the full press conference from the state health department.",
    "Wow, I did not expect the vaccination rate to drop that fast.",
    "Honestly disgusting how some influencers profit from spreading fear.",
    "Our thoughts are with the families of the children who were hospitalised.",
]


def _write_csv(path: Path, n: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title"])
        for i in range(n):
            writer.writerow([i, f"{rng.choice(SENTENCES)} {rng.choice(SENTENCES)}"])
    return path


def _annotate_rate(n: int, emotion, tmp: Path, label: str) -> dict[str, Any]:
    from zoo.annotate import AnnotateSettings, annotate_file

    src = _write_csv(tmp / f"in_{label}_{n}.csv", n)
    settings = AnnotateSettings(["title"], emotion_model=None)
    warm = _write_csv(tmp / f"warm_{label}.csv", 32, seed=1)  # lexicon loading and first calls are not timed
    annotate_file(warm, tmp / f"warm_out_{label}.csv", settings, emotion=emotion, progress=False, log=lambda m: None)
    start = time.perf_counter()
    report = annotate_file(src, tmp / f"out_{label}_{n}.csv", settings, emotion=emotion, progress=False,
                           log=lambda msg: None)
    seconds = time.perf_counter() - start
    return {"what": f"zoo annotate, {label}", "n": report.rows_written, "seconds": seconds,
            "per_s": report.rows_written / seconds}


def _bare_pipeline(model):
    """The encoder and heads of ``model`` as bare callables (no zoo code on the hot path)."""
    tokenizer, bert = model.encoder.tokenizer, model.encoder.model
    head = model.heads["goemotions_ekman"]
    max_length = model.encoder.max_length

    @torch.inference_mode()
    def run(texts: list[str], batch_size: int) -> torch.Tensor:
        out = []
        for start in range(0, len(texts), batch_size):
            enc = tokenizer(texts[start : start + batch_size], padding=True, truncation=True, max_length=max_length,
                            return_tensors="pt")
            hidden = bert(**enc).last_hidden_state
            m = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            u = F.normalize((hidden * m).sum(1) / m.sum(1).clamp(min=1e-9), dim=-1)
            out.append(head(u).sigmoid())
        return torch.cat(out)

    return run


def main(quick: bool = False, out_dir: Path = Path("benchmarks/results")) -> dict[str, Any]:
    import zoo
    from zoo.annotate import DEFAULT_EMOTION_MODEL, zoo_emotion
    from zoo.bench import write_results
    from zoo.registry import checkpoint_index

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rows: list[dict[str, Any]] = []
        n = 1000 if quick else 10_000
        shipped = DEFAULT_EMOTION_MODEL in checkpoint_index()
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            rows.append(_annotate_rate(n, None, tmp, "VADER + TextBlob"))
            torch.manual_seed(0)
            tiny = zoo.create("text_affect", "tiny").eval()
            rows.append(_annotate_rate(n, zoo_emotion(tiny), tmp, "+ Ekman-7 from the tiny model"))
            paper = zoo.load(DEFAULT_EMOTION_MODEL) if shipped else zoo.create("text_affect", "paper").eval()
            label = "shipped MiniLM checkpoint" if shipped else "paper preset (random heads)"
            rows.append(_annotate_rate(100 if quick else 1000, zoo_emotion(paper), tmp,
                                       f"+ Ekman-7 from the {label}"))

        texts = [f"{a} {b}" for a, b in zip(SENTENCES * 64, reversed(SENTENCES * 64), strict=True)]
        texts = texts[: 64 if quick else 512]
        bare = _bare_pipeline(paper)
        bs = 64
        a, b = paper.scores(texts[:bs], "goemotions_ekman", batch_size=bs), bare(texts[:bs], bs)
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)  # the two paths compute the same thing
        best = {"model": float("inf"), "bare": float("inf")}
        for _ in range(2 if quick else 3):
            for name, fn in (("model", lambda: paper.scores(texts, "goemotions_ekman", batch_size=bs)),
                             ("bare", lambda: bare(texts, bs))):
                start = time.perf_counter()
                fn()
                best[name] = min(best[name], time.perf_counter() - start)
        rows.append({"what": f"TextAffectModel.scores ({label})", "n": len(texts), "seconds": best["model"],
                     "per_s": len(texts) / best["model"]})
        rows.append({"what": "bare tokenizer + BertModel + mean pool + head", "n": len(texts),
                     "seconds": best["bare"], "per_s": len(texts) / best["bare"]})
        name = "text_affect" + ("_quick" if quick else "")
        write_results(out_dir, name, rows, extra={"batch_size": bs, "intra_op_threads": 1,
                                                  "model_over_bare": best["model"] / best["bare"]})
        return {"rows": rows}
    finally:
        torch.set_num_threads(threads)

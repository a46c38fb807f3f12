"""EmoSet attribute classifier speed: what the zoo's wrappers cost.

(a) Inference images/s of the ``zoo.load()``-ed module (batch dict in, named outputs out) against the same timm
    backbone and head modules called directly on a tensor. Target ratio >= 0.95.
(b) Training samples/s through ``lightning.Trainer.fit`` against a plain PyTorch loop (forward, the same loss,
    backward, AdamW step) on the same model, DataLoader and batches. Target overhead <= 5 %.

The two variants of each pair are run in alternation, several rounds, and compared on medians, so that load from
other processes on the machine hits both alike. Images come from the embedded EmoSet-layout sample, decoded and
transformed once and held in memory, so neither path pays for JPEG decoding.

    zoo bench emoset [--quick]
"""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from zoo.bench import write_results

CONFIGS = {  # preset -> (image size, batch size)
    "tiny": (64, 32),
    "mobilenetv2_imagenet": (224, 16),
}


class _InMemory(Dataset):
    def __init__(self, samples: list[dict[str, Any]]):
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.samples[i]


def _samples(image_size: int, n: int) -> list[dict[str, Any]]:
    from zoo.data.datasets.emoset import EmoSetReader

    ds = EmoSetReader(image_size=image_size).dataset("train", train=False)
    keep = ("image", "emotion", "attributes.brightness", "attributes.colorfulness", "attributes.scene",
            "attributes.facial_expression", "attributes.human_action", "attributes.object",
            "attributes.object_present")
    base = [{k: v for k, v in ds[i].items() if k in keep} for i in range(len(ds))]
    return [base[i % len(base)] for i in range(n)]


def _direct_forward(model, images: torch.Tensor) -> torch.Tensor:
    """The bare timm backbone and head modules, without the LightningModule's batch/dict handling."""
    feature = model.backbone.model(images)
    embeddings = []
    for branch in model.attributes.values():
        logits = branch.classifier(branch.branch(feature))
        probs = logits.sigmoid() if branch.multi_label else logits.softmax(-1)
        emb = probs @ branch.embedding
        if branch.multi_label:
            emb = emb / probs.sum(-1, keepdim=True).clamp(min=1.0)
        embeddings.append(emb)
    return model.emotion_head(torch.cat([feature, *embeddings], dim=-1))


def _time(fn, repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def bench_inference(preset: str, rounds: int, repeats: int) -> dict[str, Any]:
    import zoo

    image_size, batch_size = CONFIGS[preset]
    torch.manual_seed(0)
    trained = zoo.create("emoset_attribute", preset=preset, image_size=image_size)
    with tempfile.TemporaryDirectory() as tmp:
        zoo.save_pretrained(trained, Path(tmp) / "ckpt")
        model = zoo.load(Path(tmp) / "ckpt")
    from zoo.data import pad_collate

    batch = pad_collate(_samples(image_size, batch_size))
    images = batch["image"]
    with torch.inference_mode():
        same = torch.allclose(model(batch)["emotion"], _direct_forward(model, images), atol=1e-5)
        for _ in range(2):  # warm-up
            model(batch)
            _direct_forward(model, images)
        zoo_t, direct_t = [], []
        for _ in range(rounds):
            zoo_t.append(_time(lambda: model(batch), repeats))
            direct_t.append(_time(lambda: _direct_forward(model, images), repeats))
    zoo_ips = batch_size / statistics.median(zoo_t)
    direct_ips = batch_size / statistics.median(direct_t)
    return {"benchmark": "inference", "preset": preset, "image_size": image_size, "batch": batch_size,
            "zoo_per_s": zoo_ips, "direct_per_s": direct_ips, "ratio": zoo_ips / direct_ips, "target": ">= 0.95",
            "same_outputs": same}


WARMUP_STEPS = 2


def _plain_loop(model, loader: DataLoader, steps: int) -> float:
    """Seconds for ``steps`` optimisation steps after ``WARMUP_STEPS`` untimed ones."""
    opt = torch.optim.AdamW(model.parameters(), lr=model.hparams.lr, weight_decay=model.hparams.weight_decay)
    model.train()
    done, start = 0, None
    while done < steps + WARMUP_STEPS:
        for batch in loader:
            if done == WARMUP_STEPS:
                start = time.perf_counter()
            loss = model.losses(model(batch), batch)["loss"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done += 1
            if done == steps + WARMUP_STEPS:
                break
    return time.perf_counter() - start


def _lightning(model, loader: DataLoader, steps: int) -> float:
    """Seconds for ``steps`` steps of ``Trainer.fit`` after ``WARMUP_STEPS`` untimed ones (Trainer set-up excluded,
    as the plain loop's set-up is; it is a one-off cost of about a second)."""
    import lightning as L

    class StepClock(L.Callback):
        start = end = None

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if trainer.global_step == WARMUP_STEPS:
                self.start = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.end = time.perf_counter()

    clock = StepClock()
    trainer = L.Trainer(max_steps=steps + WARMUP_STEPS, accelerator="cpu", devices=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0, limit_val_batches=0, callbacks=[clock])
    trainer.fit(model, train_dataloaders=loader)
    return clock.end - clock.start


def bench_training(preset: str, rounds: int, steps: int) -> dict[str, Any]:
    import zoo
    from zoo.data import pad_collate

    image_size, batch_size = CONFIGS[preset]
    data = _InMemory(_samples(image_size, batch_size * 4))
    loader = DataLoader(data, batch_size=batch_size, shuffle=False, collate_fn=pad_collate, drop_last=True)
    plain_t, lightning_t = [], []
    for _ in range(rounds):
        torch.manual_seed(0)
        plain_t.append(_plain_loop(zoo.create("emoset_attribute", preset=preset, image_size=image_size), loader,
                                   steps))
        torch.manual_seed(0)
        lightning_t.append(_lightning(zoo.create("emoset_attribute", preset=preset, image_size=image_size), loader,
                                      steps))
    plain = batch_size * steps / statistics.median(plain_t)
    light = batch_size * steps / statistics.median(lightning_t)
    return {"benchmark": "training", "preset": preset, "image_size": image_size, "batch": batch_size,
            "steps": steps, "zoo_per_s": light, "direct_per_s": plain, "ratio": light / plain,
            "overhead_pct": 100 * (plain / light - 1), "target": "overhead <= 5 %"}


def main(quick: bool = False, out_dir: Path = Path("benchmarks/results")) -> dict[str, Any]:
    presets = ["tiny"] if quick else list(CONFIGS)
    rounds, repeats, steps = (3, 3, 4) if quick else (7, 5, 12)
    rows = []
    for preset in presets:
        rows.append(bench_inference(preset, rounds, repeats))
        rows.append(bench_training(preset, rounds, steps))
    name = "emoset_quick" if quick else "emoset"
    write_results(out_dir, name, rows, extra={
        "notes": "zoo_per_s: zoo.load()-ed module (inference) or lightning.Trainer (training); direct_per_s: bare "
                 "timm backbone + heads (inference) or a plain PyTorch loop (training). Medians over alternating "
                 "rounds; images/s for inference, samples/s for training."})
    return {"rows": rows}

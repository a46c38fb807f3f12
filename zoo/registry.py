"""Model names -> LightningModule classes and their presets; the index of pretrained checkpoints.

A model is registered once with :func:`register_model`; ``create(name, preset, **overrides)`` builds it. Checkpoints
are plain data in ``checkpoints/index.json`` (see :mod:`zoo.hub`).
"""
from __future__ import annotations

import difflib
import fnmatch
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import CheckpointError, ConfigError

REPO_CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    cls: type
    presets: dict[str, dict[str, Any]]
    default_preset: str
    description: str = ""
    paper: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)


_MODELS: dict[str, ModelEntry] = {}


def register_model(
    name: str,
    *,
    presets: dict[str, dict[str, Any]],
    default_preset: str = "tiny",
    description: str = "",
    paper: str = "",
    tags: tuple[str, ...] = (),
) -> Callable[[type], type]:
    """Class decorator: register a LightningModule under ``name`` with named hyperparameter presets."""
    if default_preset not in presets:
        raise ValueError(f"{name}: default preset {default_preset!r} not in {sorted(presets)}")

    def decorate(cls: type) -> type:
        if name in _MODELS and _MODELS[name].cls is not cls:
            raise ValueError(f"model name {name!r} registered twice ({_MODELS[name].cls} and {cls})")
        cls.zoo_name = name
        _MODELS[name] = ModelEntry(name, cls, presets, default_preset, description, paper, tags)
        return cls

    return decorate


def _ensure_models_imported() -> None:
    import zoo.models  # noqa: F401  (importing registers every model)


def _unknown(kind: str, name: str, known: list[str]) -> ConfigError:
    close = difflib.get_close_matches(name, known, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(known)}"
    return ConfigError(f"unknown {kind} {name!r}{hint}")


def get_entry(name: str) -> ModelEntry:
    _ensure_models_imported()
    try:
        return _MODELS[name]
    except KeyError:
        raise _unknown("model", name, sorted(_MODELS)) from None


def model_names() -> list[str]:
    _ensure_models_imported()
    return sorted(_MODELS)


def create(name: str, preset: str | None = None, **overrides: Any):
    """Build a registered model from a preset, with keyword overrides of its hyperparameters."""
    entry = get_entry(name)
    preset = preset or entry.default_preset
    if preset not in entry.presets:
        raise _unknown(f"preset of {name}", preset, sorted(entry.presets))
    return entry.cls(**{**entry.presets[preset], **overrides})


def checkpoint_dirs() -> list[Path]:
    """Where checkpoint indexes are read from: ``$ZOO_CHECKPOINTS`` (colon-separated) then the repo's folder."""
    extra = [Path(p) for p in os.environ.get("ZOO_CHECKPOINTS", "").split(os.pathsep) if p]
    return [*extra, REPO_CHECKPOINTS]


def checkpoint_index() -> dict[str, dict[str, Any]]:
    """Every indexed checkpoint: name -> entry (with ``dir`` resolved to an absolute path)."""
    index: dict[str, dict[str, Any]] = {}
    for root in checkpoint_dirs():
        path = root / "index.json"
        if not path.is_file():
            continue
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))["checkpoints"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise CheckpointError(path, f"malformed checkpoint index ({exc})") from None
        for name, entry in entries.items():
            index.setdefault(name, {**entry, "dir": str((root / entry["dir"]).resolve())})
    return index


def list_models(pattern: str = "*", pretrained: bool = False) -> list[str]:
    """Registered model names (or, with ``pretrained=True``, checkpoint names) matching a glob pattern."""
    names = sorted(checkpoint_index()) if pretrained else model_names()
    return [n for n in names if fnmatch.fnmatch(n, pattern)]

"""Save and load zoo checkpoints.

A checkpoint is a folder, as in Hugging Face's ``save_pretrained``::

    <dir>/model.safetensors   weights; the header's metadata holds the model name and hyperparameters
    <dir>/card.json           the model card: hparams, taxonomy, preprocessing, weights sha256 + size, metrics,
                              provenance (recipe, data, commit, date) and licence

``load`` accepts an indexed checkpoint name, such a folder, a bare ``.safetensors`` file written by the zoo, or a
Lightning ``.ckpt`` (read with ``torch.load(weights_only=True)``). The sha256 in the index and in the card are
checked before anything is deserialised, so a tampered or truncated file is refused with an error naming it.
"""
from __future__ import annotations

import datetime as _dt
import json
import subprocess
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from zoo.errors import CheckpointError, ConfigError
from zoo.io import atomic_path, sha256_file, write_text_atomic
from zoo.nn.state import load_state_strict
from zoo.registry import checkpoint_index, get_entry

WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "card.json"


def _json_hparams(module: torch.nn.Module) -> dict[str, Any]:
    hparams = {k: v for k, v in dict(getattr(module, "hparams", {})).items() if not k.startswith("_")}
    try:
        json.dumps(hparams)
    except TypeError as exc:
        raise ConfigError(f"{type(module).__name__} has hyperparameters that are not JSON data: {exc}") from None
    return hparams


def git_commit(default: str = "unknown") -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).parent)
        return out.stdout.strip() or default
    except (OSError, subprocess.SubprocessError):
        return default


def save_pretrained(
    module: torch.nn.Module,
    directory: str | Path,
    *,
    name: str | None = None,
    metrics: list[dict[str, Any]] | None = None,
    provenance: dict[str, Any] | None = None,
    licence: str = "unspecified",
    notes: str = "",
) -> dict[str, Any]:
    """Write ``model.safetensors`` and ``card.json`` into ``directory`` (each atomically) and return the card."""
    zoo_name = getattr(type(module), "zoo_name", None)
    if zoo_name is None:
        raise ConfigError(f"{type(module).__name__} is not a registered zoo model")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    hparams = _json_hparams(module)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in module.state_dict().items()}
    metadata = {"zoo_model": zoo_name, "hparams": json.dumps(hparams)}
    weights = directory / WEIGHTS_NAME
    with atomic_path(weights) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    card = {
        "name": name or directory.name,
        "model": zoo_name,
        "class": f"{type(module).__module__}.{type(module).__qualname__}",
        "description": get_entry(zoo_name).description,
        "paper": get_entry(zoo_name).paper,
        "hparams": hparams,
        "parameters": sum(t.numel() for t in tensors.values()),
        "labels": list(getattr(module, "labels", []) or []),
        "preprocessing": module.preprocessing() if hasattr(module, "preprocessing") else {},
        "weights": {"file": WEIGHTS_NAME, "sha256": sha256_file(weights), "bytes": weights.stat().st_size},
        "metrics": metrics or [],
        "provenance": {"commit": git_commit(), "date": _dt.date.today().isoformat(), **(provenance or {})},
        "licence": licence,
        "notes": notes,
    }
    write_text_atomic(directory / CARD_NAME, json.dumps(card, indent=2) + "\n")
    return card


def _read_card(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CheckpointError(path, f"malformed model card ({exc.msg} at line {exc.lineno})") from None


def resolve(name_or_path: str | Path) -> tuple[Path, dict[str, Any] | None, str | None]:
    """(weights file, card or None, sha256 expected by the index or None) for a name, folder or file."""
    index = checkpoint_index()
    if isinstance(name_or_path, str) and name_or_path in index:
        entry = index[name_or_path]
        folder = Path(entry["dir"])
        card_path = folder / CARD_NAME
        if not card_path.is_file():
            raise CheckpointError(card_path, f"checkpoint {name_or_path!r} is indexed but its card is missing")
        return folder / WEIGHTS_NAME, _read_card(card_path), entry.get("sha256")
    path = Path(name_or_path)
    if path.is_dir():
        card_path = path / CARD_NAME
        card = _read_card(card_path) if card_path.is_file() else None
        return path / WEIGHTS_NAME, card, None
    if path.is_file():
        card_path = path.with_name(CARD_NAME)
        card = _read_card(card_path) if path.suffix == ".safetensors" and card_path.is_file() else None
        return path, card, None
    known = ", ".join(sorted(index)) or "none"
    raise CheckpointError(path, f"no such checkpoint name, folder or file (indexed checkpoints: {known})")


def _verify(weights: Path, card: dict[str, Any] | None, index_sha: str | None) -> None:
    if not weights.is_file():
        raise CheckpointError(weights, "weights file is missing")
    expected = [s for s in (index_sha, (card or {}).get("weights", {}).get("sha256")) if s]
    if expected:
        actual = sha256_file(weights)
        for sha in expected:
            if actual != sha:
                raise CheckpointError(
                    weights, f"sha256 mismatch: the file is {actual[:16]}..., the card/index expect {sha[:16]}... "
                             "(the file was modified, truncated or replaced)")


def _build(zoo_name: str, hparams: dict[str, Any], source: Path):
    try:
        entry = get_entry(zoo_name)
    except ConfigError as exc:
        raise CheckpointError(source, f"checkpoint is for {exc}") from None
    cls = entry.cls
    hparams = {k: v for k, v in hparams.items() if not k.startswith("_")}
    for key in getattr(cls, "pretrained_hparams", ()):  # the state dict replaces pretrained weights
        if key in hparams:
            hparams[key] = None
    try:
        return cls(**hparams)
    except TypeError as exc:
        raise CheckpointError(source, f"hyperparameters do not fit {cls.__name__}: {exc}") from None


def _load_safetensors(weights: Path, card: dict[str, Any] | None):
    try:
        with safe_open(str(weights), framework="pt", device="cpu") as handle:
            meta = handle.metadata() or {}
            state = {k: handle.get_tensor(k) for k in handle.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(weights, f"not a readable safetensors file ({exc})") from None
    zoo_name = meta.get("zoo_model") or (card or {}).get("model")
    if not zoo_name:
        raise CheckpointError(weights, "a safetensors file without zoo metadata (no 'zoo_model'); "
                                       "not a zoo checkpoint")
    hparams = json.loads(meta["hparams"]) if "hparams" in meta else (card or {}).get("hparams", {})
    module = _build(zoo_name, hparams, weights)
    load_state_strict(module, state, weights)
    return module


def _load_lightning(path: Path):
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt/foreign pickles
        raise CheckpointError(path, f"not a loadable Lightning checkpoint with weights_only=True ({exc})") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CheckpointError(path, "no 'state_dict' in the file; not a Lightning checkpoint")
    zoo_name = ckpt.get("zoo_model")
    if not zoo_name:
        raise CheckpointError(path, "Lightning checkpoint without 'zoo_model'; it was not saved by a zoo model")
    module = _build(zoo_name, dict(ckpt.get("hyper_parameters", {})), path)
    load_state_strict(module, ckpt["state_dict"], path)
    return module


def load(name_or_path: str | Path, map_location: str | torch.device = "cpu"):
    """Load a checkpoint by index name, folder, ``.safetensors`` or ``.ckpt``; returns the module in eval mode.

    The module's ``card`` attribute holds the model card when one was found.
    """
    weights, card, index_sha = resolve(name_or_path)
    if weights.suffix == ".ckpt":
        module = _load_lightning(weights)
    else:
        _verify(weights, card, index_sha)
        module = _load_safetensors(weights, card)
    module.card = card or {}
    return module.to(map_location).eval()


def add_to_index(directory: str | Path, name: str, index_root: str | Path) -> None:
    """Record a saved checkpoint folder under ``name`` in ``<index_root>/index.json`` (atomically)."""
    index_root = Path(index_root)
    directory = Path(directory)
    card = _read_card(directory / CARD_NAME)
    path = index_root / "index.json"
    data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"checkpoints": {}}
    data["checkpoints"][name] = {
        "dir": str(directory.resolve().relative_to(index_root.resolve())),
        "model": card["model"],
        "sha256": card["weights"]["sha256"],
    }
    data["checkpoints"] = dict(sorted(data["checkpoints"].items()))
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")

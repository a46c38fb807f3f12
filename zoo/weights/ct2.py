"""CTranslate2 ``model.bin`` reader (no ``ctranslate2`` dependency) and the Whisper converter to a Hugging Face folder.

The binary layout (CTranslate2 binary versions 5 and 6, little-endian), as ``ModelSpec._serialize`` writes it::

    u32 binary_version
    str spec_name                    (u16 length incl. the trailing NUL, then the bytes and a NUL)
    u32 spec_revision
    u32 num_variables
    num_variables x { str name; u8 rank; rank x u32 dim; u8 dtype; u32 num_bytes; bytes data }
    u32 num_aliases
    num_aliases x { str alias; str target }

dtype ids: 0 float32, 1 int8, 2 int16, 3 int32, 4 float16, 5 bfloat16. Variables are stored in alphabetical order;
a variable equal to an earlier one is saved as an alias (Whisper: the decoder output projection is an alias of the
decoder embeddings). Scalars (rank 0) hold layer attributes such as ``encoder/num_heads``.

Whisper's spec (``WhisperSpec``, revision 3) names: ``encoder/conv{1,2}/{weight,bias}``,
``encoder/position_encodings/encodings``, ``encoder/layer_<i>/self_attention/{layer_norm,linear_0,linear_1}``,
``encoder/layer_<i>/ffn/{layer_norm,linear_0,linear_1}``, ``encoder/layer_norm``; the decoder adds ``embeddings``,
``attention`` (cross-attention) per layer and ``projection``. Self-attention ``linear_0`` is the fused
``[q; k; v]`` projection; cross-attention ``linear_0`` is ``q`` and ``linear_1`` the fused ``[k; v]``; the last
``linear_*`` of an attention block is the output projection. Whisper's ``k_proj`` has no bias, so the fused bias
must hold zeros in its ``k`` slice (checked).
"""
from __future__ import annotations

import json
import re
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.errors import CheckpointError

SUPPORTED_VERSIONS = (5, 6)
DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: None}  # 5 = bfloat16 (raw u16)


@dataclass
class CT2Model:
    """A parsed ``model.bin``: spec name / revision, variables (name -> tensor, in file order) and aliases."""

    version: int
    spec: str
    revision: int
    variables: dict[str, torch.Tensor]
    aliases: dict[str, str]

    def get(self, name: str) -> torch.Tensor:
        """A variable by name, following an alias."""
        return self.variables[self.aliases.get(name, name)]

    def scalar(self, name: str) -> Any:
        return self.get(name).item()


class _Reader:
    def __init__(self, data: memoryview, source: Path):
        self.data, self.pos, self.source = data, 0, source

    def take(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise CheckpointError(self.source, f"truncated CTranslate2 model: needs {n} bytes at offset {self.pos}, "
                                               f"file has {len(self.data)}")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return struct.unpack("<H", self.take(2))[0]

    def u32(self) -> int:
        return struct.unpack("<I", self.take(4))[0]

    def string(self) -> str:
        n = self.u16()
        raw = bytes(self.take(n))
        if n == 0 or raw[-1] != 0:
            raise CheckpointError(self.source, f"malformed string at offset {self.pos - n} (no NUL terminator)")
        return raw[:-1].decode("utf-8")


def read_ct2(sources: list[Path] | Path) -> CT2Model:
    """Parse a CTranslate2 ``model.bin`` (several paths = one file split into parts, concatenated in order).

    Tensors are copied out of the file (float16 stays float16; bfloat16 is reinterpreted from its raw bits).
    """
    paths = [sources] if isinstance(sources, Path) else list(sources)
    data = memoryview(b"".join(p.read_bytes() for p in paths))
    r = _Reader(data, paths[0])
    version = r.u32()
    if version not in SUPPORTED_VERSIONS:
        raise CheckpointError(paths[0], f"CTranslate2 binary version {version} is not supported "
                                        f"(expected one of {SUPPORTED_VERSIONS})")
    spec, revision = r.string(), r.u32()
    variables: dict[str, torch.Tensor] = {}
    for _ in range(r.u32()):
        name = r.string()
        shape = [r.u32() for _ in range(r.u8())]
        dtype_id, nbytes = r.u8(), r.u32()
        if dtype_id not in DTYPES:
            raise CheckpointError(paths[0], f"variable {name!r}: unknown dtype id {dtype_id}")
        raw = r.take(nbytes)
        if dtype_id == 5:
            tensor = torch.frombuffer(bytearray(raw), dtype=torch.int16).view(torch.bfloat16)
        else:
            tensor = torch.from_numpy(np.frombuffer(raw, dtype=DTYPES[dtype_id]).copy())
        if tensor.numel() != int(np.prod(shape, dtype=np.int64)):
            raise CheckpointError(paths[0], f"variable {name!r}: {nbytes} bytes do not fill shape {shape}")
        variables[name] = tensor.reshape(shape)
    aliases = {}
    for _ in range(r.u32()):
        alias, target = r.string(), r.string()
        if target not in variables:
            raise CheckpointError(paths[0], f"alias {alias!r} points to unknown variable {target!r}")
        aliases[alias] = target
    if r.pos != len(data):
        raise CheckpointError(paths[0], f"{len(data) - r.pos} trailing bytes after the aliases")
    return CT2Model(version, spec, revision, variables, aliases)


# -- Whisper --------------------------------------------------------------------------------------------------------
def _whisper_dims(m: CT2Model, source: Path) -> dict[str, int]:
    def count(prefix: str) -> int:
        pattern = re.compile(rf"^{prefix}/layer_(\d+)/")
        return len({int(g.group(1)) for n in m.variables if (g := pattern.match(n))})

    if m.spec != "WhisperSpec":
        raise CheckpointError(source, f"CTranslate2 model is a {m.spec}, not a WhisperSpec")
    conv1 = m.get("encoder/conv1/weight")
    emb = m.get("decoder/embeddings/weight")
    return {
        "d_model": int(conv1.shape[0]), "num_mel_bins": int(conv1.shape[1]),
        "encoder_layers": count("encoder"), "decoder_layers": count("decoder"),
        "encoder_attention_heads": int(m.scalar("encoder/num_heads")),
        "decoder_attention_heads": int(m.scalar("decoder/num_heads")),
        "encoder_ffn_dim": int(m.get("encoder/layer_0/ffn/linear_0/weight").shape[0]),
        "decoder_ffn_dim": int(m.get("decoder/layer_0/ffn/linear_0/weight").shape[0]),
        "max_source_positions": int(m.get("encoder/position_encodings/encodings").shape[0]),
        "max_target_positions": int(m.get("decoder/position_encodings/encodings").shape[0]),
        "vocab_size": int(emb.shape[0]),
    }


def whisper_state_dict(m: CT2Model, source: Path) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    """The ``WhisperForConditionalGeneration`` state dict (float32) of a CT2 Whisper model, and its dimensions.

    Every CT2 tensor is used exactly once (layer-attribute scalars and the tied output projection aside); a
    leftover or a missing one is a :class:`CheckpointError`.
    """
    dims = _whisper_dims(m, source)
    d = dims["d_model"]
    used: set[str] = set()
    out: dict[str, torch.Tensor] = {}

    def take(name: str) -> torch.Tensor:
        if name not in m.variables and name not in m.aliases:
            raise CheckpointError(source, f"CTranslate2 Whisper model lacks {name!r}")
        used.add(m.aliases.get(name, name))
        return m.get(name).float()

    def put(key: str, tensor: torch.Tensor) -> None:
        if key in out:
            raise CheckpointError(source, f"{key} produced twice")
        out[key] = tensor.contiguous()

    def layer_norm(src: str, dst: str) -> None:
        put(f"{dst}.weight", take(f"{src}/gamma"))
        put(f"{dst}.bias", take(f"{src}/beta"))

    def linear(src: str, dst: str, bias: bool = True) -> None:
        put(f"{dst}.weight", take(f"{src}/weight"))
        if bias:
            put(f"{dst}.bias", take(f"{src}/bias"))

    def split_projections(src: str, dst: str, names: tuple[str, ...]) -> None:
        weight, bias = take(f"{src}/weight"), take(f"{src}/bias")
        if weight.shape != (len(names) * d, d) or bias.shape != (len(names) * d,):
            raise CheckpointError(source, f"{src}: fused projection has shape {tuple(weight.shape)}, expected "
                                          f"({len(names) * d}, {d})")
        for i, name in enumerate(names):
            put(f"{dst}.{name}.weight", weight[i * d:(i + 1) * d])
            part = bias[i * d:(i + 1) * d]
            if name == "k_proj":
                if torch.count_nonzero(part):
                    raise CheckpointError(source, f"{src}: the k slice of the fused bias is not zero (Whisper's "
                                                  "k_proj has no bias)")
            else:
                put(f"{dst}.{name}.bias", part)

    for side in ("encoder", "decoder"):
        hf = f"model.{side}"
        for i in range(dims[f"{side}_layers"]):
            src, dst = f"{side}/layer_{i}", f"{hf}.layers.{i}"
            layer_norm(f"{src}/self_attention/layer_norm", f"{dst}.self_attn_layer_norm")
            split_projections(f"{src}/self_attention/linear_0", f"{dst}.self_attn", ("q_proj", "k_proj", "v_proj"))
            linear(f"{src}/self_attention/linear_1", f"{dst}.self_attn.out_proj")
            if side == "decoder":
                layer_norm(f"{src}/attention/layer_norm", f"{dst}.encoder_attn_layer_norm")
                linear(f"{src}/attention/linear_0", f"{dst}.encoder_attn.q_proj")
                split_projections(f"{src}/attention/linear_1", f"{dst}.encoder_attn", ("k_proj", "v_proj"))
                linear(f"{src}/attention/linear_2", f"{dst}.encoder_attn.out_proj")
            layer_norm(f"{src}/ffn/layer_norm", f"{dst}.final_layer_norm")
            linear(f"{src}/ffn/linear_0", f"{dst}.fc1")
            linear(f"{src}/ffn/linear_1", f"{dst}.fc2")
        layer_norm(f"{side}/layer_norm", f"{hf}.layer_norm")
    for conv in ("conv1", "conv2"):
        linear(f"encoder/{conv}", f"model.encoder.{conv}")
    put("model.encoder.embed_positions.weight", take("encoder/position_encodings/encodings"))
    put("model.decoder.embed_positions.weight", take("decoder/position_encodings/encodings"))
    put("model.decoder.embed_tokens.weight", take("decoder/embeddings/weight"))
    projection = take("decoder/projection/weight")
    if not torch.equal(projection, out["model.decoder.embed_tokens.weight"]):
        raise CheckpointError(source, "decoder/projection is not tied to decoder/embeddings")
    if "decoder/projection/bias" in m.variables:
        raise CheckpointError(source, "decoder/projection has a bias; Whisper's output projection has none")
    expected_flags = {"decoder/activation": 3, "decoder/pre_norm": 1, "decoder/scale_embeddings": 0,
                      "decoder/alibi": 0}  # 3 = GELU in CTranslate2's Activation enum
    for name, value in expected_flags.items():
        if name in m.variables and m.scalar(name) != value:
            raise CheckpointError(source, f"{name} = {m.scalar(name)}; Whisper needs {value}")
    scalars = {n for n, t in m.variables.items() if t.dim() == 0}
    left = sorted(set(m.variables) - used - scalars)
    if left:
        raise CheckpointError(source, f"{len(left)} CTranslate2 variables not converted: {left[:4]}")
    return out, dims


def _tokenizer_ids(tokenizer_json: Path) -> dict[str, int]:
    vocab = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    return {t["content"]: int(t["id"]) for t in vocab.get("added_tokens", [])}


def whisper_hf_config(dims: dict[str, int], ct2_config: dict[str, Any], special: dict[str, int]) -> dict[str, Any]:
    """``config.json`` of a ``WhisperForConditionalGeneration`` from the CT2 dimensions and the package's config."""
    multilingual = dims["vocab_size"] >= 51865
    eos = special["<|endoftext|>"]
    start = special["<|startoftranscript|>"]
    return {
        "architectures": ["WhisperForConditionalGeneration"], "model_type": "whisper", **dims,
        "activation_function": "gelu", "scale_embedding": False, "tie_word_embeddings": True,
        "dropout": 0.0, "attention_dropout": 0.0, "activation_dropout": 0.0,
        "bos_token_id": eos, "eos_token_id": eos, "pad_token_id": eos, "decoder_start_token_id": start,
        "suppress_tokens": list(ct2_config.get("suppress_ids", [])),
        "begin_suppress_tokens": list(ct2_config.get("suppress_ids_begin", [])),
        "is_multilingual": multilingual, "torch_dtype": "float32",
    }


def whisper_generation_config(dims: dict[str, int], ct2_config: dict[str, Any], special: dict[str, int]
                              ) -> dict[str, Any]:
    """``generation_config.json``: the special-token ids Whisper's ``generate`` needs (language / task / timestamps)."""
    eos, start = special["<|endoftext|>"], special["<|startoftranscript|>"]
    multilingual = dims["vocab_size"] >= 51865
    langs = {tok: i for tok, i in special.items() if i in set(ct2_config.get("lang_ids", []))} if multilingual else {}
    forced = [[1, special["<|en|>"]], [2, special["<|transcribe|>"]]] if multilingual else None
    return {
        "bos_token_id": eos, "eos_token_id": eos, "pad_token_id": eos, "decoder_start_token_id": start,
        "no_timestamps_token_id": special["<|notimestamps|>"], "prev_sot_token_id": special.get("<|startofprev|>"),
        "is_multilingual": multilingual, "lang_to_id": langs,
        "task_to_id": {"transcribe": special["<|transcribe|>"], "translate": special["<|translate|>"]}
        if multilingual else {},
        "forced_decoder_ids": forced, "suppress_tokens": list(ct2_config.get("suppress_ids", [])),
        "begin_suppress_tokens": list(ct2_config.get("suppress_ids_begin", [])),
        "alignment_heads": [list(h) for h in ct2_config.get("alignment_heads", [])],
        "return_timestamps": False,
    }


PREPROCESSOR = {
    "feature_extractor_type": "WhisperFeatureExtractor", "processor_class": "WhisperProcessor",
    "feature_size": 80, "sampling_rate": 16000, "hop_length": 160, "chunk_length": 30, "n_fft": 400,
    "n_samples": 480000, "nb_max_frames": 3000, "padding_side": "right", "padding_value": 0.0,
    "return_attention_mask": False,
}
"""Whisper's log-mel front end (80 bins, 25 ms / 10 ms at 16 kHz, 30 s windows), as ``WhisperFeatureExtractor``."""


def convert_whisper(sources: list[Path], out_dir: Path) -> None:
    """CTranslate2 Whisper (``model.bin``, maybe split in parts; ``config.json`` + ``tokenizer.json`` beside the first
    part) -> a ``WhisperForConditionalGeneration`` folder: ``model.safetensors`` (float32), ``config.json``,
    ``generation_config.json``, ``preprocessor_config.json`` and the tokenizer files. The converted model is loaded
    strictly before it is written."""
    folder = sources[0].parent
    for name in ("config.json", "tokenizer.json"):
        if not (folder / name).is_file():
            raise CheckpointError(folder / name, "the Whisper package lacks this file")
    from safetensors.torch import save_file
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    model = read_ct2(sources)
    state, dims = whisper_state_dict(model, sources[0])
    ct2_config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    special = _tokenizer_ids(folder / "tokenizer.json")
    config = whisper_hf_config(dims, ct2_config, special)
    # strict check: the state dict fills a freshly built model exactly (proj_out is tied to embed_tokens)
    with torch.device("meta"):
        target = WhisperForConditionalGeneration(WhisperConfig(**config))
    expected = {k: tuple(v.shape) for k, v in target.state_dict().items() if k != "proj_out.weight"}
    got = {k: tuple(v.shape) for k, v in state.items()}
    if expected != got:
        missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
        wrong = sorted(k for k in set(expected) & set(got) if expected[k] != got[k])
        raise CheckpointError(sources[0], f"converted Whisper does not fit WhisperForConditionalGeneration: missing "
                                          f"{missing[:4]}, unexpected {extra[:4]}, wrong shape {wrong[:4]}")
    save_file(state, str(out_dir / "model.safetensors"), metadata={"format": "pt", "source": "ctranslate2"})
    (out_dir / "config.json").write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
    generation = whisper_generation_config(dims, ct2_config, special)
    (out_dir / "generation_config.json").write_text(json.dumps(generation, indent=1) + "\n", encoding="utf-8")
    (out_dir / "preprocessor_config.json").write_text(
        json.dumps({**PREPROCESSOR, "feature_size": dims["num_mel_bins"]}, indent=1) + "\n", encoding="utf-8")
    shutil.copy(folder / "tokenizer.json", out_dir / "tokenizer.json")
    tok_config = {"tokenizer_class": "WhisperTokenizer", "model_max_length": 1024, "bos_token": "<|endoftext|>",
                  "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
                  "add_prefix_space": False, "errors": "replace", "processor_class": "WhisperProcessor"}
    (out_dir / "tokenizer_config.json").write_text(json.dumps(tok_config, indent=1) + "\n", encoding="utf-8")

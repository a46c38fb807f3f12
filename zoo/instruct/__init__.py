"""Instruction-style evaluation of affect models (EmoLLMs / AEB): answer parsing, prompting harness, LoRA tuning."""

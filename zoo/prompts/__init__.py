"""Prompt transforms for instruction-following evaluation (e.g. NegativePrompt stimuli)."""

"""Text utilities shared by the dialogue and text models: subword tokenizers that travel with checkpoints."""
from zoo.text.tokenizer import SPECIAL_TOKENS, SubwordTokenizer, train_wordpiece

__all__ = ["SPECIAL_TOKENS", "SubwordTokenizer", "train_wordpiece"]

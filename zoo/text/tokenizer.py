"""A Hugging Face ``tokenizers`` subword tokenizer that travels inside a zoo checkpoint.

The tokenizer is trained on a corpus's training split (:func:`train_wordpiece`) and serialised to its JSON string
(``Tokenizer.to_str``). A model keeps that string as a hyperparameter, so ``zoo.hub.save_pretrained`` writes it into
the safetensors metadata and the card, and ``zoo.load`` rebuilds exactly the tokenizer the model was trained with:
no separate file, no network. A WordPiece vocabulary of a few thousand entries serialises to ~50-100 kB of JSON.

Normalisation is BERT's (NFD, lower case, accents stripped); pre-tokenisation splits on whitespace and punctuation;
decoding joins ``##`` continuations and re-attaches punctuation and English clitics (``i'm``, ``don't``).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from zoo.errors import ConfigError

PAD, UNK, BOS, EOS, SEP = "[PAD]", "[UNK]", "[BOS]", "[EOS]", "[SEP]"
SPECIAL_TOKENS = (PAD, UNK, BOS, EOS, SEP)
"""Fixed ids 0..4: padding, unknown, begin / end of a response, end of a dialogue turn."""
_CLITIC = re.compile(r" ' (?=(?:m|s|t|re|ve|ll|d)\b)")


def train_wordpiece(texts: Iterable[str], vocab_size: int = 4000, min_frequency: int = 2) -> str:
    """Train a lower-cased WordPiece tokenizer on ``texts``; returns its JSON string (ids 0..4 = SPECIAL_TOKENS)."""
    tok = Tokenizer(models.WordPiece(unk_token=UNK, max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=True,
                                                lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                        special_tokens=list(SPECIAL_TOKENS), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    return tok.to_str()


class SubwordTokenizer:
    """Encode turns and responses to ids and decode ids back to text, from a serialised ``tokenizers`` JSON."""

    def __init__(self, tokenizer_json: str):
        try:
            self.tokenizer = Tokenizer.from_str(tokenizer_json)
        except Exception as exc:  # tokenizers raises a bare Exception on malformed JSON
            raise ConfigError(f"tokenizer_json is not a serialised Hugging Face tokenizer ({exc})") from None
        ids = [self.tokenizer.token_to_id(t) for t in SPECIAL_TOKENS]
        if ids != list(range(len(SPECIAL_TOKENS))):
            raise ConfigError(f"tokenizer must map {list(SPECIAL_TOKENS)} to ids 0..4, it maps them to {ids}")
        self.pad_id, self.unk_id, self.bos_id, self.eos_id, self.sep_id = ids

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def decode(self, ids: Sequence[int]) -> str:
        text = self.tokenizer.decode([int(i) for i in ids if int(i) >= len(SPECIAL_TOKENS)])
        return _CLITIC.sub("'", text)

    def tokens(self, text: str) -> list[str]:
        return self.tokenizer.encode(text, add_special_tokens=False).tokens

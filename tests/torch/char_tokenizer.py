"""A character-level fast tokenizer built in memory (no files, no downloads) for training tests:
every character of a small alphabet is one base token, so texts decode back exactly."""

from __future__ import annotations

import string
from typing import Any

ALPHABET = string.ascii_lowercase + " .,\n"
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]


def char_tokenizer(alphabet: str = ALPHABET) -> Any:
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(SPECIALS + list(alphabet))}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    backend.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
    )
    tokenizer.chat_template = (
        "{% for m in messages %}<s>{{ m['role'] }}\n{{ m['content'] }}</s>{% endfor %}"
        "{% if add_generation_prompt %}<s>assistant\n{% endif %}"
    )
    return tokenizer

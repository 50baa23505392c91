"""Hostile text to ``Zip2ZipTokenizer``: a text that is not valid Unicode (a lone surrogate has
no UTF-8 encoding) is an ``InvalidArgumentError`` naming the text and the character, the same
on the native path (DeepSeek's byte-level BPE) and through a Hugging Face tokenizer (BERT's
WordPiece), instead of each tokenizer's own error (``UnicodeEncodeError``, ``TypeError``)."""

from __future__ import annotations

import pytest
from test_tokenizer import bert, deepseek, tokenizer  # noqa: F401
from zip2zip_tokenizers import InvalidArgumentError, Zip2ZipTokenizer


@pytest.mark.parametrize("surrogate", ["\ud800", "\udfff"])
def test_a_lone_surrogate_names_its_text_and_character(
    tokenizer: Zip2ZipTokenizer,  # noqa: F811
    surrogate: str,
) -> None:
    texts = ["fine text", f"ab{surrogate}c"]
    match = rf"text 1 is not valid Unicode: a lone surrogate '\\u{ord(surrogate):x}' at character 2"
    with pytest.raises(InvalidArgumentError, match=match):
        tokenizer(texts)
    with pytest.raises(InvalidArgumentError, match="text 0 is not valid Unicode"):
        tokenizer.encode_with_codebook(texts[1])
    assert tokenizer.decode(tokenizer.encode("fine text")) == tokenizer.base_tokenizer.decode(
        tokenizer.base_tokenizer.encode("fine text")
    )


def test_a_text_of_the_wrong_type_is_still_a_type_error(
    tokenizer: Zip2ZipTokenizer,  # noqa: F811
) -> None:
    with pytest.raises(TypeError):
        tokenizer(["a", None])  # type: ignore[list-item]


def test_an_empty_batch_is_an_empty_result(tokenizer: Zip2ZipTokenizer) -> None:  # noqa: F811
    batch = tokenizer([], padding=True, return_tensors="np")
    assert batch["input_ids"].shape == batch["attention_mask"].shape == (0, 0)
    assert tokenizer([])["input_ids"] == []


@pytest.mark.parametrize("pretrained", [None, 123])
def test_from_pretrained_names_what_it_was_given(pretrained: object) -> None:
    with pytest.raises(TypeError, match="a tokenizer directory or a Hugging Face tokenizer"):
        Zip2ZipTokenizer.from_pretrained(pretrained)  # type: ignore[arg-type]

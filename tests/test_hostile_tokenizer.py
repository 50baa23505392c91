"""Hostile text to ``Zip2ZipTokenizer`` and the native ``TextTokenizer``: a text that is not
valid Unicode (a lone surrogate has no UTF-8 encoding) is an ``InvalidArgumentError`` naming the
text and the character, the same on the native path (DeepSeek's byte-level BPE) and through a
Hugging Face tokenizer (BERT's WordPiece), instead of each tokenizer's own error
(``UnicodeEncodeError``, ``TypeError``)."""

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
    character = rf"'\\u{ord(surrogate):x}' in position 2"
    with pytest.raises(InvalidArgumentError, match=f"text 1 is not valid Unicode: .*{character}"):
        tokenizer(texts)
    with pytest.raises(
        InvalidArgumentError, match=f"text( 0)? is not valid Unicode: .*{character}"
    ):
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


def test_the_native_text_calls_name_a_text_that_is_not_unicode() -> None:
    import text_families
    from zip2zip_tokenizers import CompressionConfig, LZWCompressor, TextTokenizer

    text_tok = TextTokenizer(text_families.deepseek())
    codec = LZWCompressor(CompressionConfig(text_tok.vocab_size, 64, 4))
    texts = ["fine", "a\ud800b", "also fine"]
    calls = [
        lambda: text_tok.encode_batch(texts),
        lambda: codec.encode_texts(text_tok, texts),
        lambda: codec.encode_text_windows(text_tok, texts, 8),
    ]
    for call in calls:
        with pytest.raises(
            InvalidArgumentError, match=r"text 1 is not valid Unicode: .*position 1"
        ):
            call()
    with pytest.raises(InvalidArgumentError, match=r"^text is not valid Unicode"):
        text_tok.encode(texts[1])
    with pytest.raises(TypeError, match="not one str"):
        codec.encode_texts(text_tok, "one text")
    with pytest.raises(TypeError):
        text_tok.encode_batch(["fine", None])  # type: ignore[list-item]
    assert [len(row) for row in codec.encode_texts(text_tok, ["fine"])] == [1]

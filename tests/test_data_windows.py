"""Lossless windows through the binding: no base token lost or duplicated at any window edge,
over random documents, window sizes and configs (hypothesis), on random ids and on real token
ids."""

from __future__ import annotations

import numpy as np
import pytest
from data_corpus import TOKENIZER_SETTINGS, deepseek_dir, real_texts
from hypothesis import given, settings
from hypothesis import strategies as st
from zip2zip_tokenizers import (
    CompressionConfig,
    InvalidArgumentError,
    InvalidTokenError,
    LZWCompressor,
    Zip2ZipTokenizer,
)


def check_windows(
    compressor: LZWCompressor, documents: list[list[int]], window: int, suffix: list[int]
) -> None:
    ids, offsets, rows, starts, lengths = compressor.batch_encode_windows(documents, window, suffix)
    assert ids.dtype == np.int32 and offsets[0] == 0 and offsets[-1] == len(ids)
    rebuilt: list[list[int]] = [[] for _ in documents]
    for k in range(len(rows)):
        own = ids[offsets[k] : offsets[k + 1]]
        assert 1 <= len(own) <= window
        base = compressor.decode(own).tolist()
        assert len(base) == lengths[k]
        document = documents[rows[k]] + suffix
        assert starts[k] == len(rebuilt[rows[k]]), "windows must tile the document in order"
        # Each window is exactly the greedy encoding of its own base span.
        assert (
            own.tolist() == compressor.encode(document[starts[k] : starts[k] + lengths[k]]).tolist()
        )
        rebuilt[rows[k]] += base
    for document, got in zip(documents, rebuilt, strict=True):
        assert got == (document + suffix if document or suffix else [])
    assert list(rows) == sorted(rows)


@st.composite
def configs_and_documents(
    draw: st.DrawFn,
) -> tuple[CompressionConfig, list[list[int]], int, list[int]]:
    vocab = draw(st.integers(2, 12))
    config = CompressionConfig(
        vocab,
        draw(st.integers(0, 40)),
        draw(st.integers(1, 8)),
        draw(st.lists(st.integers(0, vocab - 1), max_size=2)),
    )
    lengths = draw(st.lists(st.integers(0, 400), min_size=1, max_size=5))
    documents = [draw(st.lists(st.integers(0, vocab - 1), min_size=n, max_size=n)) for n in lengths]
    window = draw(st.integers(1, 50))
    suffix = draw(st.sampled_from([[], [vocab - 1]]))
    return config, documents, window, suffix


@settings(max_examples=150, deadline=None)
@given(configs_and_documents())
def test_no_token_is_lost_or_duplicated_across_windows(
    case: tuple[CompressionConfig, list[list[int]], int, list[int]],
) -> None:
    config, documents, window, suffix = case
    check_windows(LZWCompressor(config), documents, window, suffix)


@pytest.fixture(scope="module")
def real_ids() -> tuple[Zip2ZipTokenizer, list[int]]:
    tokenizer = Zip2ZipTokenizer.from_pretrained(deepseek_dir(), **TOKENIZER_SETTINGS)
    ids = tokenizer.base_tokenizer("".join(real_texts(8)), add_special_tokens=False)["input_ids"]
    return tokenizer, ids


@settings(max_examples=40, deadline=None)
@given(
    cuts=st.lists(st.integers(0, 6000), min_size=1, max_size=4),
    window=st.integers(1, 300),
)
def test_real_token_documents_of_random_lengths(
    real_ids: tuple[Zip2ZipTokenizer, list[int]], cuts: list[int], window: int
) -> None:
    tokenizer, ids = real_ids
    documents, start = [], 0
    for cut in cuts:
        documents.append(ids[start : start + cut])
        start += cut
    eos = tokenizer.eos_token_id
    assert eos is not None
    check_windows(tokenizer.compressor, documents, window, [eos])


def test_window_arguments_are_checked() -> None:
    compressor = LZWCompressor(CompressionConfig(10, 4, 3))
    with pytest.raises(InvalidArgumentError, match="window: must be at least 1"):
        compressor.batch_encode_windows([[1, 2]], 0)
    with pytest.raises(InvalidTokenError, match="position 1"):
        compressor.batch_encode_windows([[1, 10]], 4)
    with pytest.raises(InvalidTokenError, match="suffix id -1"):
        compressor.batch_encode_windows([[1]], 4, [-1])
    with pytest.raises(InvalidTokenError, match="row 1"):
        compressor.batch_encode_windows([[1], [2, 3, 11]], 4)
    with pytest.raises(TypeError):
        compressor.batch_encode_windows("abc", 4)  # type: ignore[arg-type]

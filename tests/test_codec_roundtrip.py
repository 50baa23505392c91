"""Round trips and consistency properties of the codec's Python API."""

from __future__ import annotations

import json
import os
import random
import sys
from typing import Any

import numpy as np
import pytest
import zip2zip_tokenizers as z2z
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import (
    Params,
    as_list,
    big_batch,
    chunked,
    params,
    params_and_ids,
    random_segmentation,
    strip_fill,
    token_ids,
)
from zip2zip_tokenizers import (
    BatchCodebookState,
    Codebook,
    CodebookState,
    CompressionConfig,
    LZWCompressor,
)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_well_formed(p: Params, codebook: Codebook) -> None:
    """Structural invariants of any codebook the codec builds."""
    entries = codebook.to_dict()
    assert list(entries) == list(range(p.vocab, p.vocab + len(entries)))
    assert len(entries) <= p.codebook
    seen: set[tuple[int, ...]] = set()
    for tokens in entries.values():
        assert 2 <= len(tokens) <= p.subtokens
        assert all(0 <= t < p.vocab and not p.is_disabled(t) for t in tokens)
        key = tuple(tokens)
        assert key not in seen
        # Every entry extends a base token or an earlier entry by one token (a trie).
        assert len(key) == 2 or key[:-1] in seen
        seen.add(key)


# --------------------------------------------------------------------------------------------
# encode / decode


@FAST
@given(params_and_ids())
def test_decode_inverts_encode(case: tuple[Params, list[int]]) -> None:
    p, ids = case
    compressor = p.compressor()
    encoded, codebook = compressor.encode_with_codebook(ids)
    assert encoded.dtype == np.int64 and encoded.ndim == 1
    assert as_list(compressor.encode(ids)) == as_list(encoded)
    assert len(encoded) <= len(ids)
    assert all(0 <= x < p.vocab + len(codebook) for x in encoded)
    assert_well_formed(p, codebook)
    # Disabled ids come out alone and unchanged, in order.
    assert [x for x in as_list(encoded) if x < p.vocab and p.is_disabled(x)] == [
        x for x in ids if p.is_disabled(x)
    ]
    decoded, decoded_codebook = compressor.decode_with_codebook(encoded)
    assert as_list(decoded) == ids
    assert as_list(compressor.decode(encoded)) == ids
    assert decoded_codebook == codebook
    assert decoded_codebook.to_dict() == codebook.to_dict()


@SLOW
@given(params_and_ids(max_size=120), st.randoms(use_true_random=False))
def test_valid_non_canonical_streams_decode_like_reencoding(
    case: tuple[Params, list[int]], rnd: random.Random
) -> None:
    p, ids = case
    config = p.config()
    compressor = LZWCompressor(config)
    stream = random_segmentation(config, ids, rnd)
    decoded, codebook = compressor.decode_with_codebook(stream)
    assert as_list(decoded) == ids
    _, reencoded = compressor.encode_with_codebook(ids)
    assert codebook == reencoded
    assert codebook.to_dict() == reencoded.to_dict()
    # The streaming state fed the same stream agrees.
    state = CodebookState(config)
    state.update(stream)
    assert state.codebook == reencoded
    [(batch_decoded, batch_codebook)] = compressor.batch_decode_with_codebook([stream])
    assert as_list(batch_decoded) == ids and batch_codebook == reencoded


def test_random_segmentation_is_really_non_canonical() -> None:
    """The generator above must produce non-canonical streams that use hypertokens, including
    the about-to-be-created one (KwKwK), or the property test would prove little."""
    p = Params(3, 100, 6, (2,))
    config = p.config()
    compressor = LZWCompressor(config)
    rng = np.random.default_rng(0)
    non_canonical = kwkwk = 0
    for seed in range(40):
        ids = [int(x) for x in rng.integers(0, 3, size=60)]
        stream = random_segmentation(config, ids, random.Random(seed))
        non_canonical += stream != as_list(compressor.encode(ids))
        state = CodebookState(config)
        for x in stream:
            kwkwk += x == p.vocab + len(state)
            state.update([x])
        assert as_list(compressor.decode(stream)) == ids
    assert non_canonical >= 30
    assert kwkwk >= 5


@pytest.mark.parametrize(
    ("p", "stream", "base"),
    [
        # Hand-made valid streams (docs/codec.md: KwKwK is valid when it would be created).
        (Params(10, 8, 4, (9,)), [1, 10], [1, 1, 1]),
        (Params(10, 8, 4, (9,)), [1, 1, 1, 1], [1, 1, 1, 1]),
        (Params(10, 8, 4, (9,)), [1, 1, 10], [1, 1, 1, 1]),
        (Params(10, 8, 4, (9,)), [2, 1, 11], [2, 1, 1, 1]),
        (Params(10, 8, 4, (9,)), [2, 1, 11, 11, 10], [2, 1, 1, 1, 1, 1, 2, 1]),
        (Params(10, 8, 2), [1, 2, 11], [1, 2, 2, 2]),
        (Params(10, 8, 4, (9,)), [1, 10, 9, 1, 10, 11], [1, 1, 1, 9, 1, 1, 1, 1, 1, 1]),
    ],
)
def test_hand_made_streams(p: Params, stream: list[int], base: list[int]) -> None:
    compressor = p.compressor()
    decoded, codebook = compressor.decode_with_codebook(stream)
    assert as_list(decoded) == base
    assert codebook == compressor.encode_with_codebook(base)[1]


# --------------------------------------------------------------------------------------------
# streaming states


@st.composite
def streaming_case(draw: st.DrawFn) -> tuple[Params, list[int], list[int], str, list[int]]:
    p, ids = draw(params_and_ids(max_size=200))
    sizes = draw(st.lists(st.integers(0, 8), min_size=1, max_size=20))
    source = draw(st.sampled_from(["encoded", "base", "segmented"]))
    if source == "encoded":
        stream = as_list(p.compressor().encode(ids))
    elif source == "base":
        stream = ids
    else:
        stream = random_segmentation(p.config(), ids[:100], draw(st.randoms(use_true_random=False)))
        ids = ids[:100]
    return p, ids, stream, source, sizes


@SLOW
@given(streaming_case())
def test_state_reports_exactly_the_final_codebook(case: Any) -> None:
    p, ids, stream, _source, sizes = case
    config = p.config()
    compressor = LZWCompressor(config)
    _, final = compressor.encode_with_codebook(ids)
    state = CodebookState(config)
    assert state.config == config
    reported: list[int] = []
    rows: list[np.ndarray] = []
    fed: list[int] = []
    for chunk in chunked(stream, sizes):
        hyper_ids, subtokens = state.update(np.asarray(chunk, dtype=np.int64))
        assert hyper_ids.dtype == np.int64 and subtokens.dtype == np.int64
        assert hyper_ids.shape == (len(subtokens),)
        assert subtokens.shape == (len(hyper_ids), p.subtokens)
        reported.extend(as_list(hyper_ids))
        rows.extend(subtokens)
        fed.extend(chunk)
        # The codebook after any prefix is a pure function of the base-token prefix.
        base_prefix = compressor.decode(fed)
        encoded_prefix, prefix_codebook = compressor.encode_with_codebook(base_prefix)
        assert state.codebook == prefix_codebook
        assert len(state) == len(prefix_codebook)
        pending = state.pending_id
        if pending is not None:
            assert pending == encoded_prefix[-1]
            assert len(prefix_codebook.subtokens(pending)) < p.subtokens
        elif len(base_prefix):
            last = int(encoded_prefix[-1])
            assert p.is_disabled(last) or len(prefix_codebook.subtokens(last)) == p.subtokens
    assert reported == list(range(p.vocab, p.vocab + len(final)))
    expected_rows = final.to_array()
    assert np.array_equal(np.array(rows, dtype=np.int64).reshape(-1, p.subtokens), expected_rows)
    assert state.codebook == final
    state.reset()
    assert len(state) == 0 and state.pending_id is None
    assert state.codebook == CodebookState(config).codebook
    hyper_ids, _ = state.update(stream)
    assert as_list(hyper_ids) == reported


@st.composite
def batch_case(draw: st.DrawFn) -> Any:
    p = draw(params(max_codebook=60, max_subtokens=6))
    batch_size = draw(st.integers(1, 5))
    streams = []
    for _ in range(batch_size):
        ids = draw(token_ids(p.vocab, max_size=60))
        streams.append(as_list(p.compressor().encode(ids)))
    steps = draw(st.integers(1, 4))
    as_array = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    return p, streams, steps, as_array, seed


@SLOW
@given(batch_case())
def test_batch_state_equals_per_row_states(case: Any) -> None:
    p, streams, steps, as_array, seed = case
    config = p.config()
    rng = np.random.default_rng(seed)
    batch = BatchCodebookState(config, len(streams))
    assert batch.batch_size == len(batch) == len(streams)
    assert batch.config == config
    singles = [CodebookState(config) for _ in streams]
    cuts = [sorted(rng.integers(0, len(s) + 1, size=steps - 1).tolist()) for s in streams]
    garbage = p.total + 7  # never a valid id: it must be skipped, not read
    for step in range(steps):
        chunks = []
        for stream, cut in zip(streams, cuts, strict=True):
            bounds = [0, *cut, len(stream)]
            chunks.append(stream[bounds[step] : bounds[step + 1]])
        if as_array:
            width = max(len(c) for c in chunks) + int(rng.integers(0, 3))
            ids = np.full((len(chunks), width), garbage, dtype=np.int64)
            mask = np.zeros((len(chunks), width), dtype=np.int64)
            for row, chunk in enumerate(chunks):
                keep = np.sort(rng.choice(width, size=len(chunk), replace=False))
                ids[row, keep] = chunk
                mask[row, keep] = 1
            got = batch.update(ids, attention_mask=mask)
        else:
            got = batch.update(chunks)
        expected_rows, expected_ids, expected_sub = [], [], []
        for row, (state, chunk) in enumerate(zip(singles, chunks, strict=True)):
            hyper_ids, subtokens = state.update(chunk)
            expected_rows += [row] * len(hyper_ids)
            expected_ids += as_list(hyper_ids)
            expected_sub.extend(subtokens)
        row_ids, hyper_ids, subtokens = got
        assert row_ids.dtype == hyper_ids.dtype == subtokens.dtype == np.int64
        assert as_list(row_ids) == expected_rows
        assert as_list(hyper_ids) == expected_ids
        assert subtokens.shape == (len(expected_ids), p.subtokens)
        assert np.array_equal(
            subtokens, np.array(expected_sub, dtype=np.int64).reshape(-1, p.subtokens)
        )
        for row, state in enumerate(singles):
            assert batch.codebook(row) == state.codebook
    batch.reset()
    assert all(len(batch.codebook(row)) == 0 for row in range(len(streams)))


def test_batch_state_parallel_update_matches_rows(restore_parallelism: None) -> None:
    p = Params(50, 300, 6, (7,), 0)
    config = p.config()
    rng = np.random.default_rng(1)
    compressor = p.compressor()
    streams = [as_list(x) for x in compressor.batch_encode(big_batch(rng, p.vocab, rows=64))]
    for enabled in [None, False, True]:
        z2z.set_parallelism(enabled)
        batch = BatchCodebookState(config, len(streams))
        singles = [CodebookState(config) for _ in streams]
        for half in range(2):
            chunks = [s[half * len(s) // 2 : (half + 1) * len(s) // 2] for s in streams]
            assert sum(map(len, chunks)) > 4096  # enough work for the thread pool
            row_ids, hyper_ids, subtokens = batch.update(chunks)
            expected = [state.update(chunk) for state, chunk in zip(singles, chunks, strict=True)]
            assert as_list(hyper_ids) == [x for h, _ in expected for x in as_list(h)]
            assert as_list(row_ids) == [r for r, (h, _) in enumerate(expected) for _ in h]
            assert np.array_equal(subtokens, np.concatenate([s for _, s in expected]))
        for row, state in enumerate(singles):
            assert batch.codebook(row) == state.codebook


# --------------------------------------------------------------------------------------------
# batches


BATCH_PARAMS = [
    Params(30, 256, 4),
    Params(50, 300, 6, (7,), 0),
    Params(8, 40, 16, (0, 1)),
    Params(20, 0, 4),
    Params(20, 1000, 1),
]


def check_batches(compressor: LZWCompressor, batch: list[list[int]]) -> None:
    encoded = [compressor.encode_with_codebook(ids) for ids in batch]
    out = compressor.batch_encode(batch)
    assert [x.dtype for x in out] == [np.dtype(np.int64)] * len(batch)
    assert [as_list(x) for x in out] == [as_list(e) for e, _ in encoded]
    with_cb = compressor.batch_encode_with_codebook(batch)
    assert [as_list(x) for x, _ in with_cb] == [as_list(e) for e, _ in encoded]
    assert [cb for _, cb in with_cb] == [cb for _, cb in encoded]
    streams = [e for e, _ in encoded]
    decoded = compressor.batch_decode(streams)
    assert [as_list(x) for x in decoded] == [list(ids) for ids in batch]
    decoded_cb = compressor.batch_decode_with_codebook([as_list(s) for s in streams])
    assert [cb for _, cb in decoded_cb] == [cb for _, cb in encoded]
    assert [as_list(x) for x, _ in decoded_cb] == [list(ids) for ids in batch]


@pytest.mark.parametrize("parallel", [None, False, True])
@pytest.mark.parametrize("p", BATCH_PARAMS)
def test_batches_equal_single_calls(
    p: Params, parallel: bool | None, restore_parallelism: None
) -> None:
    z2z.set_parallelism(parallel)
    if parallel is not None:
        assert z2z.parallelism_enabled() is parallel
    compressor = p.compressor()
    rng = np.random.default_rng(p.vocab)
    batch = big_batch(rng, p.vocab)
    assert sum(map(len, batch)) > 4096
    check_batches(compressor, batch)
    # Equal-length rows as 2-D arrays, in several dtypes and layouts.
    width = min(map(len, batch))
    square = [row[:width] for row in batch]
    expected = [as_list(x) for x in compressor.batch_encode(square)]
    for array in [
        np.array(square, dtype=np.int64),
        np.array(square, dtype=np.int32),
        np.array(square, dtype=np.uint32),
        np.array(square, dtype=np.uint16),
        np.asfortranarray(np.array(square, dtype=np.int64)),
        np.repeat(np.array(square, dtype=np.int64), 2, axis=1)[:, ::2],
    ]:
        assert [as_list(x) for x in compressor.batch_encode(array)] == expected
        streams = compressor.batch_encode(array)
        assert [as_list(x) for x in compressor.batch_decode(streams)] == square
    # Rows of a 2-D array of equal-length encodings decode like single calls.
    uniform = [s[: min(map(len, expected))] for s in expected]
    assert [as_list(x) for x in compressor.batch_decode(np.array(uniform, dtype=np.int64))] == [
        as_list(compressor.decode(s)) for s in uniform
    ]


def test_parallelism_switch(restore_parallelism: None) -> None:
    assert z2z.num_threads() >= 1
    z2z.set_parallelism(True)
    compressor = Params(30, 256, 4).compressor()
    compressor.batch_encode(big_batch(np.random.default_rng(3), 30))
    if sys.platform.startswith("linux") and z2z.num_threads() > 1:
        # The pool's workers exist once a large batch ran.
        names = set()
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/comm") as handle:
                names.add(handle.read().strip())
        assert any(name.startswith("zip2zip-") for name in names), names
    z2z.set_parallelism(False)
    assert z2z.parallelism_enabled() is False
    z2z.set_parallelism(True)
    assert z2z.parallelism_enabled() is True
    z2z.set_parallelism(None)
    assert isinstance(z2z.parallelism_enabled(), bool)


@SLOW
@given(
    params(max_codebook=60, max_subtokens=6).flatmap(
        lambda p: st.tuples(st.just(p), st.lists(token_ids(p.vocab, max_size=80), max_size=8))
    ),
    st.randoms(use_true_random=False),
)
def test_small_batches_equal_single_calls(
    case: tuple[Params, list[list[int]]], rnd: random.Random
) -> None:
    p, batch = case
    compressor = p.compressor()
    check_batches(compressor, batch)
    streams = [random_segmentation(p.config(), ids, rnd) for ids in batch]
    decoded = compressor.batch_decode_with_codebook(streams)
    assert [as_list(x) for x, _ in decoded] == batch
    assert [cb for _, cb in decoded] == [compressor.encode_with_codebook(ids)[1] for ids in batch]


# --------------------------------------------------------------------------------------------
# input types


INT_DTYPES = [np.int64, np.int32, np.uint32, np.uint16, np.int16, np.uint64]


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_integer_dtypes_all_work(dtype: Any) -> None:
    p = Params(100, 64, 5, (3,), 4)
    compressor = p.compressor()
    rng = np.random.default_rng(2)
    ids = [int(x) for x in rng.integers(0, 100, size=500) % 20]
    expected, expected_cb = compressor.encode_with_codebook(ids)
    stream = as_list(expected)
    assert as_list(compressor.encode(tuple(ids))) == stream
    array = np.array(ids, dtype=dtype)
    before = array.copy()
    out, cb = compressor.encode_with_codebook(array)
    assert out.dtype == np.int64 and as_list(out) == stream and cb == expected_cb
    assert np.array_equal(array, before)  # the input is not touched
    # Non-contiguous and read-only views.
    doubled = np.repeat(array, 2)[::2]
    assert not doubled.flags.c_contiguous
    assert as_list(compressor.encode(doubled)) == stream
    frozen = array.copy()
    frozen.flags.writeable = False
    assert as_list(compressor.encode(frozen)) == stream
    stream_array = np.array(stream, dtype=dtype)
    assert as_list(compressor.decode(stream_array)) == ids
    assert as_list(compressor.decode(np.repeat(stream_array, 2)[::2])) == ids
    state = CodebookState(p.config())
    state.update(stream_array)
    assert state.codebook == expected_cb


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
def test_narrow_dtypes_encode(dtype: Any) -> None:
    compressor = Params(100, 64, 5).compressor()
    ids = [1, 2, 3, 1, 2, 3, 1, 2, 3, 99]
    assert as_list(compressor.encode(np.array(ids, dtype=dtype))) == as_list(compressor.encode(ids))


def test_outputs_are_fresh_int64_arrays() -> None:
    compressor = Params(10, 8, 4).compressor()
    ids = np.array([1, 1, 1, 2, 1, 2], dtype=np.int64)
    out = compressor.encode(ids)
    assert isinstance(out, np.ndarray) and out.dtype == np.int64 and out.ndim == 1
    assert out.flags.writeable and out.flags.c_contiguous
    assert not np.shares_memory(out, ids)
    out[:] = 0  # writing to the output does not affect later calls
    assert as_list(compressor.encode(ids)) != [0] * len(out)
    same = np.array([1, 2, 3], dtype=np.int64)
    assert not np.shares_memory(compressor.decode(same), same)


# --------------------------------------------------------------------------------------------
# Codebook API


@FAST
@given(params_and_ids(max_size=200), st.integers(-(2**40), 2**40))
def test_codebook_api(case: tuple[Params, list[int]], fill: int) -> None:
    p, ids = case
    _, codebook = p.compressor().encode_with_codebook(ids)
    entries = codebook.to_dict()
    assert len(codebook) == len(entries)
    assert codebook.initial_vocab_size == p.vocab
    assert codebook.max_codebook_size == p.codebook
    assert codebook.max_subtokens == p.subtokens
    for token in range(p.vocab):
        assert token in codebook
        assert codebook.subtokens(token) == [token]
    for hyper, tokens in entries.items():
        assert hyper in codebook
        assert codebook.subtokens(hyper) == tokens
    assert (p.vocab + len(codebook)) not in codebook
    assert -1 not in codebook
    assert p.total not in codebook
    array = codebook.to_array()
    assert array.dtype == np.int64 and array.shape == (len(codebook), p.subtokens)
    filled = codebook.to_array(fill=fill)
    assert filled.shape == array.shape
    for row, plain, tokens in zip(filled, array, entries.values(), strict=True):
        assert as_list(row[: len(tokens)]) == tokens == strip_fill(plain)
        assert (row[len(tokens) :] == fill).all()
        assert (plain[len(tokens) :] == -1).all()
    rebuilt = Codebook.from_entries(p.vocab, p.codebook, p.subtokens, list(entries.values()))
    assert rebuilt == codebook
    assert rebuilt.to_dict() == entries
    bigger = Codebook.from_entries(p.vocab, p.codebook + 1, p.subtokens, list(entries.values()))
    assert bigger != codebook and bigger.to_dict() == entries
    if entries:
        shorter = Codebook.from_entries(
            p.vocab, p.codebook, p.subtokens, list(entries.values())[:-1]
        )
        assert shorter != codebook
    assert codebook != "not a codebook"
    assert codebook != Codebook.from_entries(p.vocab + 1, p.codebook, p.subtokens, [])


def test_codebook_from_entries_builds_working_states() -> None:
    p = Params(10, 8, 4)
    codebook = Codebook.from_entries(10, 8, 4, [[1, 2], [1, 2, 3], [3, 3]])
    assert codebook.to_dict() == {10: [1, 2], 11: [1, 2, 3], 12: [3, 3]}
    assert codebook.subtokens(11) == [1, 2, 3]
    state = CodebookState._from_parts(p.config(), codebook, None)
    assert state.codebook == codebook and state.pending_id is None
    resumed = CodebookState._from_parts(p.config(), codebook, 11)
    hyper_ids, subtokens = resumed.update([3])
    assert as_list(hyper_ids) == [13]
    assert strip_fill(subtokens[0]) == [1, 2, 3, 3]


# --------------------------------------------------------------------------------------------
# CompressionConfig


@FAST
@given(params())
def test_config_round_trips(p: Params) -> None:
    config = p.config()
    assert config.initial_vocab_size == p.vocab
    assert config.max_codebook_size == p.codebook
    assert config.max_subtokens == p.subtokens
    assert config.disabled_ids == sorted(set(p.disabled))
    assert config.pad_token_id == p.pad
    assert config.total_vocab_size == p.total
    for token in range(p.vocab):
        assert config.is_disabled(token) == p.is_disabled(token)
    assert not config.is_disabled(-1)
    assert not config.is_disabled(p.vocab)
    data = config.to_dict()
    assert data == {
        "initial_vocab_size": p.vocab,
        "max_codebook_size": p.codebook,
        "max_subtokens": p.subtokens,
        "disabled_ids": sorted(set(p.disabled)),
        "pad_token_id": p.pad,
    }
    assert json.loads(config.to_json()) == data
    for copy in [
        CompressionConfig.from_dict(data),
        CompressionConfig.from_json(config.to_json()),
        CompressionConfig(**data),
        CompressionConfig(p.vocab, p.codebook, p.subtokens, list(reversed(p.disabled)) * 2, p.pad),
    ]:
        assert copy == config
        assert hash(copy) == hash(config)
        assert {copy: 1}[config] == 1
    optional = {k: v for k, v in data.items() if k not in ("disabled_ids", "pad_token_id")}
    bare = CompressionConfig.from_dict(optional)
    assert bare == CompressionConfig(p.vocab, p.codebook, p.subtokens)
    assert bare.disabled_ids == [] and bare.pad_token_id is None
    assert (bare == config) == (not p.disabled and p.pad is None)


def test_config_inequality() -> None:
    base = CompressionConfig(10, 8, 4, [1, 2], 3)
    assert base == CompressionConfig(10, 8, 4, [2, 1, 2], 3)
    others = [
        CompressionConfig(11, 8, 4, [1, 2], 3),
        CompressionConfig(10, 9, 4, [1, 2], 3),
        CompressionConfig(10, 8, 5, [1, 2], 3),
        CompressionConfig(10, 8, 4, [1], 3),
        CompressionConfig(10, 8, 4, [1, 2], 4),
        CompressionConfig(10, 8, 4, [1, 2]),
        # The pad is kept apart from the disabled ids, so these differ even though the same
        # ids are disabled.
        CompressionConfig(10, 8, 4, [1, 2, 3]),
    ]
    for other in others:
        assert other != base
    assert len({base, *others}) == len(others) + 1
    assert base != "config"
    assert CompressionConfig(10, 8, 4, [1, 2, 3]).is_disabled(3)
    assert base.is_disabled(3) and 3 not in base.disabled_ids


def test_config_is_shared_by_its_users() -> None:
    config = CompressionConfig(10, 8, 4, [9], 0)
    assert LZWCompressor(config).config == config
    assert CodebookState(config).config == config
    assert BatchCodebookState(config, 3).config == config
    assert "initial_vocab_size=10" in repr(config)


def test_batches_of_views_into_shared_arrays_read_the_right_memory() -> None:
    """Rows that are views of one base (windows of a document, matrix rows, overlapping,
    strided or reversed slices) are read through their base; each must see its own ids."""
    config = CompressionConfig(50, 64, 4, disabled_ids=[0])
    compressor = LZWCompressor(config)
    document = (np.arange(5000, dtype=np.int64) * 7919) % 50
    matrix = document[:4000].reshape(40, 100)
    rows = [
        document[10:1034],
        document[500:600],
        document[0:0],
        document[4999:],
        document[::2],
        document[::-1][:300],
        matrix[3],
        matrix[:, 5],
        matrix[39],
        np.asarray(document[100:200].tolist(), dtype=np.int64),
        document.astype(np.uint32)[7:77],
    ]
    expected = [compressor.encode(np.ascontiguousarray(row).tolist()) for row in rows]
    for got, want in zip(compressor.batch_encode(rows), expected, strict=True):
        assert got.tolist() == want.tolist()
    decoded = compressor.batch_decode([np.asarray(e) for e in expected])
    for got, row in zip(decoded, rows, strict=True):
        assert got.tolist() == np.asarray(row).tolist()


def test_masked_out_positions_are_skipped_not_read() -> None:
    """Left padding may hold anything (-100, say): masked positions never reach the codec."""
    config = CompressionConfig(10, 8, 3, disabled_ids=[9])
    padded = BatchCodebookState(config, 2)
    plain = BatchCodebookState(config, 2)
    ids = np.array([[-100, -100, 1, 2, 1, 2], [1, 2, 3, 1, 2, 3]])
    mask = np.array([[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]])
    got = padded.update(ids, attention_mask=mask)
    want = plain.update([[1, 2, 1, 2], [1, 2, 3, 1, 2, 3]])
    for a, b in zip(got, want, strict=True):
        assert a.tolist() == b.tolist()
    with pytest.raises(z2z.InvalidTokenError):
        BatchCodebookState(config, 2).update(ids)

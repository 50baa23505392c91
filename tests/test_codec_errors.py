"""Bad input raises the precise exception type, names the offending position, and changes
nothing."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import Params, as_list, big_batch, params, params_and_ids, strip_fill
from zip2zip_tokenizers import (
    BatchCodebookState,
    Codebook,
    CodebookState,
    CompressionConfig,
    InvalidArgumentError,
    InvalidCodebookError,
    InvalidConfigError,
    InvalidTokenError,
    Zip2ZipError,
)

SLOW = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

P = Params(10, 8, 4, (9,))  # V = 10, C = 8, M = 4, 9 disabled: hypertokens are 10..17


def test_exception_hierarchy() -> None:
    assert issubclass(Zip2ZipError, ValueError)
    assert issubclass(InvalidTokenError, Zip2ZipError)
    assert issubclass(InvalidConfigError, Zip2ZipError)
    assert not issubclass(InvalidTokenError, InvalidConfigError)
    assert not issubclass(InvalidConfigError, InvalidTokenError)


def state_snapshot(state: CodebookState) -> tuple[Codebook, int | None, int]:
    return state.codebook, state.pending_id, len(state)


# --------------------------------------------------------------------------------------------
# wrong types


BAD_IDS = [
    pytest.param("abc", id="str"),
    pytest.param(b"ab", id="bytes"),
    pytest.param([1.0, 2.0], id="float-list"),
    pytest.param([1, 2.5], id="mixed-list"),
    pytest.param(np.array([1.0, 2.0]), id="float-array"),
    pytest.param(np.array([], dtype=np.float64), id="empty-float-array"),
    pytest.param(np.array([True, False]), id="bool-array"),
    pytest.param(np.zeros((2, 2), dtype=np.int64), id="2d-array"),
    pytest.param(np.zeros((1, 3), dtype=np.uint32), id="2d-u32-array"),
    pytest.param(None, id="None"),
    pytest.param(3, id="int"),
    pytest.param([[1]], id="nested-list"),
    pytest.param(["a"], id="str-list"),
    pytest.param([None], id="None-list"),
    pytest.param(object(), id="object"),
]

ONE_SEQUENCE_METHODS = ["encode", "decode", "encode_with_codebook", "decode_with_codebook"]


@pytest.mark.parametrize("bad", BAD_IDS)
@pytest.mark.parametrize("method", ONE_SEQUENCE_METHODS)
def test_wrong_types_raise_type_error(method: str, bad: Any) -> None:
    compressor = P.compressor()
    with pytest.raises(TypeError):
        getattr(compressor, method)(bad)


@pytest.mark.parametrize("bad", BAD_IDS)
def test_wrong_types_leave_state_unchanged(bad: Any) -> None:
    state = CodebookState(P.config())
    state.update([1, 2, 1, 2, 3, 1])
    before = state_snapshot(state)
    with pytest.raises(TypeError):
        state.update(bad)
    assert state_snapshot(state) == before


BAD_BATCHES = [
    pytest.param("abc", id="str"),
    pytest.param(None, id="None"),
    pytest.param(5, id="int"),
    pytest.param([1, 2], id="flat-list"),
    pytest.param(np.array([1, 2], dtype=np.int64), id="1d-int64"),
    pytest.param(np.array([1, 2], dtype=np.uint32), id="1d-uint32"),
    pytest.param(np.zeros((2, 2), dtype=np.float32), id="2d-float"),
    pytest.param(np.zeros((2, 2, 2), dtype=np.int64), id="3d-int64"),
    pytest.param([[1], [1.5]], id="float-row"),
    pytest.param([[1], "ab"], id="str-row"),
    pytest.param([[1], None], id="None-row"),
]

BATCH_METHODS = [
    "batch_encode",
    "batch_decode",
    "batch_encode_with_codebook",
    "batch_decode_with_codebook",
]


@pytest.mark.parametrize("bad", BAD_BATCHES)
@pytest.mark.parametrize("method", BATCH_METHODS)
def test_wrong_batch_types_raise_type_error(method: str, bad: Any) -> None:
    with pytest.raises(TypeError):
        getattr(P.compressor(), method)(bad)


@pytest.mark.parametrize("bad", BAD_BATCHES)
def test_wrong_batch_types_leave_batch_state_unchanged(bad: Any) -> None:
    batch = BatchCodebookState(P.config(), 2)
    batch.update([[1, 1, 1], [2, 3, 2, 3]])
    before = [batch.codebook(0), batch.codebook(1)]
    with pytest.raises(TypeError):
        batch.update(bad)
    assert [batch.codebook(0), batch.codebook(1)] == before


def test_bad_row_type_names_the_row() -> None:
    with pytest.raises(TypeError, match=r"row 2\b"):
        P.compressor().batch_encode([[1], [2], "ab"])


# --------------------------------------------------------------------------------------------
# invalid ids


def raises_at(position: int, token: int | None = None) -> Any:
    pattern = rf"position {position}\b"
    if token is not None:
        pattern = rf"(?<![\d-]){re.escape(str(token))}(?!\d).*{pattern}"
    return pytest.raises(InvalidTokenError, match=pattern)


@pytest.mark.parametrize("kind", ["list", "int64", "int32", "int16"])
def test_negative_ids(kind: str) -> None:
    compressor = P.compressor()
    ids = [1, 2, 3, -5, 4]
    data: Any = ids if kind == "list" else np.array(ids, dtype=getattr(np, kind))
    for method in ONE_SEQUENCE_METHODS:
        with raises_at(3, -5):
            getattr(compressor, method)(data)
    with raises_at(3, -5):
        CodebookState(P.config()).update(data)


@pytest.mark.parametrize("token", [10, 17, 18, 1000, 2**31, 2**32 - 1, 2**32, 2**40, 2**63 - 1])
def test_encode_rejects_ids_outside_the_base_vocabulary(token: int) -> None:
    compressor = P.compressor()
    for data in [[0, 1, 2, token], np.array([0, 1, 2, token], dtype=np.uint64)]:
        with raises_at(3):
            compressor.encode(data)
        with raises_at(3):
            compressor.encode_with_codebook(data)
    if token < 2**63:
        with raises_at(3, token):
            compressor.encode(np.array([0, 1, 2, token], dtype=np.int64))


@pytest.mark.parametrize("token", [2**64, 2**70, -(2**70)])
def test_huge_python_ints_are_invalid_tokens_not_type_errors(token: int) -> None:
    """A Python int is the right *type* for an id; one too large for 64 bits is an out-of-range
    id like any other (InvalidTokenError naming its position), not a TypeError claiming the
    list is not a sequence of integer ids."""
    with raises_at(2):
        P.compressor().encode([1, 2, token])


@pytest.mark.parametrize("token", [18, 19, 1000, 2**31, 2**32 - 1, 2**32])
def test_decode_rejects_ids_past_the_codebook(token: int) -> None:
    compressor = P.compressor()
    with raises_at(2):
        compressor.decode([1, 1, token])
    state = CodebookState(P.config())
    with raises_at(2):
        state.update([1, 1, token])
    assert len(state) == 0 and state.pending_id is None


@pytest.mark.parametrize(
    ("p", "stream", "position"),
    [
        # The about-to-be-created id at the very start: there is no pending match.
        (P, [10], 0),
        (P, [17], 0),
        # Right after a disabled id (a flush): no pending match to extend.
        (P, [1, 9, 10], 2),
        (P, [1, 1, 2, 9, 13], 4),
        # Two ahead of the next id.
        (P, [1, 11], 1),
        (P, [1, 10, 12], 2),
        # [1, 1] already exists, so feeding 1 after the pending [1] extends it: 11 is not created.
        (P, [1, 1, 11], 2),
        # M = 2: after [2, 2] reaches the maximal length nothing is pending.
        (Params(10, 8, 2), [1, 2, 11, 12], 3),
        # M = 1 never creates anything.
        (Params(10, 8, 1), [1, 10], 1),
        # C = 0: no hypertoken ever exists.
        (Params(10, 0, 4), [1, 1, 10], 2),
        # A full codebook: V + C is out of range, not "about to be created".
        (Params(4, 2, 8), [0, 1, 4, 5, 6], 4),
    ],
)
def test_hypertokens_that_do_not_exist_yet(p: Params, stream: list[int], position: int) -> None:
    compressor = p.compressor()
    assert as_list(compressor.decode(stream[:position])) is not None  # the prefix is fine
    for method in ["decode", "decode_with_codebook"]:
        with raises_at(position, stream[position]):
            getattr(compressor, method)(stream)
    with raises_at(position, stream[position]):
        CodebookState(p.config()).update(stream)


def test_batch_errors_name_row_and_position() -> None:
    compressor = P.compressor()
    with pytest.raises(InvalidTokenError, match=r"row 1\b.*position 2\b"):
        compressor.batch_encode([[1, 2], [1, 2, 10]])
    with pytest.raises(InvalidTokenError, match=r"row 1\b.*position 2\b"):
        compressor.batch_decode([[1], [1, 9, 10]])
    with pytest.raises(InvalidTokenError, match=r"row 0\b.*position 1\b"):
        compressor.batch_encode_with_codebook(np.array([[1, -1], [1, 1]], dtype=np.int64))
    with pytest.raises(InvalidTokenError, match=r"row 2\b.*position 0\b"):
        compressor.batch_decode_with_codebook([[1], [2], [-3]])
    for dtype in [np.int32, np.int16]:
        with pytest.raises(InvalidTokenError, match=r"row 1\b.*position 2\b"):
            compressor.batch_encode(np.array([[1, 1, 1], [1, 1, -1]], dtype=dtype))
    with pytest.raises(InvalidTokenError, match=r"row 1\b.*position 2\b"):
        compressor.batch_encode(np.array([[1, 1, 1], [1, 1, 12]], dtype=np.uint32))


def test_batch_errors_in_the_parallel_path(restore_parallelism: None) -> None:
    compressor = Params(30, 256, 4).compressor()
    batch = big_batch(np.random.default_rng(4), 30)
    bad_row = len(batch) - 3
    batch[bad_row] = [*batch[bad_row][:100], 30, *batch[bad_row][100:]]
    for method in ["batch_encode", "batch_encode_with_codebook"]:
        with pytest.raises(InvalidTokenError, match=rf"row {bad_row}\b.*position 100\b"):
            getattr(compressor, method)(batch)
    streams = [as_list(x) for x in compressor.batch_encode(big_batch(np.random.default_rng(5), 30))]
    streams[bad_row] = [*streams[bad_row][:50], 30 + 256, *streams[bad_row][50:]]
    for method in ["batch_decode", "batch_decode_with_codebook"]:
        with pytest.raises(InvalidTokenError, match=rf"row {bad_row}\b.*position 50\b"):
            getattr(compressor, method)(streams)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    params(max_codebook=20, max_subtokens=5, max_vocab=8).flatmap(
        lambda p: st.tuples(
            st.just(p), st.lists(st.integers(0, p.total + 1), max_size=120), st.integers(1, 6)
        )
    )
)
def test_arbitrary_streams_are_accepted_consistently_or_rejected_precisely(
    case: tuple[Params, list[int], int],
) -> None:
    p, stream, chunk = case
    compressor = p.compressor()
    try:
        decoded, codebook = compressor.decode_with_codebook(stream)
    except InvalidTokenError as error:
        match = re.search(r"invalid token id (\d+) at position (\d+)", str(error))
        assert match is not None, str(error)
        token, position = int(match.group(1)), int(match.group(2))
        assert stream[position] == token
        compressor.decode(stream[:position])  # everything before it was valid
        rejected_at: int | None = position
    else:
        assert codebook == compressor.encode_with_codebook(decoded)[1]
        rejected_at = None
    # The streaming state accepts exactly the same prefix, chunk by chunk, atomically.
    state = CodebookState(p.config())
    accepted = 0
    for start in range(0, len(stream), chunk):
        piece = stream[start : start + chunk]
        before = state_snapshot(state)
        try:
            state.update(piece)
        except InvalidTokenError as error:
            assert rejected_at is not None and start <= rejected_at < start + chunk
            assert f"position {rejected_at - start}" in str(error)
            assert state_snapshot(state) == before
            break
        accepted += len(piece)
    else:
        assert rejected_at is None
    if rejected_at is None:
        assert state.codebook == codebook


# --------------------------------------------------------------------------------------------
# state atomicity


def invalid_ids_after(p: Params, state: CodebookState) -> list[int]:
    """Ids that are invalid as the next id for ``state``."""
    upcoming = p.vocab + len(state)
    bad = [p.total, p.total + 5, 2**32 - 1]
    if upcoming + 1 < p.total:
        bad.append(upcoming + 1)
    probe = copy.deepcopy(state)
    try:
        probe.update([upcoming])
    except InvalidTokenError:
        if upcoming < p.total:
            bad.append(upcoming)
    return bad


@SLOW
@given(params_and_ids(max_size=150), st.data())
def test_failed_state_update_changes_nothing(case: tuple[Params, list[int]], data: Any) -> None:
    p, ids = case
    config = p.config()
    stream = as_list(p.compressor().encode(ids))
    split = data.draw(st.integers(0, len(stream)))
    state = CodebookState(config)
    state.update(stream[:split])
    twin = copy.deepcopy(state)  # never sees the failure
    good = data.draw(st.integers(0, len(stream) - split))
    # The failing update first feeds valid ids (which create entries), then one invalid id.
    probe = copy.deepcopy(state)
    probe.update(stream[split : split + good])
    bad_id = data.draw(st.sampled_from(invalid_ids_after(p, probe)))
    failing = [*stream[split : split + good], bad_id, *stream[split + good :]]
    before = state_snapshot(state)
    with raises_at(good, bad_id):
        state.update(np.array(failing, dtype=np.int64))
    assert state_snapshot(state) == before
    assert state.codebook.to_dict() == twin.codebook.to_dict()
    # What comes next is exactly what the state that never saw the failure does.
    rest = stream[split:]
    got = state.update(rest)
    expected = twin.update(rest)
    assert np.array_equal(got[0], expected[0]) and np.array_equal(got[1], expected[1])
    assert state_snapshot(state) == state_snapshot(twin)
    assert state.codebook == p.compressor().encode_with_codebook(ids)[1]


@st.composite
def failing_batch(draw: st.DrawFn) -> Any:
    p = draw(params(max_codebook=60, max_subtokens=6))
    rows = draw(st.integers(1, 5))
    streams = [
        as_list(p.compressor().encode(draw(st.lists(st.integers(0, p.vocab - 1), max_size=60))))
        for _ in range(rows)
    ]
    bad_row = draw(st.integers(0, rows - 1))
    seed = draw(st.integers(0, 2**32 - 1))
    return p, streams, bad_row, seed


def batch_snapshot(batch: BatchCodebookState) -> list[Codebook]:
    return [batch.codebook(row) for row in range(batch.batch_size)]


@SLOW
@given(failing_batch())
def test_failed_batch_update_changes_no_row(case: Any) -> None:
    p, streams, bad_row, seed = case
    rng = np.random.default_rng(seed)
    batch = BatchCodebookState(p.config(), len(streams))
    cuts = [int(rng.integers(0, len(s) + 1)) for s in streams]
    batch.update([s[:cut] for s, cut in zip(streams, cuts, strict=True)])
    twin = copy.deepcopy(batch)
    before = batch_snapshot(batch)
    chunks = [s[cut:] for s, cut in zip(streams, cuts, strict=True)]
    bad = [list(c) for c in chunks]
    at = int(rng.integers(0, len(bad[bad_row]) + 1))
    bad[bad_row].insert(at, p.total)
    with pytest.raises(InvalidTokenError, match=rf"row {bad_row}\b.*position {at}\b"):
        batch.update(bad)
    assert batch_snapshot(batch) == before
    got = batch.update(chunks)
    expected = twin.update(chunks)
    assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))
    assert batch_snapshot(batch) == batch_snapshot(twin)


def test_failed_parallel_batch_update_changes_no_row(restore_parallelism: None) -> None:
    p = Params(30, 256, 4)
    compressor = p.compressor()
    streams = [
        as_list(x)
        for x in compressor.batch_encode(big_batch(np.random.default_rng(6), 30, rows=40))
    ]
    batch = BatchCodebookState(p.config(), len(streams))
    batch.update([s[: len(s) // 3] for s in streams])
    twin = copy.deepcopy(batch)
    before = batch_snapshot(batch)
    rest = [s[len(s) // 3 :] for s in streams]
    assert sum(map(len, rest)) > 4096  # enough work for the thread pool
    for bad_row in [0, len(streams) // 2, len(streams) - 1]:
        bad = [list(r) for r in rest]
        bad[bad_row].append(p.total)  # every other row's (large) update succeeds first
        with pytest.raises(InvalidTokenError, match=rf"row {bad_row}\b"):
            batch.update(bad)
        assert batch_snapshot(batch) == before
    got = batch.update(rest)
    expected = twin.update(rest)
    assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))
    assert batch_snapshot(batch) == batch_snapshot(twin)


def test_batch_shape_errors_change_nothing() -> None:
    batch = BatchCodebookState(P.config(), 2)
    batch.update([[1, 1, 1], [2, 3, 2, 3]])
    before = batch_snapshot(batch)
    with pytest.raises(InvalidArgumentError, match="ids: expected 2 rows"):
        batch.update([[1, 1]])  # one row for a batch of two
    with pytest.raises(InvalidArgumentError, match="got 3"):
        batch.update([[1], [1], [1]])
    ids = np.array([[1, 1], [2, 2]], dtype=np.int64)
    with pytest.raises(InvalidArgumentError, match="attention_mask: it has 1 rows"):
        batch.update(ids, attention_mask=np.ones((1, 2), dtype=np.int64))
    with pytest.raises(InvalidArgumentError, match="attention_mask: row 0: it has 3 columns"):
        batch.update(ids, attention_mask=np.ones((2, 3), dtype=np.int64))
    assert batch_snapshot(batch) == before
    with pytest.raises(IndexError):
        batch.codebook(2)


# --------------------------------------------------------------------------------------------
# invalid configs


@pytest.mark.parametrize(
    "args",
    [
        (0, 1, 1),
        (10, 1, 0),
        (10, 1, 70000),
        (10, 1, 2, [10]),
        (10, 1, 2, [3, 11]),
        (10, 1, 2, None, 10),
        (10, 1, 2, [1], 12),
        (2**31 - 5, 10, 2),
        (10, 2**31 - 10, 2),
        (2**31, 0, 1),
        (2**33, 0, 1),
        (-1, 1, 1),
        (10, -1, 1),
        (10, 1, -1),
        (10, 1, 2, [-1]),
        (10, 1, 2, None, -1),
    ],
)
def test_invalid_configs(args: tuple[Any, ...]) -> None:
    with pytest.raises(InvalidConfigError):
        CompressionConfig(*args)
    keys = ["initial_vocab_size", "max_codebook_size", "max_subtokens", "disabled_ids"]
    data = dict(zip([*keys, "pad_token_id"], args, strict=False))
    with pytest.raises(InvalidConfigError):
        CompressionConfig.from_dict(data)


def test_largest_valid_configs() -> None:
    assert CompressionConfig(2**20, 2**31 - 1 - 2**20, 1).total_vocab_size == 2**31 - 1
    assert CompressionConfig(10, 2**31 - 11, 65535).max_subtokens == 65535
    assert CompressionConfig(1, 0, 1).initial_vocab_size == 1


def test_invalid_config_dicts_and_json() -> None:
    good = CompressionConfig(10, 8, 4, [9], 0).to_dict()
    with pytest.raises(InvalidConfigError, match="unknown"):
        CompressionConfig.from_dict({**good, "unknown_key": 1})
    for key in ["initial_vocab_size", "max_codebook_size", "max_subtokens"]:
        with pytest.raises(InvalidConfigError, match=key):
            CompressionConfig.from_dict({k: v for k, v in good.items() if k != key})
    for text in ["[1, 2]", "3", '"x"', "null"]:
        with pytest.raises(InvalidConfigError):
            CompressionConfig.from_json(text)
    with pytest.raises(ValueError):
        CompressionConfig.from_json("{not json")
    with pytest.raises(TypeError):
        CompressionConfig.from_dict({**good, "max_subtokens": "4"})


@pytest.mark.parametrize(
    "entries",
    [
        [[1, 2, 3]],  # prefix [1, 2] missing
        [[1]],  # too short
        [[]],
        [[1, 2], [1, 2]],  # repeat
        [[1, 12]],  # not a base id
        [[1, 2], [2, 3], [3, 4], [4, 5], [5, 6]],  # more than C = 4
        [[1, 1], [1, 1, 1], [1, 1, 1, 1]],  # longer than M = 3
    ],
)
def test_codebook_from_invalid_entries(entries: list[list[int]]) -> None:
    with pytest.raises(InvalidCodebookError, match="entr"):
        Codebook.from_entries(10, 4, 3, entries)


def test_codebook_lookups_of_missing_ids() -> None:
    _, codebook = P.compressor().encode_with_codebook([1, 1, 1, 2])
    assert len(codebook) == 2
    for missing in [12, 17, 18, 10**6, -1]:
        with pytest.raises(InvalidTokenError):
            codebook.subtokens(missing)
        assert missing not in codebook


@pytest.mark.parametrize("token", [2**64, 2**70, -(2**70)])
def test_lookups_of_ints_beyond_64_bits(token: int) -> None:
    """Membership and lookups take any Python int: one that does not fit 64 bits is simply not
    there (``in`` is False, ``is_disabled`` is False, ``subtokens`` raises InvalidTokenError),
    never an OverflowError."""
    config = P.config()
    _, codebook = P.compressor().encode_with_codebook([1, 1, 1, 2])
    assert token not in codebook
    assert not config.is_disabled(token)
    with pytest.raises(InvalidTokenError):
        codebook.subtokens(token)


def test_batch_state_row_index_errors() -> None:
    batch = BatchCodebookState(P.config(), 2)
    batch.update([[1, 1, 1], [2, 2]])
    for row in [2, 2**70]:
        with pytest.raises(IndexError):
            batch.codebook(row)
    # A negative row is either counted from the end (like a list) or an IndexError.
    try:
        last = batch.codebook(-1)
    except IndexError:
        pass
    else:
        assert last == batch.codebook(1)


def test_resuming_a_state_from_invalid_parts() -> None:
    config = P.config()
    codebook = Codebook.from_entries(10, 8, 4, [[1, 2], [1, 2, 3], [1, 2, 3, 4]])
    for pending in [13, 18, 12, 9]:  # missing, out of range, of length M, disabled
        with pytest.raises(InvalidCodebookError, match=f"pending code {pending}"):
            CodebookState._from_parts(config, codebook, pending)
    other = Codebook.from_entries(10, 9, 4, [[1, 2]])
    with pytest.raises(InvalidCodebookError, match="different config"):
        CodebookState._from_parts(config, other, None)
    assert CodebookState._from_parts(config, codebook, 11).pending_id == 11


# --------------------------------------------------------------------------------------------
# empty input


@pytest.mark.parametrize(
    "empty",
    [
        [],
        (),
        np.array([], dtype=np.int64),
        np.array([], dtype=np.uint32),
        np.array([], dtype=np.int32),
    ],
)
def test_empty_input(empty: Any) -> None:
    compressor = P.compressor()
    for method in ["encode", "decode"]:
        out = getattr(compressor, method)(empty)
        assert out.dtype == np.int64 and out.shape == (0,)
        out, codebook = getattr(compressor, f"{method}_with_codebook")(empty)
        assert out.dtype == np.int64 and out.shape == (0,)
        assert len(codebook) == 0 and codebook.to_dict() == {}
        assert codebook.to_array().shape == (0, P.subtokens)
    state = CodebookState(P.config())
    hyper_ids, subtokens = state.update(empty)
    assert hyper_ids.shape == (0,) and subtokens.shape == (0, P.subtokens)
    assert hyper_ids.dtype == subtokens.dtype == np.int64
    state.update([1, 1, 1])
    before = state_snapshot(state)
    hyper_ids, subtokens = state.update(empty)
    assert hyper_ids.shape == (0,) and subtokens.shape == (0, P.subtokens)
    assert state_snapshot(state) == before


def test_empty_batches() -> None:
    compressor = P.compressor()
    for method in BATCH_METHODS:
        assert getattr(compressor, method)([]) == []
        assert getattr(compressor, method)(np.zeros((0, 3), dtype=np.int64)) == []
    out = compressor.batch_encode(np.zeros((2, 0), dtype=np.int64))
    assert [x.shape for x in out] == [(0,), (0,)] and all(x.dtype == np.int64 for x in out)
    out = compressor.batch_decode([[], [1, 10], []])
    assert [as_list(x) for x in out] == [[], [1, 1, 1], []]
    batch = BatchCodebookState(P.config(), 2)
    for empty in [[[], []], np.zeros((2, 0), dtype=np.int64)]:
        rows, hyper_ids, subtokens = batch.update(empty)
        assert rows.shape == hyper_ids.shape == (0,)
        assert subtokens.shape == (0, P.subtokens)
    rows, hyper_ids, subtokens = batch.update(
        np.array([[5, 5], [6, 6]], dtype=np.int64), attention_mask=np.zeros((2, 2), dtype=np.int64)
    )
    assert rows.shape == hyper_ids.shape == (0,) and subtokens.shape == (0, P.subtokens)
    assert batch_snapshot(batch) == batch_snapshot(BatchCodebookState(P.config(), 2))


def test_empty_batch_state() -> None:
    """A batch of zero rows still reports subtokens of width max_subtokens, like every other
    update (callers concatenate or index these arrays by that width)."""
    batch = BatchCodebookState(P.config(), 0)
    assert len(batch) == 0
    rows, hyper_ids, subtokens = batch.update([])
    assert rows.shape == hyper_ids.shape == (0,)
    assert subtokens.shape == (0, P.subtokens)


def test_subtokens_rows_of_an_update_match_the_codebook() -> None:
    state = CodebookState(P.config())
    hyper_ids, subtokens = state.update([1, 2, 1, 2, 3, 1, 2, 3, 4])
    codebook = state.codebook
    for hyper, row in zip(hyper_ids, subtokens, strict=True):
        assert codebook.subtokens(int(hyper)) == strip_fill(row)


# --------------------------------------------------------------------------------------------
# resource limits: a config the validator accepts must never abort the process

_HUGE_CODEBOOK_SCRIPT = """
import sys
from zip2zip_tokenizers import (
    BatchCodebookState, Codebook, CodebookState, CompressionConfig, LZWCompressor, Zip2ZipError,
)
C = int(sys.argv[1])
steps = [
    lambda cfg: LZWCompressor(cfg).encode([1, 2, 1, 2, 1, 2]),
    lambda cfg: LZWCompressor(cfg).decode([1, 2, 10, 3]),
    lambda cfg: CodebookState(cfg).update([1, 2, 1, 2, 1, 2]),
    lambda cfg: BatchCodebookState(cfg, 2).update([[1, 1, 1], [2, 2, 2]]),
    lambda cfg: Codebook.from_entries(10, C, 4, [[1, 2]]),
]
try:
    config = CompressionConfig(10, C, 4)
except Zip2ZipError:
    print("rejected config")
else:
    for index, step in enumerate(steps):
        try:
            step(config)
        except (MemoryError, Zip2ZipError) as error:
            print(f"step {index}: {type(error).__name__}")
        else:
            print(f"step {index}: ok")
print("done")
"""


def _limit_address_space() -> None:
    import resource

    two_gib = 2 * 1024**3
    resource.setrlimit(resource.RLIMIT_AS, (two_gib, two_gib))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is Linux-specific")
@pytest.mark.parametrize("codebook", [2048, 2**31 - 11])
def test_huge_codebooks_never_abort_the_process(codebook: int) -> None:
    """``CompressionConfig(10, 2**31 - 11, 4)`` is accepted (V + C fits), so using it must either
    work or raise a Python exception. Under a 2 GiB address-space limit (so that the test can
    not exhaust the machine's memory) every step runs in a child process; 2048 is the control."""
    result = subprocess.run(
        [sys.executable, "-c", _HUGE_CODEBOOK_SCRIPT, str(codebook)],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limit_address_space,
        check=False,
    )
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr[:300])
    assert result.stdout.strip().endswith("done")
    if codebook == 2048:
        assert result.stdout.count(": ok") == 5, result.stdout


def test_a_negative_count_says_it_must_not_be_negative() -> None:
    from zip2zip_tokenizers import LZWCompressor

    compressor = LZWCompressor(CompressionConfig(10, 8, 4, [9]))
    with pytest.raises(InvalidArgumentError, match="window must not be negative, got -1"):
        compressor.batch_encode_windows([[1, 2]], -1)

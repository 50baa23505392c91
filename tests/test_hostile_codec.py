"""Hostile input to the codec and its binding, one class of fault at a time: the process never
dies (crash cases run in a child process that must exit normally), every refusal is a precise
``Zip2ZipError`` subclass (or ``TypeError`` for a wrong type) whose message names the argument,
position or row and the value, and a refused call changes no state."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
import textwrap
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import Params, as_list
from zip2zip_tokenizers import (
    BatchCodebookState,
    Codebook,
    CodebookState,
    CompressionConfig,
    InvalidArgumentError,
    InvalidCodebookError,
    InvalidConfigError,
    InvalidTokenError,
    Lattice,
    LimitExceededError,
    LZWCompressor,
    Zip2ZipError,
)

P = Params(10, 8, 4, (9,))  # V = 10, C = 8, M = 4: hypertokens are 10..17
HUGE = [2**31, 2**40, 2**63 + 5, 2**64, 2**70, -(2**70)]


def run_child(script: str) -> str:
    """Runs ``script`` in a fresh interpreter (2 GiB of address space at most) and returns its
    output; fails unless it exits normally."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_limit_address_space if sys.platform.startswith("linux") else None,
        check=False,
    )
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr[-2000:])
    return result.stdout


def _limit_address_space() -> None:
    import resource

    limit = 2 * 1024**3
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def batch_snapshot(batch: BatchCodebookState) -> list[tuple[dict[int, list[int]], int]]:
    return [(batch.codebook(r).to_dict(), len(batch.codebook(r))) for r in range(len(batch))]


def state_snapshot(state: CodebookState) -> tuple[dict[int, list[int]], int | None]:
    return state.codebook.to_dict(), state.pending_id


# --------------------------------------------------------------------------------------------
# the process never dies


def test_enumerating_a_long_lattice_does_not_overflow_the_stack() -> None:
    out = run_child(
        """
        import numpy as np
        from zip2zip_tokenizers import CompressionConfig, Lattice, LZWCompressor
        config = CompressionConfig(50, 2048, 4)
        ids = (np.arange(120_000) * 7 + np.arange(120_000) // 13) % 50
        paths = Lattice(config, ids).enumerate(limit=3)
        decode = LZWCompressor(config).decode
        assert all(np.array_equal(decode(p), ids) for p in paths)
        print(len(paths), len(paths[0]))
        """
    )
    assert out.split() == ["3", "120000"]


def test_huge_batch_sizes_raise_before_allocating() -> None:
    out = run_child(
        """
        from zip2zip_tokenizers import BatchCodebookState, CompressionConfig, Zip2ZipError
        config = CompressionConfig(129280, 2**20, 65535)
        for size in [2**21, 2**40, 2**63, 2**64, 2**70]:
            try:
                BatchCodebookState(config, size)
            except Zip2ZipError as error:
                print(type(error).__name__, "batch_size" in str(error))
        print(len(BatchCodebookState(config, 2**20)))
        """
    )
    assert out.split() == ["LimitExceededError", "True"] * 5 + [str(2**20)]


def test_results_of_huge_max_subtokens_times_entries_raise_and_change_nothing() -> None:
    """M = 65535: every created entry is a row of 65535 cells. Creating 2,100 of them in one
    update would be 137 M cells; a trace of 2,100 columns the same."""
    out = run_child(
        """
        import numpy as np
        from zip2zip_tokenizers import (
            BatchCodebookState, Codebook, CodebookState, CompressionConfig, LZWCompressor,
            LimitExceededError,
        )
        config = CompressionConfig(5000, 2**31 - 5001, 65535)
        ids = np.arange(2100) % 4999
        state, batch = CodebookState(config), BatchCodebookState(config, 1)
        for call in [
            lambda: state.update(ids),
            lambda: batch.update([ids]),
            lambda: batch.update_traced(ids[None, :]),
            lambda: LZWCompressor(config).encode_with_codebook(ids)[1].to_array(),
        ]:
            try:
                call()
            except LimitExceededError as error:
                print("refused", "max_subtokens 65535" in str(error))
        print(len(state), len(batch.codebook(0)), state.pending_id)
        print(len(state.update(ids[:100]).hyper_ids))
        """
    )
    assert out.split() == ["refused", "True"] * 4 + ["0", "0", "None", "99"]


def test_decoding_a_kwkwk_bomb_raises_instead_of_exhausting_memory() -> None:
    """``[1, V, V + 1, ...]`` of n ids stands for n(n + 1)/2 base tokens: 20,000 ids would be
    200 M base tokens (1.6 GB as int64). Refused as the limit is reached, by every decoder."""
    out = run_child(
        """
        import numpy as np
        from zip2zip_tokenizers import (
            BatchCodebookState, CodebookState, CompressionConfig, LZWCompressor,
            LimitExceededError,
        )
        config = CompressionConfig(10, 2**20, 65535)
        bomb = np.concatenate([[1], 10 + np.arange(19_999)])
        comp = LZWCompressor(config)
        state = CodebookState(config)
        for call in [
            lambda: comp.decode(bomb),
            lambda: comp.decode_with_codebook(bomb),
            lambda: comp.batch_decode([bomb]),
            lambda: state.update(bomb),
            lambda: BatchCodebookState(config, 1).update([bomb]),
        ]:
            try:
                call()
            except LimitExceededError as error:
                print("refused", "20000 ids" in str(error))
        print(len(state), len(comp.decode(bomb[:1000])))
        """
    )
    assert out.split() == ["refused", "True"] * 5 + ["0", str(1000 * 1001 // 2)]


def test_a_huge_lattice_raises_instead_of_exhausting_memory() -> None:
    """A run of one token, with a large codebook, has a chain of hypertokens at every position
    (about sqrt(2n) of them): 500,000 tokens make more than 2**27 edges."""
    out = run_child(
        """
        import numpy as np
        from zip2zip_tokenizers import CompressionConfig, Lattice, LimitExceededError
        config = CompressionConfig(10, 2**20, 65535)
        try:
            Lattice(config, np.ones(500_000, dtype=np.int64))
        except LimitExceededError as error:
            print("refused", "lattice" in str(error))
        print(len(Lattice(config, np.ones(1000, dtype=np.int64))))
        """
    )
    assert out.split() == ["refused", "True", "1000"]


# --------------------------------------------------------------------------------------------
# huge integers: a Zip2ZipError subclass naming the argument (or TypeError), never OverflowError


@pytest.mark.parametrize("value", HUGE)
@pytest.mark.parametrize("position", range(3))
def test_huge_config_fields_are_config_errors(value: int, position: int) -> None:
    args: list[Any] = [10, 8, 4]
    args[position] = value
    name = ["initial_vocab_size", "max_codebook_size", "max_subtokens"][position]
    with pytest.raises(InvalidConfigError, match=name):
        CompressionConfig(*args)
    data = dict(
        zip(["initial_vocab_size", "max_codebook_size", "max_subtokens"], args, strict=True)
    )
    with pytest.raises(InvalidConfigError, match=name):
        CompressionConfig.from_dict(data)


@pytest.mark.parametrize("value", HUGE)
def test_huge_disabled_and_pad_ids_are_config_errors(value: int) -> None:
    with pytest.raises(InvalidConfigError, match=r"disabled_ids\[1\]"):
        CompressionConfig(10, 8, 4, [1, value])
    with pytest.raises(InvalidConfigError, match="pad_token_id"):
        CompressionConfig(10, 8, 4, None, value)


@pytest.mark.parametrize("value", HUGE)
def test_huge_integer_arguments(value: int) -> None:
    compressor = P.compressor()
    lattice = Lattice(P.config(), [1, 2, 1, 2])
    _, codebook = compressor.encode_with_codebook([1, 2, 1, 2])
    if value < 0:
        with pytest.raises(InvalidArgumentError, match="batch_size"):
            BatchCodebookState(P.config(), value)
        with pytest.raises(InvalidArgumentError, match="limit"):
            lattice.enumerate(value)
        with pytest.raises(InvalidArgumentError, match="window"):
            compressor.batch_encode_windows([[1, 2]], value)
    else:
        with pytest.raises(LimitExceededError, match="batch_size"):
            BatchCodebookState(P.config(), value)
        assert len(lattice.enumerate(value)) == lattice.count()  # no limit at all
        windows = compressor.batch_encode_windows([[1, 2], [3, 3, 3], [4]], value)
        assert as_list(windows.ids) == [1, 2, 3, 10, 4]  # one window per document
    if value >= 2**64 or value < 0:
        with pytest.raises(InvalidArgumentError, match="seed"):
            lattice.sample(value)
    if not -(2**63) <= value < 2**63:
        with pytest.raises(InvalidArgumentError, match="fill"):
            codebook.to_array(value)
    with pytest.raises(IndexError):
        lattice.alternatives(value)
    with pytest.raises(IndexError):
        BatchCodebookState(P.config(), 1).codebook(value)
    with pytest.raises(InvalidTokenError, match=f"suffix.*{value}|position 2"):
        compressor.batch_encode_windows([[1, 2]], 4, [value])
    with pytest.raises(InvalidCodebookError, match="entr"):
        Codebook.from_entries(10, 8, 4, [[1, value]])
    with pytest.raises(InvalidConfigError, match="max_codebook_size"):
        Codebook.from_entries(10, value, 4, [])
    with pytest.raises(InvalidTokenError, match=f"id {value} at position 0"):
        compressor.decode([value])
    if 0 <= value < 2**64:
        with pytest.raises(InvalidTokenError, match=f"id {value} at position 1"):
            compressor.decode(np.array([1, value], dtype=np.uint64))
    if 2**63 <= value < 2**64:
        with pytest.raises(InvalidTokenError, match=f"id {value} at position 1"):
            compressor.encode(np.array([1, value], dtype=np.uint64))


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: CompressionConfig(10.0, 8, 4), "initial_vocab_size"),
        (lambda: CompressionConfig(10, "8", 4), "max_codebook_size"),
        (lambda: CompressionConfig(10, 8, None), "max_subtokens"),
        (lambda: CompressionConfig(10, 8, 4, [1.5]), r"disabled_ids\[0\]"),
        (lambda: CompressionConfig(10, 8, 4, "12"), "disabled_ids"),
        (lambda: CompressionConfig(10, 8, 4, None, 1.0), "pad_token_id"),
        (lambda: BatchCodebookState(P.config(), 2.0), "batch_size"),
        (lambda: Lattice(P.config(), [1]).enumerate(1.5), "limit"),
        (lambda: Lattice(P.config(), [1]).sample("0"), "seed"),
        (lambda: Lattice(P.config(), [1]).alternatives(0.0), "position"),
        (lambda: BatchCodebookState(P.config(), 1).codebook(0.0), "row"),
        (lambda: P.compressor().batch_encode_windows([[1]], 4.0), "window"),
        (lambda: Codebook.from_entries(10, 8, 4, []).to_array(0.5), "fill"),
        (lambda: BatchCodebookState(P.config(), 1).update([[1]], [[0.5]]), "attention_mask"),
        (lambda: P.compressor().encode([1, True]), "bool at position 1"),
        (lambda: CodebookState(P.config()).update((1, 2, False)), "bool at position 2"),
    ],
)
def test_wrong_types_are_type_errors_naming_the_argument(call: Any, name: str) -> None:
    with pytest.raises(TypeError, match=name):
        call()


# --------------------------------------------------------------------------------------------
# errors that say what happened, and change nothing


def test_exception_classes() -> None:
    for error in [InvalidArgumentError, InvalidCodebookError, LimitExceededError]:
        assert issubclass(error, Zip2ZipError) and issubclass(error, ValueError)
        assert not issubclass(error, InvalidConfigError)
        assert error.__module__ == "zip2zip_tokenizers._core"


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(0, 3), st.integers(0, 3), st.data())
def test_shape_errors_name_the_argument_and_change_nothing(
    batch_size: int, extra_rows: int, extra_columns: int, data: Any
) -> None:
    config = P.config()
    batch = BatchCodebookState(config, batch_size)
    batch.update([[1, 2, 1, 2, 1][: r + 2] for r in range(batch_size)])
    before = batch_snapshot(batch)
    columns = data.draw(st.integers(1, 5))
    ids = np.ones((batch_size, columns), dtype=np.int64)
    if extra_rows:
        with pytest.raises(InvalidArgumentError, match=f"ids: expected {batch_size} rows"):
            batch.update(np.ones((batch_size + extra_rows, columns), dtype=np.int64))
        with pytest.raises(
            InvalidArgumentError, match=f"attention_mask: it has {batch_size + extra_rows} rows"
        ):
            batch.update_traced(ids, np.ones((batch_size + extra_rows, columns), dtype=np.int32))
    if extra_columns:
        mask = np.ones((batch_size, columns + extra_columns), dtype=bool)
        with pytest.raises(InvalidArgumentError, match=f"it has {columns + extra_columns} columns"):
            batch.update(ids, mask)
    if batch_size > 1:
        ragged = [[1] * columns] * (batch_size - 1) + [[1] * (columns + 1)]
        with pytest.raises(
            InvalidArgumentError, match=f"row {batch_size - 1} has {columns + 1} ids"
        ):
            batch.update_traced(ragged)
    with pytest.raises(InvalidArgumentError, match="attention_mask must be 2-D"):
        batch.update(ids, np.ones(columns, dtype=np.int64))
    assert batch_snapshot(batch) == before


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 8), max_size=30), st.integers(0, 40), st.data())
def test_rejected_updates_change_no_state(ids: list[int], where: int, data: Any) -> None:
    config = P.config()
    stream = as_list(P.compressor().encode(ids))
    state = CodebookState(config)
    state.update(stream[: len(stream) // 2])
    batch = BatchCodebookState(config, 2)
    batch.update([stream[: len(stream) // 2], stream])
    twin_state, twin_batch = copy.deepcopy(state), copy.deepcopy(batch)
    bad = data.draw(st.sampled_from([-1, P.total, 2**40, 2**70, "x", 1.5, None]))
    rest = stream[len(stream) // 2 :]
    at = min(where, len(rest))
    failing = [*rest[:at], bad, *rest[at:]]
    expected: Any = TypeError if isinstance(bad, (str, float)) or bad is None else InvalidTokenError
    before = state_snapshot(state), batch_snapshot(batch)
    with pytest.raises(expected, match=f"position {at}"):
        state.update(failing)
    with pytest.raises(expected, match=f"row 1.*position {at}"):
        batch.update([rest, failing])
    with pytest.raises(expected):
        batch.update_traced([[*rest, 0], failing])
    assert (state_snapshot(state), batch_snapshot(batch)) == before
    assert np.array_equal(state.update(rest).hyper_ids, twin_state.update(rest).hyper_ids)
    assert state_snapshot(state) == state_snapshot(twin_state)
    twin_batch.update([rest, rest])
    batch.update([rest, rest])
    assert batch_snapshot(batch) == batch_snapshot(twin_batch)


def test_tampered_pickles_are_codebook_errors_and_change_nothing() -> None:
    batch = BatchCodebookState(P.config(), 2)
    batch.update([[1, 2, 1, 2], [3, 3, 3]])
    before = batch_snapshot(batch)
    for state, match in [
        ([([[1, 2, 3]], None)], "entry 0: its prefix"),
        ([([[1, 2]], 17)], "pending code 17"),
        ([([[1, 2]], 2**70)], "pending id"),
        ([([[1, -2]], None)], "subtoken -2"),
        ([([[1, 2]],)], "row 0"),
        ([([[1, 2]], None, None, None)], "row 0"),
        ([None], "row 0"),
        # A use order is kept only by a full evicting codebook.
        ([([[1, 2]], None, [10])], "evicting"),
    ]:
        with pytest.raises(InvalidCodebookError, match=match):
            batch.__setstate__(state)
        assert batch_snapshot(batch) == before
    config = P.config()
    codebook = Codebook.from_entries(10, 8, 4, [[1, 2]])
    with pytest.raises(InvalidCodebookError, match="pending_id"):
        CodebookState._from_parts(config, codebook, -1)


def test_codebook_entry_errors_name_the_entry() -> None:
    with pytest.raises(InvalidCodebookError, match="entry 1: its length is 5"):
        Codebook.from_entries(10, 8, 4, [[1, 2], [1, 2, 3, 4, 5]])
    with pytest.raises(InvalidCodebookError, match="entry 0: subtoken 12 is not a base id"):
        Codebook.from_entries(10, 8, 4, [[1, 12]])
    with pytest.raises(InvalidConfigError, match="max_subtokens"):
        Codebook.from_entries(10, 8, 0, [])
    with pytest.raises(InvalidConfigError, match="initial_vocab_size"):
        Codebook.from_entries(2**31, 8, 4, [])


# --------------------------------------------------------------------------------------------
# named results


def test_results_have_names_and_still_unpack() -> None:
    config = P.config()
    stream = as_list(P.compressor().encode([1, 2, 1, 2, 1, 2, 3]))
    created = CodebookState(config).update(stream)
    hyper_ids, subtokens = created
    assert created.hyper_ids is hyper_ids and created.subtokens is subtokens
    assert as_list(created.hyper_ids) == [10, 11, 12, 13]
    batch = BatchCodebookState(config, 2).update([stream, [1, 1, 1]])
    assert as_list(batch.rows) == [0, 0, 0, 0, 1]
    assert as_list(batch.hyper_ids) == [10, 11, 12, 13, 10]
    traced = BatchCodebookState(config, 1).update_traced([stream])
    assert traced.sizes.shape == (1, len(stream))
    assert traced.next_entries.shape == (1, len(stream), P.subtokens)
    assert len(traced) == 7 and traced._fields[3] == "sizes"
    assert traced._fields[5:] == ("next_ids", "columns")
    windows = P.compressor().batch_encode_windows([[1, 2, 1, 2]], 2, [9])
    assert windows._fields == ("ids", "offsets", "rows", "base_starts", "base_lengths")
    assert as_list(windows.base_lengths) == [2, 2, 1]
    lattice = Lattice(config, [1, 1, 1])
    assert as_list(lattice.alternatives(1).lengths) == [1, 2]
    assert as_list(lattice.edges().starts) == [0, 1, 1, 2]
    assert lattice.alternatives(-1) == lattice.alternatives(2)
    with_codebook = P.compressor().decode_with_codebook(stream)
    assert as_list(with_codebook.ids) == [1, 2, 1, 2, 1, 2, 3]
    for result in [created, batch, traced, windows, with_codebook]:
        copy_ = pickle.loads(pickle.dumps(result))
        assert type(copy_) is type(result)
        assert all(np.array_equal(a, b) for a, b in zip(copy_[:-1], result[:-1], strict=True))


# --------------------------------------------------------------------------------------------
# small truths


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_lattice_pickles(protocol: int) -> None:
    config = CompressionConfig(6, 30, 4, [5])
    base = [0, 1, 0, 1, 0, 1, 5, 0, 1, 0]
    lattice = Lattice(config, np.array(base, dtype=np.uint32))
    copy_ = pickle.loads(pickle.dumps(lattice, protocol=protocol))
    assert type(copy_) is Lattice and len(copy_) == len(base)
    assert copy_.count() == lattice.count()
    assert [as_list(p) for p in copy_.enumerate()] == [as_list(p) for p in lattice.enumerate()]
    assert all(np.array_equal(a, b) for a, b in zip(copy_.edges(), lattice.edges(), strict=True))
    assert as_list(copy.deepcopy(lattice).sample(3)) == as_list(lattice.sample(3))
    assert as_list(LZWCompressor(config).decode(copy_.sample(5))) == base


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.integers(0, 9), min_size=6, max_size=6), min_size=1, max_size=4))
def test_every_mask_layout_and_dtype_reads_the_same(rows: list[list[int]]) -> None:
    """A C-contiguous int64 mask is read in place; bool, int32, Fortran-ordered and list masks
    are converted first: all give the same result."""
    ids = np.array(rows, dtype=np.int64)
    keep = (ids % 3 != 0).astype(np.int64)
    expected = BatchCodebookState(P.config(), len(rows)).update_traced(ids, keep)
    for mask in [keep.astype(bool), keep.astype(np.int32), np.asfortranarray(keep), keep.tolist()]:
        got = BatchCodebookState(P.config(), len(rows)).update_traced(ids, mask)
        assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))


def misaligned(values: list[int], dtype: type[np.integer[Any]]) -> Any:
    """An array of ``values`` whose data starts one byte into its buffer (not aligned)."""
    size = np.dtype(dtype).itemsize
    buffer = bytearray(size * len(values) + 1)
    array = np.frombuffer(buffer, dtype=dtype, offset=1, count=len(values))
    array[:] = values
    return array


@pytest.mark.parametrize("dtype", [np.int64, np.uint32, np.int32, np.uint64])
def test_misaligned_and_strided_arrays_are_read_correctly(dtype: type[np.integer[Any]]) -> None:
    """numpy can hand over arrays whose memory can not be read as a slice (misaligned, or
    strided): they are copied, never read as empty or as garbage."""
    base = [int(x) for x in np.arange(60) % 7]
    compressor = P.compressor()
    expected = as_list(compressor.encode(base))
    strided = np.repeat(np.array(base, dtype=dtype), 2)[::2]
    for ids in [misaligned(base, dtype), strided]:
        assert not (ids.flags.aligned and ids.flags.c_contiguous)
        assert as_list(compressor.encode(ids)) == expected
        assert [as_list(x) for x in compressor.batch_encode([ids, ids[:7]])] == [
            expected,
            as_list(compressor.encode(base[:7])),
        ]
        assert len(Lattice(P.config(), ids)) == len(base)
    stream = np.array(expected, dtype=np.int64)
    assert as_list(compressor.decode(misaligned(expected, np.int64))) == base
    matrix = misaligned([*expected, *expected], np.int64).reshape(2, -1)
    mask = misaligned([1] * (2 * len(expected)), np.int64).reshape(2, -1)
    traced = BatchCodebookState(P.config(), 2).update_traced(matrix, mask)
    assert traced.sizes[0, -1] == len(compressor.decode_with_codebook(stream).codebook)

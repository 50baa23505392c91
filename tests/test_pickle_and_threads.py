"""Pickling every object, sharing a compressor between threads, and forking after the thread
pool has run (PyTorch DataLoader workers fork)."""

from __future__ import annotations

import copy
import multiprocessing
import os
import pickle
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
import zip2zip_tokenizers as z2z
from strategies import Params, as_list, big_batch
from zip2zip_tokenizers import (
    BatchCodebookState,
    Codebook,
    CodebookState,
    CompressionConfig,
    LZWCompressor,
)

PROTOCOLS = list(range(pickle.HIGHEST_PROTOCOL + 1))
P = Params(40, 200, 5, (3, 7), 0)


def round_trip(obj: Any, protocol: int) -> Any:
    return pickle.loads(pickle.dumps(obj, protocol=protocol))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_pickle_config(protocol: int) -> None:
    for config in [P.config(), CompressionConfig(5, 0, 1), CompressionConfig(129280, 2048, 4)]:
        copy_ = round_trip(config, protocol)
        assert type(copy_) is CompressionConfig
        assert copy_ == config and hash(copy_) == hash(config)
        assert copy_.to_dict() == config.to_dict()
    assert copy.copy(P.config()) == copy.deepcopy(P.config()) == P.config()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_pickle_codebook(protocol: int) -> None:
    rng = np.random.default_rng(0)
    ids = [int(x) for x in rng.integers(0, 12, size=2000)]
    for p in [P, Params(12, 3, 4), Params(12, 0, 4), Params(12, 5000, 16)]:
        _, codebook = p.compressor().encode_with_codebook(ids)
        copy_ = round_trip(codebook, protocol)
        assert type(copy_) is Codebook
        assert copy_ == codebook
        assert copy_.to_dict() == codebook.to_dict()
        assert np.array_equal(copy_.to_array(), codebook.to_array())
        assert copy_.max_codebook_size == p.codebook
        assert copy.deepcopy(codebook) == codebook


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_pickle_compressor(protocol: int) -> None:
    compressor = P.compressor()
    copy_ = round_trip(compressor, protocol)
    assert type(copy_) is LZWCompressor
    assert copy_.config == compressor.config
    ids = [1, 2, 1, 2, 3, 1, 2, 3, 4, 0, 1, 2, 3, 4]
    assert as_list(copy_.encode(ids)) == as_list(compressor.encode(ids))
    assert as_list(copy.deepcopy(compressor).encode(ids)) == as_list(compressor.encode(ids))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_pickle_state_mid_stream(protocol: int) -> None:
    rng = np.random.default_rng(1)
    ids = [int(x) for x in rng.integers(0, 8, size=600)]
    stream = as_list(P.compressor().encode(ids))
    found_pending = False
    for cut in range(0, len(stream), 7):
        state = CodebookState(P.config())
        state.update(stream[:cut])
        found_pending |= state.pending_id is not None
        copy_ = round_trip(state, protocol)
        assert type(copy_) is CodebookState
        assert copy_.config == state.config
        assert copy_.pending_id == state.pending_id
        assert copy_.codebook == state.codebook and len(copy_) == len(state)
        # Both continue identically, pending match included.
        got, expected = copy_.update(stream[cut:]), state.update(stream[cut:])
        assert np.array_equal(got[0], expected[0]) and np.array_equal(got[1], expected[1])
        assert copy_.codebook == state.codebook == P.compressor().encode_with_codebook(ids)[1]
    assert found_pending


def test_pickle_state_with_a_pending_kwkwk_match() -> None:
    state = CodebookState(Params(10, 8, 4, (9,)).config())
    state.update([1])
    assert state.pending_id == 1
    copy_ = pickle.loads(pickle.dumps(state))
    assert copy_.pending_id == 1
    # The about-to-be-created id is valid for both (it needs the pending match).
    assert as_list(copy_.update([10])[0]) == as_list(state.update([10])[0]) == [10]
    assert copy_.codebook == state.codebook


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_pickle_batch_state(protocol: int) -> None:
    rng = np.random.default_rng(2)
    compressor = P.compressor()
    streams = [as_list(compressor.encode(rng.integers(0, 8, size=n))) for n in [0, 5, 300, 900]]
    batch = BatchCodebookState(P.config(), len(streams))
    batch.update([s[: len(s) // 2] for s in streams])
    for copy_ in [round_trip(batch, protocol), copy.deepcopy(batch), copy.copy(batch)]:
        assert type(copy_) is BatchCodebookState
        assert copy_.batch_size == batch.batch_size and copy_.config == batch.config
        for row in range(len(streams)):
            assert copy_.codebook(row) == batch.codebook(row)
        rest = [s[len(s) // 2 :] for s in streams]
        got = copy_.update(rest)
        expected = copy.deepcopy(batch).update(rest)
        assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))
    # An unused batch round-trips too.
    empty = round_trip(BatchCodebookState(P.config(), 3), protocol)
    assert [len(empty.codebook(r)) for r in range(3)] == [0, 0, 0]


def test_pickles_are_independent() -> None:
    state = CodebookState(P.config())
    state.update([1, 2, 1, 2])
    copy_ = pickle.loads(pickle.dumps(state))
    state.update([1, 2, 1, 2, 5, 5, 5])
    assert len(copy_) < len(state)
    batch = BatchCodebookState(P.config(), 1)
    batch_copy = copy.deepcopy(batch)
    batch.update([[1, 1, 1, 1]])
    assert len(batch_copy.codebook(0)) == 0 < len(batch.codebook(0))


# --------------------------------------------------------------------------------------------
# threads


def test_threads_share_one_compressor() -> None:
    p = Params(60, 512, 6, (5,), 0)
    compressor = p.compressor()
    rng = np.random.default_rng(3)
    inputs = [big_batch(rng, p.vocab, rows=6, min_len=300, max_len=1200) for _ in range(8)]
    expected = []
    for batch in inputs:
        encoded = [compressor.encode_with_codebook(ids) for ids in batch]
        expected.append(
            (
                [as_list(e) for e, _ in encoded],
                [cb.to_dict() for _, cb in encoded],
            )
        )

    def work(index: int) -> bool:
        batch = inputs[index]
        want_ids, want_cbs = expected[index]
        for _ in range(5):
            for ids, want, want_cb in zip(batch, want_ids, want_cbs, strict=True):
                out, cb = compressor.encode_with_codebook(np.asarray(ids, dtype=np.uint32))
                if as_list(out) != want or cb.to_dict() != want_cb:
                    return False
                if as_list(compressor.decode(out)) != ids:
                    return False
            if [as_list(x) for x in compressor.batch_encode(batch)] != want_ids:
                return False
            if [as_list(x) for x in compressor.batch_decode(want_ids)] != batch:
                return False
            state = CodebookState(compressor.config)
            state.update(want_ids[0])
            if state.codebook.to_dict() != want_cbs[0]:
                return False
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(work, index) for index in range(8)]
        results = [future.result(timeout=60) for future in futures]
    assert results == [True] * 8


def test_threads_with_parallelism_off(restore_parallelism: None) -> None:
    z2z.set_parallelism(False)
    compressor = Params(30, 256, 4).compressor()
    rng = np.random.default_rng(4)
    batches = [big_batch(rng, 30, rows=8) for _ in range(4)]
    expected = [[as_list(compressor.encode(ids)) for ids in batch] for batch in batches]

    def work(index: int) -> list[list[int]]:
        return [as_list(x) for x in compressor.batch_encode(batches[index])]

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(work, index) for index in range(4)]
        assert [future.result(timeout=60) for future in futures] == expected


def test_threads_misusing_one_state_never_corrupt_it() -> None:
    """A CodebookState is not meant to be shared, but concurrent updates must at worst be
    refused (RuntimeError: already borrowed), each accepted update applied whole."""
    config = P.config()
    state = CodebookState(config)
    chunk = [1, 2, 3, 1, 2, 3, 4]

    def work() -> int:
        accepted = 0
        for _ in range(500):
            try:
                state.update(chunk)
            except RuntimeError:
                continue
            accepted += 1
        return accepted

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(work) for _ in range(4)]
        accepted = sum(future.result(timeout=60) for future in futures)
    assert accepted > 0
    assert state.codebook == P.compressor().encode_with_codebook(chunk * accepted)[1]


# --------------------------------------------------------------------------------------------
# fork safety


def _child_after_fork(
    compressor: LZWCompressor, batch: list[list[int]], expected: list[list[int]]
) -> None:
    try:
        z2z.set_parallelism(True)
        ok = [as_list(x) for x in compressor.batch_encode(batch)] == expected
        ok = ok and [as_list(x) for x in compressor.batch_decode(expected)] == batch
        state = BatchCodebookState(compressor.config, len(batch))
        state.update(expected)
        ok = ok and all(
            state.codebook(row) == compressor.encode_with_codebook(ids)[1]
            for row, ids in enumerate(batch)
        )
    except BaseException:
        ok = False
    os._exit(0 if ok else 1)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork semantics tested on Linux")
def test_fork_after_the_pool_ran(restore_parallelism: None) -> None:
    z2z.set_parallelism(True)
    p = Params(30, 256, 4)
    compressor = p.compressor()
    batch = big_batch(np.random.default_rng(5), p.vocab, rows=24)
    assert sum(map(len, batch)) > 4096
    expected = [as_list(x) for x in compressor.batch_encode(batch)]  # the pool runs here
    assert expected == [as_list(compressor.encode(ids)) for ids in batch]
    context = multiprocessing.get_context("fork")
    for _ in range(2):
        child = context.Process(target=_child_after_fork, args=(compressor, batch, expected))
        child.start()
        child.join(timeout=60)
        if child.is_alive():
            child.kill()
            child.join()
            pytest.fail("the forked child hung in batch_encode")
        assert child.exitcode == 0
    # The parent's pool still works after the children.
    assert [as_list(x) for x in compressor.batch_encode(batch)] == expected

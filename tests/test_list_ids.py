"""Python lists are read on a fast path (borrowed items, exact ``int`` only) that hands any other
item to the general one: whatever a list holds, it must give what the same items as a tuple
give (ids, or the same error), and what an int64 array of them gives."""

from __future__ import annotations

import enum
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from zip2zip_tokenizers import CompressionConfig, LZWCompressor

VOCAB = 12
COMPRESSOR = LZWCompressor(CompressionConfig(VOCAB, 16, 4))


class Id(int):
    """An ``int`` subclass: not an exact ``int``, still a valid id."""


class Color(enum.IntEnum):
    RED = 3


def outcome(call: Any, ids: Any) -> tuple[str, Any]:
    try:
        return "ok", call(ids).tolist()
    except Exception as error:  # the error itself is what is compared
        return type(error).__name__, str(error)


plain = st.integers(0, VOCAB - 1)
odd = st.one_of(
    plain.map(Id),
    st.just(Color.RED),
    plain.map(np.int64),
    plain.map(np.uint16),
    st.sampled_from([True, False, 1.0, None, "3", -1, VOCAB, 2**63, 2**70, -(2**70)]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(plain, plain, plain, odd), max_size=40))
def test_a_list_reads_like_the_same_items_as_a_tuple(items: list[Any]) -> None:
    for method in ("encode", "decode"):
        call = getattr(COMPRESSOR, method)
        assert outcome(call, items) == outcome(call, tuple(items)), method


@settings(max_examples=200, deadline=None)
@given(st.lists(plain, max_size=300))
def test_a_list_of_plain_ints_reads_like_an_int64_array(items: list[int]) -> None:
    array = np.asarray(items, dtype=np.int64)
    assert COMPRESSOR.encode(items).tolist() == COMPRESSOR.encode(array).tolist()
    batch = [items, items[: len(items) // 2]]
    expected = [COMPRESSOR.encode(row).tolist() for row in batch]
    assert [row.tolist() for row in COMPRESSOR.batch_encode(batch)] == expected


@pytest.mark.parametrize("bad", [True, 2.0, 2**64, -(2**64)])
def test_the_first_bad_item_is_named_wherever_it_is(bad: Any) -> None:
    items: list[Any] = [1, 2, 3, bad, 4]
    kind, message = outcome(COMPRESSOR.encode, items)
    assert kind in {"TypeError", "InvalidTokenError"} and "position 3" in message

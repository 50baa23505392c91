"""The policies only the oracle implements (``eviction_oracle.py``), which
``benches/bench_long_context.py`` measures: each round-trips through its own decoder, which
recycles the slots the encoder recycled, and ``next_id`` says in advance which slot a new entry
takes."""

from __future__ import annotations

from eviction_oracle import LZW
from hypothesis import given, settings
from hypothesis import strategies as st

MEASURED_ONLY = ("lfu", "fifo", "clock")


@st.composite
def streams(draw: st.DrawFn) -> tuple[int, int, int, list[int]]:
    vocab = draw(st.integers(2, 12))
    size = draw(st.integers(1, 24))
    subtokens = draw(st.integers(2, 5))
    motifs = draw(st.lists(st.lists(st.integers(0, vocab - 1), min_size=1, max_size=6), min_size=1))
    picks = draw(st.lists(st.integers(0, len(motifs) - 1), max_size=120))
    return vocab, size, subtokens, [token for pick in picks for token in motifs[pick]]


@settings(max_examples=150, deadline=None)
@given(streams(), st.sampled_from(MEASURED_ONLY))
def test_measured_policies_round_trip_with_the_decoder_in_step(
    case: tuple[int, int, int, list[int]], policy: str
) -> None:
    vocab, size, subtokens, ids = case
    encoder = LZW(vocab, size, subtokens, policy=policy)
    encoded = encoder.encode(ids)
    decoder = LZW(vocab, size, subtokens, policy=policy)
    decoded: list[int] = []
    for id_ in encoded:
        decoded += decoder.feed_id(id_)
    decoder.finish([])
    assert decoded == ids
    assert decoder.created == encoder.created
    assert decoder.entries == encoder.entries


@settings(max_examples=150, deadline=None)
@given(streams())
def test_clock_takes_the_slot_next_id_announces(case: tuple[int, int, int, list[int]]) -> None:
    vocab, size, subtokens, ids = case
    lzw = LZW(vocab, size, subtokens, policy="clock")
    for token in ids:
        announced = lzw.next_id()
        created = len(lzw.created)
        buffer = list(lzw.buffer)
        lzw.push(token, [])
        if len(lzw.created) > created and buffer:
            assert lzw.created[created] == announced

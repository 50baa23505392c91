"""The segmentation lattice from Python: its paths are valid streams that decode to the base."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from zip2zip_tokenizers import (
    CompressionConfig,
    InvalidTokenError,
    Lattice,
    LZWCompressor,
)

CONFIG = CompressionConfig(initial_vocab_size=6, max_codebook_size=30, max_subtokens=4)


@settings(max_examples=150, deadline=None)
@given(base=st.lists(st.integers(0, 2), max_size=14), seed=st.integers(0, 2**64 - 1))
def test_paths_decode_to_the_base_and_include_the_greedy_encoding(
    base: list[int], seed: int
) -> None:
    lattice = Lattice(CONFIG, base)
    compressor = LZWCompressor(CONFIG)
    paths = lattice.enumerate(limit=10_000)
    assert len(paths) == lattice.count()
    assert len({tuple(p.tolist()) for p in paths}) == len(paths)
    for path in [*paths, lattice.sample(seed)]:
        assert compressor.decode(path).tolist() == base
    assert tuple(compressor.encode(base).tolist()) in {tuple(p.tolist()) for p in paths}


def test_alternatives_and_edges_agree() -> None:
    base = [0, 1, 0, 1, 0, 1, 0, 1]
    lattice = Lattice(CONFIG, np.array(base))
    starts, ids, lengths = lattice.edges()
    assert len(lattice) == len(base)
    for position in range(len(base)):
        alt_ids, alt_lengths = lattice.alternatives(position)
        assert alt_ids[0] == base[position] and alt_lengths[0] == 1
        mask = starts == position
        assert ids[mask].tolist() == alt_ids.tolist()
        assert lengths[mask].tolist() == alt_lengths.tolist()
    assert lattice.count() > 1
    assert lattice.sample(7).tolist() == lattice.sample(7).tolist()


def test_bad_input() -> None:
    with pytest.raises(InvalidTokenError):
        Lattice(CONFIG, [0, 6])
    with pytest.raises(InvalidTokenError):
        Lattice(CONFIG, [-1])
    with pytest.raises(TypeError):
        Lattice(CONFIG, "abc")
    with pytest.raises(IndexError):
        Lattice(CONFIG, [0, 1]).alternatives(2)
    empty = Lattice(CONFIG, [])
    assert empty.count() == 1
    assert [p.tolist() for p in empty.enumerate()] == [[]]

"""Hypothesis strategies and plain helpers shared by the codec tests.

Imported as a top-level module (``from strategies import ...``); ``conftest.py`` puts this folder
on ``sys.path``.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st
from zip2zip_tokenizers import (
    CodebookState,
    CompressionConfig,
    InvalidTokenError,
    LZWCompressor,
)


@dataclass(frozen=True)
class Params:
    """The constructor arguments of a ``CompressionConfig``, kept as plain values."""

    vocab: int
    codebook: int
    subtokens: int
    disabled: tuple[int, ...] = ()
    pad: int | None = None
    eviction: str = "none"

    def config(self) -> CompressionConfig:
        return CompressionConfig(
            self.vocab, self.codebook, self.subtokens, list(self.disabled), self.pad, self.eviction
        )

    def compressor(self) -> LZWCompressor:
        return LZWCompressor(self.config())

    @property
    def total(self) -> int:
        return self.vocab + self.codebook

    def is_disabled(self, token: int) -> bool:
        return token in self.disabled or token == self.pad


@st.composite
def params(
    draw: st.DrawFn,
    min_vocab: int = 2,
    max_vocab: int = 40,
    max_codebook: int = 300,
    max_subtokens: int = 16,
    evictions: tuple[str, ...] = ("none",),
) -> Params:
    """Random configs over a small vocabulary, so that repeats (and hypertokens) are common.
    With an evicting policy among ``evictions``, codebooks are mostly small enough to fill."""
    vocab = draw(st.integers(min_vocab, max_vocab))
    eviction = draw(st.sampled_from(evictions))
    if eviction != "none":
        max_codebook = min(max_codebook, 24)
    codebook = draw(st.one_of(st.sampled_from([0, 1, 2, 3]), st.integers(0, max_codebook)))
    subtokens = draw(st.one_of(st.sampled_from([1, 2]), st.integers(1, max_subtokens)))
    disabled = draw(
        st.one_of(
            st.just(()),
            st.lists(st.integers(0, vocab - 1), max_size=4).map(tuple),
            st.lists(st.integers(0, vocab - 1), max_size=vocab).map(tuple),
        )
    )
    pad = draw(st.one_of(st.none(), st.integers(0, vocab - 1)))
    return Params(vocab, codebook, subtokens, disabled, pad, eviction)


@st.composite
def token_ids(draw: st.DrawFn, vocab: int, max_size: int = 400) -> list[int]:
    """Base ids: plain random ids, or random repeats of a few motifs (long matches)."""
    plain = st.lists(st.integers(0, vocab - 1), max_size=max_size)
    alphabet = draw(st.integers(1, vocab))
    motifs = st.lists(
        st.lists(st.integers(0, alphabet - 1), min_size=1, max_size=8), min_size=1, max_size=4
    )

    @st.composite
    def repeated(inner: st.DrawFn) -> list[int]:
        chosen = inner(motifs)
        order = inner(st.lists(st.integers(0, len(chosen) - 1), max_size=max_size // 4))
        out = [token for index in order for token in chosen[index]]
        return out[:max_size]

    return draw(st.one_of(plain, repeated()))


@st.composite
def params_and_ids(draw: st.DrawFn, max_size: int = 400, **kwargs: Any) -> tuple[Params, list[int]]:
    p = draw(params(**kwargs))
    return p, draw(token_ids(p.vocab, max_size=max_size))


def as_list(array: np.ndarray) -> list[int]:
    return [int(x) for x in array]


def entry_rows(codebook_dict: dict[int, list[int]]) -> list[list[int]]:
    return [list(tokens) for tokens in codebook_dict.values()]


def strip_fill(row: Sequence[int], fill: int = -1) -> list[int]:
    return [int(x) for x in row if x != fill]


def random_segmentation(
    config: CompressionConfig, ids: Sequence[int], rnd: random.Random
) -> list[int]:
    """A random *valid* (generally non-canonical) id stream whose base ids are ``ids``.

    At each step: the plain base token, any existing hypertoken whose subtokens match the
    upcoming base ids, or the about-to-be-created hypertoken (LZW's KwKwK case) when feeding it
    is valid and it matches. Mirrors ``random_segmentation`` in rust/core/tests/roundtrip.rs.
    For a config that never evicts (``eviction_oracle.segmentation`` covers the others).
    """
    width = config.max_subtokens
    state = CodebookState(config)
    known: dict[tuple[int, ...], int] = {}
    stream: list[int] = []
    position = 0
    while position < len(ids):
        existing: list[tuple[int, int]] = []
        for length in range(2, min(width, len(ids) - position) + 1):
            hyper = known.get(tuple(ids[position : position + length]))
            if hyper is not None:
                existing.append((hyper, length))
        kwkwk: tuple[int, int] | None = None
        upcoming = state.next_id
        probe = copy.deepcopy(state)
        try:
            if upcoming is None:
                raise InvalidTokenError("no next id")
            probe.update([upcoming])
        except InvalidTokenError:
            pass
        else:
            assert upcoming is not None
            tokens = probe.codebook.subtokens(upcoming)
            if list(ids[position : position + len(tokens)]) == tokens:
                kwkwk = (upcoming, len(tokens))
        roll = rnd.random()
        if kwkwk is not None and roll < 0.4:
            choice = kwkwk
        elif existing and roll < 0.8:
            choice = rnd.choice(existing)
        else:
            choice = (int(ids[position]), 1)
        hyper_ids, rows = state.update([choice[0]])
        for hyper, row in zip(hyper_ids, rows, strict=True):
            known[tuple(strip_fill(row))] = int(hyper)
        stream.append(choice[0])
        position += choice[1]
    return stream


def chunked(values: Sequence[int], sizes: Sequence[int]) -> list[list[int]]:
    """Splits ``values`` into consecutive chunks of the given sizes, cycled; a 0 size is an empty
    chunk (when every size is 0, the rest goes in one chunk after the empty ones)."""
    if not any(sizes):
        return [[] for _ in sizes] + [list(values)]
    chunks: list[list[int]] = []
    start = 0
    step = 0
    while start < len(values):
        size = sizes[step % len(sizes)]
        step += 1
        chunks.append(list(values[start : start + size]))
        start += size
    return chunks


def big_batch(
    rng: np.random.Generator, vocab: int, rows: int = 16, min_len: int = 200, max_len: int = 900
) -> list[list[int]]:
    """A batch with well over 4096 ids in total (so the thread pool is used) and repeats."""
    motifs = [rng.integers(0, vocab, size=int(rng.integers(1, 9))) for _ in range(12)]
    batch = []
    for _ in range(rows):
        length = int(rng.integers(min_len, max_len))
        parts: list[int] = []
        while len(parts) < length:
            if rng.random() < 0.7:
                parts.extend(int(x) for x in motifs[int(rng.integers(0, len(motifs)))])
            else:
                parts.append(int(rng.integers(0, vocab)))
        batch.append(parts[:length])
    return batch

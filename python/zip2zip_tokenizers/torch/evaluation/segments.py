"""The canonical segmentation of a window and the base span each of its ids covers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zip2zip_tokenizers._core import CompressionConfig, Lattice, LZWCompressor
from zip2zip_tokenizers.slot_reads import id_spans


@dataclass(frozen=True)
class Segmentation:
    """A valid id stream over ``base`` (``[n]`` base ids): ``ids[i]`` covers
    ``base[starts[i] : starts[i] + lengths[i]]``."""

    base: np.ndarray
    ids: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray

    @property
    def ends(self) -> np.ndarray:
        ends: np.ndarray = self.starts + self.lengths
        return ends


def _from_pieces(base: np.ndarray, ids: np.ndarray, lengths: np.ndarray) -> Segmentation:
    ends = np.cumsum(lengths)
    return Segmentation(
        base=base, ids=ids.astype(np.int64), starts=ends - lengths, lengths=lengths.astype(np.int64)
    )


def canonical(config: CompressionConfig, base: np.ndarray) -> Segmentation:
    """The greedy LZW encoding of ``base`` with a fresh codebook (what the tokenizer gives)."""
    ids = np.asarray(LZWCompressor(config).encode(base), dtype=np.int64)
    return _from_pieces(base, ids, id_spans(config, ids))


def canonical_with_break(
    config: CompressionConfig, base: np.ndarray, lattice: Lattice, boundary: int
) -> Segmentation:
    """The canonical encoding of ``base[:boundary]`` followed, from ``boundary`` on, by the
    longest piece the lattice allows at each step: no id straddles ``boundary`` (a context and
    its continuation), and with ``boundary == 0`` this is the canonical encoding itself."""
    head = canonical(config, base[:boundary])
    ids, lengths = [head.ids], [head.lengths]
    position = boundary
    while position < len(base):
        pieces = lattice.alternatives(position)
        piece_ids, piece_lengths = pieces.ids, pieces.lengths
        longest = int(np.argmax(piece_lengths))
        ids.append(piece_ids[longest : longest + 1])
        lengths.append(piece_lengths[longest : longest + 1])
        position += int(piece_lengths[longest])
    return _from_pieces(base, np.concatenate(ids), np.concatenate(lengths))

"""Segmentations of a window near its greedy one, drawn from its segmentation lattice (an
"LZW-dropout", after BPE-dropout).

The walk: at each base position, take the longest piece the lattice allows there (what greedy
LZW encoding takes) with probability ``1 - dropout``, else one of the shorter pieces there,
uniformly (a position whose only piece is its base token has nothing to leave for). The walk then
goes on from the end of the piece it took, longest first again. Every path of the lattice is a
valid id stream that decodes to the same base ids and builds the same codebook
(``docs/codec.md``, "The invariant"), so a walk is a training sequence whose targets are its own
ids. ``dropout = 0`` walks the greedy path itself.

``Lattice.sample`` draws uniformly over all segmentations instead, which is almost never near
the greedy one (most paths are mostly base tokens); this walk stays close to what the model
writes itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from zip2zip_tokenizers._core import CompressionConfig, InvalidTokenError, Lattice


@dataclass(frozen=True)
class Pieces:
    """A segmentation: ``ids[i]`` covers ``lengths[i]`` base tokens, in order."""

    ids: npt.NDArray[np.int64]
    lengths: npt.NDArray[np.int64]

    @property
    def starts(self) -> npt.NDArray[np.int64]:
        """The base position where each piece starts."""
        starts: npt.NDArray[np.int64] = np.cumsum(self.lengths) - self.lengths
        return starts

    def head(self, count: int) -> Pieces:
        """The first ``count`` pieces."""
        return Pieces(self.ids[:count], self.lengths[:count])


class SegmentationLattice:
    """The lattice of a base sequence as flat arrays: the pieces at position ``p`` are
    ``ids[first[p]:first[p + 1]]`` with their ``lengths``."""

    def __init__(self, config: CompressionConfig, base: npt.NDArray[np.integer]) -> None:
        edges = Lattice(config, base).edges()
        self.size = len(base)
        self.ids = np.asarray(edges.ids, dtype=np.int64)
        self.lengths = np.asarray(edges.lengths, dtype=np.int64)
        starts = np.asarray(edges.starts, dtype=np.int64)
        self.first = np.searchsorted(starts, np.arange(self.size + 1))

    def pieces_of(self, ids: npt.NDArray[np.integer]) -> Pieces:
        """``ids`` (a valid stream over this lattice's base ids) with the length of each;
        ``InvalidTokenError`` naming the first id that is no piece where it stands."""
        lengths = np.zeros(len(ids), dtype=np.int64)
        position = 0
        for index, id in enumerate(ids.tolist()):
            start, stop = self._span(position)
            found = np.nonzero(self.ids[start:stop] == id)[0]
            if not len(found):
                raise InvalidTokenError(
                    f"id {id} at index {index} is no piece of the lattice at base position "
                    f"{position}"
                )
            lengths[index] = self.lengths[start + int(found[0])]
            position += int(lengths[index])
        return Pieces(np.asarray(ids, dtype=np.int64), lengths)

    def _span(self, position: int) -> tuple[int, int]:
        """Where the pieces at ``position`` are (none past the end)."""
        if position >= self.size:
            return 0, 0
        return int(self.first[position]), int(self.first[position + 1])

    def walk(self, leave: npt.NDArray[np.bool_], pick: npt.NDArray[np.floating]) -> Pieces:
        """The path that takes the longest piece at position ``p`` unless ``leave[p]``, then a
        shorter one chosen by ``pick[p]`` (in ``[0, 1)``, uniform over the shorter pieces). Both
        arrays hold one value per base position, so the path is a function of them alone."""
        ids: list[int] = []
        lengths: list[int] = []
        position = 0
        while position < self.size:
            start, stop = self._span(position)
            choice = start + int(np.argmax(self.lengths[start:stop]))
            if leave[position] and stop - start > 1:
                others = [k for k in range(start, stop) if k != choice]
                choice = others[min(int(pick[position] * len(others)), len(others) - 1)]
            ids.append(int(self.ids[choice]))
            lengths.append(int(self.lengths[choice]))
            position += lengths[-1]
        return Pieces(np.asarray(ids, dtype=np.int64), np.asarray(lengths, dtype=np.int64))


def sample_segmentation(
    lattice: SegmentationLattice, dropout: float, rng: np.random.Generator
) -> Pieces:
    """A walk that leaves the longest piece with probability ``dropout`` at each position (see
    the module doc); the draws come from ``rng``, one pair per base position."""
    draws = rng.random((2, lattice.size))
    return lattice.walk(draws[0] < dropout, draws[1])

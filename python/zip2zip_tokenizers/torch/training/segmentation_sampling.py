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
    """The lattice of a base sequence as flat lists: the pieces at position ``p`` are
    ``ids[first[p]:first[p + 1]]`` with their ``lengths`` (plain lists: a walk
    visits each position once, where numpy's per-call cost would dominate)."""

    def __init__(self, config: CompressionConfig, base: npt.NDArray[np.integer]) -> None:
        edges = Lattice(config, base).edges()
        self.size = len(base)
        self.ids: list[int] = np.asarray(edges.ids).tolist()
        self.lengths: list[int] = np.asarray(edges.lengths).tolist()
        starts = np.asarray(edges.starts, dtype=np.int64)
        self.first: list[int] = np.searchsorted(starts, np.arange(self.size + 1)).tolist()

    def pieces_of(self, ids: npt.NDArray[np.integer]) -> Pieces:
        """``ids`` (a valid stream over this lattice's base ids) with the length of each;
        ``InvalidTokenError`` naming the first id that is no piece where it stands."""
        lengths = []
        position = 0
        for index, id in enumerate(np.asarray(ids).tolist()):
            start, stop = self._span(position)
            try:
                at = self.ids.index(id, start, stop)
            except ValueError:
                raise InvalidTokenError(
                    f"id {id} at index {index} is no piece of the lattice at base position "
                    f"{position}"
                ) from None
            lengths.append(self.lengths[at])
            position += self.lengths[at]
        return Pieces(np.asarray(ids, dtype=np.int64), np.asarray(lengths, dtype=np.int64))

    def _span(self, position: int) -> tuple[int, int]:
        """Where the pieces at ``position`` are (none past the end)."""
        if position >= self.size:
            return 0, 0
        return self.first[position], self.first[position + 1]

    def _longest(self, start: int, stop: int) -> int:
        """Where the longest of the pieces ``start:stop`` is (what greedy encoding takes)."""
        return max(range(start, stop), key=self.lengths.__getitem__)

    def longest_at(self, positions: npt.NDArray[np.integer]) -> npt.NDArray[np.int64]:
        """The id of the longest piece at each base position of ``positions`` (what greedy
        encoding takes there)."""
        spans = [self._span(position) for position in np.asarray(positions).tolist()]
        return np.asarray([self.ids[self._longest(*span)] for span in spans], dtype=np.int64)

    def walk(self, leave: npt.NDArray[np.bool_], pick: npt.NDArray[np.floating]) -> Pieces:
        """The path that takes the longest piece at position ``p`` unless ``leave[p]``, then a
        shorter one chosen by ``pick[p]`` (in ``[0, 1)``, uniform over the shorter pieces). Both
        arrays hold one value per base position, so the path is a function of them alone."""
        leaving, picks = leave.tolist(), pick.tolist()
        ids: list[int] = []
        lengths: list[int] = []
        position = 0
        while position < self.size:
            start, stop = self._span(position)
            longest = self._longest(start, stop)
            choice = longest
            if leaving[position] and stop - start > 1:
                others = [k for k in range(start, stop) if k != longest]
                choice = others[min(int(picks[position] * len(others)), len(others) - 1)]
            ids.append(self.ids[choice])
            lengths.append(self.lengths[choice])
            position += lengths[-1]
        return Pieces(np.asarray(ids, dtype=np.int64), np.asarray(lengths, dtype=np.int64))


def sample_segmentation(
    lattice: SegmentationLattice, dropout: float, rng: np.random.Generator
) -> Pieces:
    """A walk that leaves the longest piece with probability ``dropout`` at each position (see
    the module doc); the draws come from ``rng``, one pair per base position."""
    draws = rng.random((2, lattice.size))
    return lattice.walk(draws[0] < dropout, draws[1])

"""The branches of exact multi-view scoring, packed as one token tree per window.

For each canonical target, every segmentation of its base span into lattice pieces is a path
that starts right after the canonical prefix. The paths of a target share prefixes, so they form
a tree: each inner node is a piece fed to the model (its logits score the next piece); each path
ends with a piece that is scored, never fed. All nodes of a window go through the model in one
forward (in chunks of whole trees when there are many), each attending to its target's canonical
prefix (in the KV cache) and to its own ancestors, at the position it would have on that path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from zip2zip_tokenizers.torch.evaluation.segments import Segmentation


@dataclass
class SpanTrees:
    """Nodes and paths of every target from ``first_target`` on.

    Rows ``< targets`` are the canonical rows (row ``i`` predicts target ``first_target + i``);
    row ``targets + k`` is node ``k``. Node ``k`` feeds ``node_ids[k]`` covering base tokens
    ``node_starts[k]`` up to ``node_ends[k]`` (exclusive), is ``node_depths[k]`` pieces into its
    target's span, belongs to target row ``node_targets[k]`` and follows ``node_parents[k]`` (a
    row). A path is a list of terms ``(row, id)``: the log-probability of ``id`` at ``row``; path
    ``p`` belongs to target row ``path_targets[p]``; term ``i`` belongs to path ``term_paths[i]``.
    """

    targets: int
    node_ids: list[int] = field(default_factory=list)
    node_ends: list[int] = field(default_factory=list)
    node_starts: list[int] = field(default_factory=list)
    node_depths: list[int] = field(default_factory=list)
    node_targets: list[int] = field(default_factory=list)
    node_parents: list[int] = field(default_factory=list)
    path_targets: list[int] = field(default_factory=list)
    term_rows: list[int] = field(default_factory=list)
    term_ids: list[int] = field(default_factory=list)
    term_paths: list[int] = field(default_factory=list)
    # First node of each target row (nodes of a target are contiguous); len targets + 1.
    target_node_starts: list[int] = field(default_factory=list)

    @property
    def nodes(self) -> int:
        return len(self.node_ids)

    def chunks(self, max_nodes: int) -> Iterator[tuple[int, int]]:
        """Node ranges ``[start, stop)`` of whole trees, each at most ``max_nodes`` long unless
        one tree alone is longer."""
        start = 0
        bounds = self.target_node_starts
        for target in range(self.targets):
            stop = bounds[target + 1]
            if stop - start > max_nodes and bounds[target] > start:
                yield start, bounds[target]
                start = bounds[target]
        if self.nodes > start:
            yield start, self.nodes


def alternatives_by_position(
    length: int, starts: np.ndarray, ids: np.ndarray, lengths: np.ndarray
) -> list[list[tuple[int, int]]]:
    """``(id, length)`` of the lattice pieces at each base position (from ``Lattice.edges()``)."""
    table: list[list[tuple[int, int]]] = [[] for _ in range(length)]
    for start, piece, size in zip(starts.tolist(), ids.tolist(), lengths.tolist(), strict=True):
        table[start].append((piece, size))
    return table


def build_trees(
    segmentation: Segmentation,
    first_target: int,
    alternatives: list[list[tuple[int, int]]],
) -> SpanTrees:
    """Every segmentation of every target's span, as trees (see :class:`SpanTrees`)."""
    targets = len(segmentation.ids) - first_target
    trees = SpanTrees(targets=targets)
    starts = segmentation.starts[first_target:].tolist()
    lengths = segmentation.lengths[first_target:].tolist()

    def expand(
        target: int,
        row: int,
        start: int,
        offset: int,
        span: int,
        depth: int,
        terms: list[tuple[int, int]],
    ) -> None:
        for piece, size in alternatives[start + offset]:
            end = offset + size
            if end > span:
                continue
            path = [*terms, (row, piece)]
            if end == span:
                path_index = len(trees.path_targets)
                trees.path_targets.append(target)
                for term_row, term_id in path:
                    trees.term_rows.append(term_row)
                    trees.term_ids.append(term_id)
                    trees.term_paths.append(path_index)
                continue
            node = trees.nodes
            trees.node_ids.append(piece)
            trees.node_ends.append(start + end)
            trees.node_starts.append(start + offset)
            trees.node_depths.append(depth + 1)
            trees.node_targets.append(target)
            trees.node_parents.append(row)
            expand(target, targets + node, start, end, span, depth + 1, path)

    for target, (start, span) in enumerate(zip(starts, lengths, strict=True)):
        trees.target_node_starts.append(trees.nodes)
        expand(target, target, start, 0, span, 0, [])
    trees.target_node_starts.append(trees.nodes)
    return trees


def tree_attention(
    trees: SpanTrees, first_target: int, cached: int, start: int, stop: int
) -> np.ndarray:
    """``[stop - start, cached + stop - start]`` booleans: which keys each node of the chunk
    sees — its target's canonical prefix (of the ``cached`` canonical columns) and its
    ancestors in the chunk, itself included."""
    size = stop - start
    allowed = np.zeros((size, cached + size), dtype=bool)
    for local in range(size):
        node = start + local
        allowed[local, : first_target + trees.node_targets[node]] = True
        row = trees.targets + node
        while row >= trees.targets:
            allowed[local, cached + row - trees.targets - start] = True
            row = trees.node_parents[row - trees.targets]
    return allowed

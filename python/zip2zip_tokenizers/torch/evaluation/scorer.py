"""Log-probabilities of a segmentation's targets under the strict, first-piece and exact
multi-view metrics (see ``docs/evaluation.md``)."""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from zip2zip_tokenizers._core import BatchCodebookState, Lattice, TracedUpdate
from zip2zip_tokenizers.slot_reads import Creations, read_versions
from zip2zip_tokenizers.torch.entry_encoding import encode_entries
from zip2zip_tokenizers.torch.entry_versions import EntryVersions
from zip2zip_tokenizers.torch.evaluation.errors import EvaluationError
from zip2zip_tokenizers.torch.evaluation.segments import Segmentation
from zip2zip_tokenizers.torch.evaluation.tree import (
    SpanTrees,
    alternatives_by_position,
    build_trees,
    tree_attention,
)
from zip2zip_tokenizers.torch.hyper_state import HyperState, StepView, TakenSlots

if TYPE_CHECKING:
    from zip2zip_tokenizers.torch.model import Zip2ZipForCausalLM

METRICS = ("strict", "first", "exact")
# Tree nodes per forward: a window of 1024 base tokens at M = 4 has a few hundred.
DEFAULT_MAX_TREE_NODES = 2048


@dataclass
class TargetScores:
    """Per target (the ids from ``first_target`` on): base tokens covered, log-probability in
    nats under each metric asked for, the model's argmax id and whether it was the strict target
    (when asked for: it costs one more pass over the logits), how
    many tree nodes the exact metric fed, and the seconds spent in the canonical (strict) pass
    and in the multi-view work after it."""

    lengths: np.ndarray
    logprobs: dict[str, np.ndarray]
    greedy: np.ndarray | None = None
    predictions: np.ndarray | None = None
    tree_nodes: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def _group_logsumexp(values: torch.Tensor, groups: torch.Tensor, count: int) -> torch.Tensor:
    """``logsumexp`` of ``values`` within each of ``count`` groups (every group non-empty)."""
    peak = values.new_full((count,), float("-inf")).scatter_reduce(
        0, groups, values, "amax", include_self=True
    )
    total = values.new_zeros(count).index_add(0, groups, (values - peak[groups]).exp())
    result: torch.Tensor = peak + total.log()
    return result


@torch.no_grad()
def score_segmentation(
    model: Zip2ZipForCausalLM,
    segmentation: Segmentation,
    first_target: int = 1,
    metrics: Collection[str] = ("strict",),
    *,
    max_tree_nodes: int = DEFAULT_MAX_TREE_NODES,
    greedy: bool = False,
) -> TargetScores:
    """Scores ``segmentation.ids[first_target:]`` given the ids before them.

    ``strict``: the log-probability of each canonical id. ``first``: the probability of every
    valid first piece of the id's base span, summed. ``exact``: the span's probability summed
    over all its segmentations, each scored after the canonical prefix (one packed forward per
    chunk of trees; see ``evaluation.tree``).
    """
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown:
        raise EvaluationError(f"unknown metrics {unknown}; known: {list(METRICS)}")
    if max_tree_nodes < 1:
        raise EvaluationError(f"max_tree_nodes must be at least 1, got {max_tree_nodes}")
    count = len(segmentation.ids)
    if not 1 <= first_target < count:
        raise EvaluationError(
            f"first_target must be in [1, {count}) for {count} ids (a target needs a context)"
        )
    config = model.compression
    device = model.device
    ids = torch.from_numpy(segmentation.ids).to(device)[None]
    targets = count - first_target
    multi_view = config.max_codebook_size > 0 and bool({"first", "exact"} & set(metrics))
    exact = multi_view and "exact" in metrics
    started = time.perf_counter()
    state = model.new_state(1)
    out = model(ids[:, :-1], state=state, use_cache=exact, logits_to_keep=targets)
    # One fused pass, as transformers' own scoring does (logsumexp is several times slower).
    logprobs = out.logits[0].float().log_softmax(-1)
    wanted = ids[0, first_target:]
    strict = logprobs.gather(1, wanted[:, None])[:, 0]
    predictions = logprobs.argmax(-1) if greedy else None
    scores = TargetScores(
        lengths=segmentation.lengths[first_target:].copy(),
        logprobs={},
        greedy=None if predictions is None else (predictions == wanted).cpu().numpy(),
        predictions=None if predictions is None else predictions.cpu().numpy(),
    )
    for metric in metrics:
        scores.logprobs[metric] = strict.cpu().numpy()
    strict_done = time.perf_counter()
    scores.seconds["strict"] = strict_done - started
    if not multi_view:
        return scores
    lattice = Lattice(config, segmentation.base)
    edges = lattice.edges()
    alternatives = alternatives_by_position(
        len(segmentation.base), edges.starts, edges.ids, edges.lengths
    )
    trees = build_trees(segmentation, first_target, alternatives)
    if "first" in metrics:
        scores.logprobs["first"] = _first_piece(trees, logprobs).cpu().numpy()
    if exact:
        # The entries of the last id's span are created only once that id is fed.
        state.update(ids[:, -1:], None, next_columns=0)
        node_logprobs = _node_logprobs(
            model, state, trees, segmentation, first_target, out.past_key_values, max_tree_nodes
        )
        scores.logprobs["exact"] = _exact(trees, logprobs, node_logprobs).cpu().numpy()
        scores.tree_nodes = trees.nodes
    scores.seconds["multi_view"] = time.perf_counter() - strict_done
    return scores


def _first_piece(trees: SpanTrees, logprobs: torch.Tensor) -> torch.Tensor:
    """Every term at a canonical row is a valid first piece of that row's target; each piece
    appears once per path through it, so keep one term per (row, id)."""
    rows = np.asarray(trees.term_rows)
    pieces = np.asarray(trees.term_ids)
    canonical = rows < trees.targets
    pairs = np.unique(np.stack([rows[canonical], pieces[canonical]]), axis=1)
    row_t = torch.from_numpy(pairs[0]).to(logprobs.device)
    piece_t = torch.from_numpy(pairs[1]).to(logprobs.device)
    values = logprobs[row_t, piece_t]
    return _group_logsumexp(values, row_t, trees.targets)


def _exact(
    trees: SpanTrees,
    logprobs: torch.Tensor,
    nodes: list[tuple[torch.Tensor, torch.Tensor]],
) -> torch.Tensor:
    device = logprobs.device
    rows = np.asarray(trees.term_rows)
    pieces = torch.tensor(trees.term_ids, dtype=torch.long, device=device)
    values = torch.empty(len(rows), dtype=torch.float32, device=device)
    canonical = torch.from_numpy(np.flatnonzero(rows < trees.targets)).to(device)
    canonical_rows = torch.from_numpy(rows[rows < trees.targets]).to(device)
    values[canonical] = logprobs[canonical_rows, pieces[canonical]]
    for terms, logprobs in nodes:
        values[terms] = logprobs
    paths = torch.tensor(trees.term_paths, dtype=torch.long, device=device)
    path_values = values.new_zeros(len(trees.path_targets)).index_add(0, paths, values)
    path_targets = torch.tensor(trees.path_targets, dtype=torch.long, device=device)
    return _group_logsumexp(path_values, path_targets, trees.targets)


def _node_logprobs(
    model: Zip2ZipForCausalLM,
    state: HyperState,
    trees: SpanTrees,
    segmentation: Segmentation,
    first_target: int,
    cache: Any,
    max_tree_nodes: int,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``(term indices, log-probabilities)`` of the terms scored at tree nodes, per chunk."""
    config = model.compression
    device = model.device
    cached = len(segmentation.ids) - 1
    # What a model may choose from after each base prefix (a pure function of that prefix).
    traced = BatchCodebookState(config, 1).update_traced(segmentation.base[None])
    sizes, pending = traced.sizes, traced.next_entries
    recycled = None
    if config.eviction != "none" and (sizes >= config.max_codebook_size).any():
        recycled = _RecycledNodes(model, traced, trees)
    term_rows = np.asarray(trees.term_rows)
    ends = np.asarray(trees.node_ends)
    if model.position_mode == "sequential":
        node_targets = np.asarray(trees.node_targets)
        positions = first_target + node_targets - 1 + np.asarray(trees.node_depths)
    else:
        positions = ends - 1
    blocked = torch.finfo(model.dtype).min
    out: list[tuple[torch.Tensor, torch.Tensor]] = []
    for start, stop in trees.chunks(max_tree_nodes):
        columns = ends[start:stop] - 1
        view = _node_view(model, sizes[0, columns], pending[0, columns])
        if recycled is not None:
            view = recycled.view(view, traced.next_ids[0, columns], start, stop)
        allowed = torch.from_numpy(tree_attention(trees, first_target, cached, start, stop))
        mask = torch.zeros(allowed.shape, dtype=model.dtype).masked_fill(~allowed, blocked)
        node_ids_host = np.asarray(trees.node_ids[start:stop], dtype=np.int64)
        if recycled is None:
            state.prepare_inputs(node_ids_host[None])
        node_ids = torch.from_numpy(node_ids_host).to(device)
        result = model._forward_fed(
            node_ids[None],
            mask[None, None].to(device),
            None,
            position_ids=torch.from_numpy(positions[start:stop]).to(device)[None],
            state=state,
            view=view,
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=0,
        )
        # Drop this chunk's keys and values: the next chunk sees the canonical columns only.
        cache.crop(-(stop - start))
        assert result.logits is not None
        logits = result.logits[0].float()
        terms = np.flatnonzero(
            (term_rows >= trees.targets + start) & (term_rows < trees.targets + stop)
        )
        local = torch.from_numpy(term_rows[terms] - trees.targets - start).to(device)
        pieces = torch.from_numpy(np.asarray(trees.term_ids)[terms]).to(device)
        values = logits.log_softmax(-1)[local, pieces]
        out.append((torch.from_numpy(terms).to(device), values))
    return out


def _node_view(model: Zip2ZipForCausalLM, sizes: np.ndarray, pending: np.ndarray) -> StepView:
    """The :class:`StepView` of a chunk of nodes, from the base trace at each node's end."""
    device = model.device
    next_columns = np.flatnonzero(pending[:, 0] >= 0)
    subtokens = torch.from_numpy(pending[next_columns]).to(device)
    weight = model.base_model.get_output_embeddings().weight
    vectors = (
        model.output_encoder(subtokens, weight)
        if len(next_columns)
        else weight.new_zeros((0, weight.shape[1]))
    )
    columns_t = torch.from_numpy(next_columns).to(device)
    return StepView(
        sizes=torch.from_numpy(sizes.astype(np.int64)).to(device)[None],
        next_rows=torch.zeros_like(columns_t),
        next_columns=columns_t,
        next_columns_host=next_columns,
        next_vectors=vectors,
    )


class _RecycledNodes:
    """Tree nodes over a window whose evicting codebook recycles slots: each node reads the
    entry its id stands for where the node starts, and scores the entries the slots hold where
    it ends (the codebook after a base prefix is a pure function of it; see
    ``zip2zip_tokenizers.torch.entry_versions``). ``traced``: the window's base ids fed to a
    fresh codebook."""

    def __init__(self, model: Zip2ZipForCausalLM, traced: TracedUpdate, trees: SpanTrees) -> None:
        config = model.compression
        vocab = config.initial_vocab_size
        device = model.device
        self.model = model
        self.creations = Creations.of(
            traced.rows, traced.columns, traced.hyper_ids - vocab, traced.subtokens, 0
        )
        weight = model.base_model.get_output_embeddings().weight
        outputs = encode_entries(model.output_encoder, self.creations.entries, weight)
        index = [torch.from_numpy(a).to(device) for a in self._creation_arrays()]
        self.versions = EntryVersions(
            outputs=outputs[None],
            start=torch.full((1, config.max_codebook_size), -1, dtype=torch.long, device=device),
            creation_rows=index[0],
            creation_columns=index[1],
            creation_slots=index[2],
            creation_versions=index[3],
            creation_columns_host=self.creations.columns,
            columns=np.asarray(trees.node_ends, dtype=np.int64) - 1,
        )
        ids = np.asarray(trees.node_ids, dtype=np.int64)
        starts = np.asarray(trees.node_starts, dtype=np.int64)
        self.hyper = np.flatnonzero(ids >= vocab)
        read_starts = starts[self.hyper]
        after = np.where(traced.next_ids[0] >= 0, traced.next_ids[0] - vocab, -1)
        pending = np.where(read_starts > 0, after[(read_starts - 1).clip(min=0)], -1)
        versions = read_versions(
            self.creations,
            np.zeros(len(self.hyper), dtype=np.int64),
            read_starts,
            ids[self.hyper] - vocab,
            pending,
            np.zeros(len(self.hyper), dtype=bool),
        )
        self.read_entries = self.creations.entries[versions]

    def _creation_arrays(self) -> list[np.ndarray]:
        c = self.creations
        return [c.rows, c.columns, c.slots, c.versions]

    def view(self, view: StepView, next_ids: np.ndarray, start: int, stop: int) -> StepView:
        """``view`` (nodes ``start .. stop``) with the entries each node reads and scores."""
        model = self.model
        vocab = model.initial_vocab_size
        device = model.device
        weight = model.base_model.get_input_embeddings().weight
        read_vectors = weight.new_zeros((1, stop - start, weight.shape[1]))
        inside = (self.hyper >= start) & (self.hyper < stop)
        if inside.any():
            vectors = encode_entries(model.input_encoder, self.read_entries[inside], weight)
            columns = torch.from_numpy(self.hyper[inside] - start).to(device)
            read_vectors[0, columns] = vectors.to(read_vectors.dtype)
        next_slots = next_ids[view.next_columns_host] - vocab
        taken = np.flatnonzero(next_ids >= vocab)
        taken_t = torch.from_numpy(taken).to(device)
        return replace(
            view,
            next_slots=torch.from_numpy(next_slots).to(device),
            versions=self.versions.select(slice(start, stop)),
            read_vectors=read_vectors,
            recycles=True,
            taken=TakenSlots(
                rows=torch.zeros_like(taken_t),
                columns=taken_t,
                columns_host=taken,
                slots=torch.from_numpy(next_ids[taken] - vocab).to(device),
            ),
        )

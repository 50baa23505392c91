"""Per-row codebooks and the embeddings of their entries, kept in step with the ids a batch reads.

A :class:`HyperState` feeds every id a batch reads (prompt, then each generated id) to a native
``BatchCodebookState`` and embeds only the entries each update reports as new: never the whole
codebook, never padded to ``max_codebook_size`` rows. A generation step computes the input
vector of an entry only when the entry is first read (most never are). It also computes, for
the columns whose logits are wanted, the output vector of the entry the next hypertoken id would
create (LZW's KwKwK case), so that id can be scored exactly when it is valid and is ``-inf``
when it is not (or always, with the authors' rule).

Under autograd (training, full forwards) the tables are rebuilt out of place so gradients reach
the encoders; without it (generation) new rows are written in place into caches that grow by
doubling.

Once an evicting codebook is full, new entries recycle slots: an update then says which entry
each id read and each slot holds at each column (``StepView.read_vectors``, ``.versions``;
docs/model.md, "Recycled slots"), and the tables keep each slot's newest entry.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from zip2zip_tokenizers._core import (
    BatchCodebookState,
    CompressionConfig,
    InvalidArgumentError,
    InvalidTokenError,
    TracedUpdate,
)
from zip2zip_tokenizers.slot_reads import Creations, read_versions
from zip2zip_tokenizers.torch.entry_encoding import encode_entries, encode_entries_together
from zip2zip_tokenizers.torch.entry_versions import EntryVersions
from zip2zip_tokenizers.torch.ops import scatter_rows_


@dataclass
class TakenSlots:
    """Where the next id would recycle a slot (row, column, slot): there the id stands for the
    would-be entry, so the slot's old entry cannot follow (``-inf`` unless the would-be entry is
    scored). ``columns_host``: ``columns`` on the host."""

    rows: torch.Tensor
    columns: torch.Tensor
    columns_host: np.ndarray
    slots: torch.Tensor

    def between(self, start: int, stop: int) -> TakenSlots:
        """Those of columns ``[start, stop)``, numbered from ``start``."""
        keep_host = np.flatnonzero((self.columns_host >= start) & (self.columns_host < stop))
        keep = torch.from_numpy(keep_host).to(self.rows.device)
        return TakenSlots(
            rows=self.rows[keep],
            columns=self.columns[keep] - start,
            columns_host=self.columns_host[keep_host] - start,
            slots=self.slots[keep],
        )


@dataclass
class StepView:
    """What the model may choose from after each column of the last update.

    ``sizes[b, t]``: hypertokens row ``b`` has after column ``t``. Where the next hypertoken id
    would be valid (the about-to-be-created entry), ``(next_rows[i], next_columns[i])``, row-major,
    its output vector is ``next_vectors[i]``; ``next_columns_host`` is ``next_columns`` on the host.
    The next id's slot is ``next_slots[i]``, or ``sizes`` there when ``None`` (a codebook that
    recycles none: the next entry takes the next free slot).

    Once an evicting codebook recycles slots (``recycles``): ``read_vectors`` / ``read_spans``
    (``[B, T, D]`` / ``[B, T]``) are the input vectors and base-token counts of the entries the
    hypertokens read (a slot may hold another entry by the end of the update), and over several
    columns ``versions`` says which entry each slot holds after each column
    (:class:`EntryVersions`); without ``versions`` the state's table holds the entries scored.
    ``taken``: the slots whose old entry cannot follow a column (:class:`TakenSlots`).
    """

    sizes: torch.Tensor
    next_rows: torch.Tensor
    next_columns: torch.Tensor
    next_columns_host: np.ndarray
    next_vectors: torch.Tensor
    next_slots: torch.Tensor | None = None
    versions: EntryVersions | None = None
    read_vectors: torch.Tensor | None = None
    read_spans: torch.Tensor | None = None
    recycles: bool = False
    taken: TakenSlots | None = None

    def without_next(self) -> StepView:
        """This view with no about-to-be-created slot: the authors' rule for LZW's KwKwK case."""
        return replace(
            self,
            next_rows=self.next_rows[:0],
            next_columns=self.next_columns[:0],
            next_columns_host=self.next_columns_host[:0],
            next_vectors=self.next_vectors[:0],
            next_slots=None if self.next_slots is None else self.next_slots[:0],
        )


def _host(values: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(values, np.ndarray):
        return values
    array: np.ndarray = values.detach().cpu().numpy()
    return array


#: Table capacities are multiples of this (or the codebook's size). MKL rounds the last
#: ``capacity % 4`` columns of a single-row product ``h @ table^T`` (a decode step's hypertoken
#: logits), and every column of one under 13 wide, differently from a wider product: a slot's
#: logit would depend on the capacity, and differ in its last bit from the authors' runtime,
#: which scores all ``C`` rows at every step.
CAPACITY_MULTIPLE = 16


class _Table:
    """One ``[B, capacity, D]`` table of entry vectors, grown on demand. It starts with one slot,
    so lookups never index an empty table (ids that do not exist are masked out by the caller),
    and grows at its first entry (to a multiple of ``CAPACITY_MULTIPLE``)."""

    def __init__(self, batch: int, width: int, like: torch.Tensor) -> None:
        self.values = like.new_zeros((batch, 1, width))

    def ensure(self, slots: int, limit: int) -> None:
        capacity = self.values.shape[1]
        aligned = capacity % CAPACITY_MULTIPLE == 0 or capacity >= limit
        if slots <= capacity and aligned:
            return
        wanted = max(slots, 2 * capacity, CAPACITY_MULTIPLE)
        rounded = -(-wanted // CAPACITY_MULTIPLE) * CAPACITY_MULTIPLE
        grown = min(rounded, max(limit, slots))
        pad = self.values.new_zeros((self.values.shape[0], grown - capacity, self.values.shape[2]))
        self.values = torch.cat([self.values, pad], dim=1)

    def write(self, rows: torch.Tensor, slots: torch.Tensor, vectors: torch.Tensor) -> None:
        if torch.is_grad_enabled():
            self.values = self.values.index_put((rows, slots), vectors.to(self.values.dtype))
        else:
            scatter_rows_(self.values, rows, slots, vectors)


class HyperState:
    """The codebooks of a batch and the input/output vectors of their entries (see module doc)."""

    def __init__(
        self,
        config: CompressionConfig,
        batch_size: int,
        input_encoder: nn.Module,
        output_encoder: nn.Module,
        input_weight: torch.Tensor,
        output_weight: torch.Tensor,
    ) -> None:
        self.config = config
        self.batch_size = batch_size
        self.codebooks = BatchCodebookState(config, batch_size)
        self._input_encoder = input_encoder
        self._output_encoder = output_encoder
        self._input_weight = input_weight
        self._output_weight = output_weight
        device = input_weight.device
        self.inputs = _Table(batch_size, input_weight.shape[1], input_weight)
        self.outputs = _Table(batch_size, output_weight.shape[1], output_weight)
        self.lengths = torch.zeros((batch_size, 1), dtype=torch.long, device=device)
        self.next_position = torch.zeros(batch_size, dtype=torch.long, device=device)
        # Columns fed so far, masked ones included (the KV cache's length).
        self.columns = 0
        self._entries = np.full((batch_size, 0, config.max_subtokens), -1, dtype=np.int64)
        # Which entries have an input vector (embedded when first read, see ``update``).
        self._embedded = np.zeros((batch_size, 0), dtype=bool)
        self._evicting = config.eviction != "none" and config.max_codebook_size > 0
        # Per row, the slot of the entry the next id would create (LZW's KwKwK case; -1: none),
        # as left by the last column fed: a read of that slot reads that entry (evicting only).
        self._pending = np.full(batch_size, -1, dtype=np.int64)
        # Per row, the base ids (-1 padded) of the id read at the last column fed.
        self._last_reads = np.full((batch_size, config.max_subtokens), -1, dtype=np.int64)
        # Every (ids, mask) fed so far, so rows can be reordered (beam search).
        self._fed: list[tuple[np.ndarray, np.ndarray | None]] = []
        self._in_use = threading.Lock()

    @property
    def device(self) -> torch.device:
        return self._input_weight.device

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Holds the state for one call: a state follows one sequence of calls, so a second
        call while one runs (another thread) is an error, not an interleaved update."""
        if not self._in_use.acquire(blocking=False):
            raise InvalidArgumentError(
                "this HyperState is in use by another call (another thread?): a state follows "
                "one sequence of calls at a time"
            )
        try:
            yield
        finally:
            self._in_use.release()

    def made_by(self, input_encoder: nn.Module, output_encoder: nn.Module) -> bool:
        """Whether this state embeds its entries with these encoders."""
        return self._input_encoder is input_encoder and self._output_encoder is output_encoder

    def update(
        self,
        ids: torch.Tensor | np.ndarray,
        attention_mask: torch.Tensor | np.ndarray | None,
        *,
        next_columns: int | None = None,
    ) -> StepView:
        """Feeds ``ids`` (``[B, T]``; masked-out positions skipped), embeds the new entries'
        output vectors and the input vectors of the entries these ids read, and returns what the
        model may choose from after each column.

        ``next_columns``: how many of the last columns need the vector of the entry the next id
        would create (LZW's KwKwK slot); ``None``: every column, ``0``: none (the slot is masked,
        or no logits are wanted). Host arrays are accepted as they are; device tensors are copied
        to the host once. What goes back to the device travels in one copy, and nothing here
        waits for the device.
        """
        ids_np = _host(ids)
        mask_np = None if attention_mask is None else _host(attention_mask)
        traced = self.codebooks.update_traced(ids_np, mask_np)
        self._fed.append((ids_np, mask_np))
        rows, hyper_ids, subtokens = traced.rows, traced.hyper_ids, traced.subtokens
        sizes, next_entries = traced.sizes, traced.next_entries
        self.columns += ids_np.shape[1]
        if self.config.max_codebook_size == 0:
            self._remember_last_reads(ids_np, mask_np, None)
            return self._empty_view(sizes.shape)
        if self._evicting:
            pending_slots = self._pending_before(traced.next_ids, mask_np)
            # Once full, a new entry recycles a slot: see ``_update_recycling``.
            if (sizes >= self.config.max_codebook_size).any():
                return self._update_recycling(ids_np, mask_np, traced, pending_slots, next_columns)
        next_rows, next_cols = np.nonzero(next_entries[:, :, 0] >= 0)
        if next_columns is not None:
            wanted = next_cols >= ids_np.shape[1] - next_columns
            next_rows, next_cols = next_rows[wanted], next_cols[wanted]
        slots = hyper_ids - self.config.initial_vocab_size
        if len(slots):
            self._record(rows, slots, subtokens)
        shared = (
            self._input_encoder is self._output_encoder
            and self._input_weight is self._output_weight
        )
        # A step (one column) embeds the input vectors of the entries it reads, when first read:
        # most entries created while generating are never read. A longer update (a prompt, a
        # full forward) embeds all its new entries in one call, as the authors' runtime does,
        # so full forwards stay bit-equal with theirs. With one encoder for both, the output
        # vector is the input vector.
        read_rows, read_slots = self._reads(ids_np, mask_np)
        if ids_np.shape[1] > 1:
            read_rows, read_slots = (
                np.concatenate([rows, read_rows]),
                np.concatenate([slots, read_slots]),
            )
        if shared:
            read_rows, read_slots = rows[:0], slots[:0]
        else:
            read_rows, read_slots = self._unembedded(read_rows, read_slots)
        parts = [sizes, next_rows, next_cols, next_entries[next_rows, next_cols], rows, slots]
        parts += [subtokens, read_rows, read_slots, self._entries[read_rows, read_slots]]
        flat = torch.from_numpy(np.concatenate([p.reshape(-1) for p in parts])).to(self.device)
        pieces = iter(torch.split(flat, [p.size for p in parts]))
        sizes_t = next(pieces).view(sizes.shape)
        next_rows_t, next_columns_t = next(pieces), next(pieces)
        pending = next(pieces).view(-1, self.config.max_subtokens)
        rows_t, slots_t = next(pieces), next(pieces)
        sub_t = next(pieces).view(subtokens.shape)
        read_rows_t, read_slots_t = next(pieces), next(pieces)
        read_sub_t = next(pieces).view(-1, self.config.max_subtokens)
        # Training (autograd, many columns): each distinct entry encoded once, unpadded. Without
        # autograd (generation, scoring) the entries are encoded as they are, so inference stays
        # bit-equal with the authors' runtime (other shapes round differently).
        many = ids_np.shape[1] > 1 and torch.is_grad_enabled()
        new_inputs = None
        # One output-encoder pass embeds the new entries and the would-be next entries.
        if not len(sub_t) + len(pending):
            outputs = self._output_weight.new_zeros((0, self._output_weight.shape[1]))
        elif not many:
            outputs = self._output_encoder(torch.cat([sub_t, pending]), self._output_weight)
        else:
            every = np.concatenate([subtokens, next_entries[next_rows, next_cols]])
            jobs = [(self._output_encoder, every)]
            # A tied model's two encoders read one gathered copy of the table.
            together = len(read_rows) > 0 and self._input_weight is self._output_weight
            if together:
                jobs.append((self._input_encoder, self._entries[read_rows, read_slots]))
            encoded = encode_entries_together(jobs, self._output_weight)
            outputs = encoded[0]
            if together:
                new_inputs = encoded[1]
        new_outputs, next_vectors = outputs[: len(sub_t)], outputs[len(sub_t) :]
        if len(slots):
            self.outputs.write(rows_t, slots_t, new_outputs)
            self.lengths[rows_t, slots_t] = (sub_t >= 0).sum(1)
            if shared:
                self.inputs.write(rows_t, slots_t, new_outputs)
                self._embedded[rows, slots] = True
        if len(read_rows):
            if new_inputs is None and many:
                new_inputs = encode_entries(
                    self._input_encoder, self._entries[read_rows, read_slots], self._input_weight
                )
            if new_inputs is None:
                self._embed_inputs(read_rows, read_slots, read_rows_t, read_slots_t, read_sub_t)
            else:
                self.inputs.write(read_rows_t, read_slots_t, new_inputs)
                self._embedded[read_rows, read_slots] = True
        self._remember_last_reads(ids_np, mask_np, None)
        return StepView(
            sizes=sizes_t,
            next_rows=next_rows_t,
            next_columns=next_columns_t,
            next_columns_host=next_cols,
            next_vectors=next_vectors,
        )

    def _pending_before(self, next_ids: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        """``[B, T]``: the about-to-be-created slot (-1: none) before each column, from the last
        unmasked column before it (or the previous update); keeps the last one for the next."""
        batch, steps = next_ids.shape
        after = np.where(next_ids >= 0, next_ids - self.config.initial_vocab_size, -1)
        fed = np.ones((batch, steps), dtype=bool) if mask is None else mask.astype(bool)
        last = np.maximum.accumulate(np.where(fed, np.arange(steps), -1), axis=1)
        previous = np.concatenate([np.full((batch, 1), -1), last[:, :-1]], axis=1)
        before = np.where(
            previous >= 0,
            np.take_along_axis(after, previous.clip(min=0), axis=1),
            self._pending[:, None],
        )
        if steps:
            end = last[:, -1]
            self._pending = np.where(
                end >= 0, after[np.arange(batch), end.clip(min=0)], self._pending
            )
        return before

    def _update_recycling(
        self,
        ids: np.ndarray,
        mask: np.ndarray | None,
        traced: TracedUpdate,
        pending: np.ndarray,
        next_columns: int | None,
    ) -> StepView:
        """``update`` once an evicting codebook is full: a new entry may take a slot that held
        another entry, even one this update reads. Each read gets the input vector of the entry
        its slot held when it was read (or the KwKwK entry it creates); over several columns the
        logits score each slot with the entry it holds after each column
        (:class:`EntryVersions`). The tables keep each slot's newest entry, its input vector
        left to be embedded when next read."""
        vocab, width = self.config.initial_vocab_size, self.config.max_subtokens
        batch, steps = ids.shape
        held = self._entries[:, :, 0] >= 0
        before = self.outputs.values.shape[1]
        creations = Creations.of(
            traced.rows, traced.columns, traced.hyper_ids - vocab, traced.subtokens, before
        )
        read_rows, read_columns, read_slots = self._read_positions(ids, mask)
        known = read_slots < held.shape[1]
        held_read = np.zeros(len(read_slots), dtype=bool)
        held_read[known] = held[read_rows[known], read_slots[known]]
        versions = read_versions(
            creations,
            read_rows,
            read_columns,
            read_slots,
            pending[read_rows, read_columns],
            held_read,
        )
        old = versions < before
        # Entries held before the update: their input vectors, embedded when first read.
        old_rows, old_slots = self._unembedded(read_rows[old], read_slots[old])
        if len(old_rows):
            entries = self._entries[old_rows, old_slots]
            rows_t, slots_t, entries_t = self._to_device(old_rows, old_slots, entries)
            self._embed_inputs(old_rows, old_slots, rows_t, slots_t, entries_t.view(entries.shape))
        read_entries = np.empty((len(versions), width), dtype=np.int64)
        read_entries[old] = self._entries[read_rows[old], read_slots[old]]
        read_entries[~old] = creations.entries[creations.index(read_rows[~old], versions[~old])]
        device = self.device
        table = self.inputs.values
        read_vectors = table.new_zeros((batch, steps, table.shape[2]))
        rows_t, columns_t = self._to_device(read_rows, read_columns)
        if len(versions):
            vectors = table.new_zeros((len(versions), table.shape[2]))
            old_t = torch.from_numpy(np.flatnonzero(old)).to(device)
            new_t = torch.from_numpy(np.flatnonzero(~old)).to(device)
            if len(old_t):
                slots_t = torch.from_numpy(read_slots[old]).to(device)
                vectors = vectors.index_put((old_t,), table[rows_t[old_t], slots_t])
            if len(new_t):
                encoded = encode_entries(
                    self._input_encoder, read_entries[~old], self._input_weight
                )
                vectors = vectors.index_put((new_t,), encoded.to(vectors.dtype))
            read_vectors = read_vectors.index_put((rows_t, columns_t), vectors)
        spans = np.ones((batch, steps), dtype=np.int64)
        spans[read_rows, read_columns] = (read_entries >= 0).sum(1)
        # Output vectors: every entry created here, and each wanted would-be entry.
        next_rows, next_cols = np.nonzero(traced.next_entries[:, :, 0] >= 0)
        if next_columns is not None:
            wanted = next_cols >= steps - next_columns
            next_rows, next_cols = next_rows[wanted], next_cols[wanted]
        next_entries = traced.next_entries[next_rows, next_cols]
        outputs = encode_entries(
            self._output_encoder,
            np.concatenate([creations.entries, next_entries]),
            self._output_weight,
        )
        created, next_vectors = outputs[: len(creations.rows)], outputs[len(creations.rows) :]
        entry_versions = None
        if steps > 1:
            entry_versions = self._versions(creations, created, held, steps)
        self._keep_newest(creations, created)
        self._remember_last_reads(ids, mask, (read_rows, read_columns, read_entries))
        taken_rows, taken_cols = np.nonzero(traced.next_ids >= vocab)
        taken_slots = traced.next_ids[taken_rows, taken_cols] - vocab
        sizes_t, next_rows_t, next_cols_t, next_slots_t, *taken_t = self._to_device(
            traced.sizes,
            next_rows,
            next_cols,
            traced.next_ids[next_rows, next_cols] - vocab,
            taken_rows,
            taken_cols,
            taken_slots,
        )
        return StepView(
            sizes=sizes_t.view(traced.sizes.shape),
            next_rows=next_rows_t,
            next_columns=next_cols_t,
            next_columns_host=next_cols,
            next_vectors=next_vectors,
            next_slots=next_slots_t,
            versions=entry_versions,
            read_vectors=read_vectors,
            read_spans=torch.from_numpy(spans).to(device),
            recycles=True,
            taken=TakenSlots(taken_t[0], taken_t[1], taken_cols.astype(np.int64), taken_t[2]),
        )

    def _versions(
        self, creations: Creations, created: torch.Tensor, held: np.ndarray, steps: int
    ) -> EntryVersions:
        """The versions of an update's columns: the table as it was, then what was created."""
        table = self.outputs.values
        extra = table.new_zeros((self.batch_size, creations.per_row, table.shape[2]))
        if len(creations.rows):
            rows_t, local_t = self._to_device(creations.rows, creations.versions - creations.held)
            extra = extra.index_put((rows_t, local_t), created.to(extra.dtype))
        start = np.full((self.batch_size, self.config.max_codebook_size), -1, dtype=np.int64)
        slots = min(held.shape[1], start.shape[1])
        start[:, :slots] = np.where(held[:, :slots], np.arange(slots), -1)
        parts = self._to_device(
            start, creations.rows, creations.columns, creations.slots, creations.versions
        )
        return EntryVersions(
            outputs=torch.cat([table, extra], dim=1),
            start=parts[0].view(start.shape),
            creation_rows=parts[1],
            creation_columns=parts[2],
            creation_slots=parts[3],
            creation_versions=parts[4],
            creation_columns_host=creations.columns,
            columns=np.arange(steps, dtype=np.int64),
        )

    def _keep_newest(self, creations: Creations, created: torch.Tensor) -> None:
        """Writes each slot's newest entry into the tables; its input vector is embedded when
        the slot is next read."""
        if not len(creations.rows):
            return
        keys = creations.rows * self.config.max_codebook_size + creations.slots
        # The last creation of each (row, slot).
        _, from_end = np.unique(keys[::-1], return_index=True)
        newest = len(keys) - 1 - from_end
        rows, slots = creations.rows[newest], creations.slots[newest]
        entries = creations.entries[newest]
        self._record(rows, slots, entries)
        self._embedded[rows, slots] = False
        rows_t, slots_t, index_t, lengths_t = self._to_device(
            rows, slots, newest, (entries >= 0).sum(1)
        )
        self.outputs.write(rows_t, slots_t, created[index_t])
        self.lengths[rows_t, slots_t] = lengths_t

    def _to_device(self, *arrays: np.ndarray) -> list[torch.Tensor]:
        """Host int64 arrays on the device, flattened, in one copy."""
        flat = np.concatenate([np.asarray(a, dtype=np.int64).reshape(-1) for a in arrays])
        return list(torch.split(torch.from_numpy(flat).to(self.device), [a.size for a in arrays]))

    def _remember_last_reads(
        self,
        ids: np.ndarray,
        mask: np.ndarray | None,
        reads: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    ) -> None:
        """Keeps the base ids each row read at the last column fed (rows masked there keep
        theirs). ``reads``: ``(rows, columns, entries)`` of the hypertokens read, when a slot may
        hold another entry by now; else the tables say."""
        if not ids.shape[1]:
            return
        last = ids[:, -1].astype(np.int64)
        fed = np.ones(len(last), dtype=bool) if mask is None else mask[:, -1].astype(bool)
        vocab = self.config.initial_vocab_size
        base = fed & (last < vocab)
        self._last_reads[base] = -1
        self._last_reads[base, 0] = last[base]
        hyper = fed & (last >= vocab)
        if not hyper.any():
            return
        if reads is None:
            rows = np.flatnonzero(hyper)
            self._last_reads[rows] = self._entries[rows, last[rows] - vocab]
            return
        rows, columns, entries = reads
        at_end = columns == ids.shape[1] - 1
        self._last_reads[rows[at_end]] = entries[at_end]

    def last_read(self, row: int) -> list[int]:
        """The base ids of the id row ``row`` read at the last column fed (a slot may hold
        another entry by the end of that column once an evicting codebook is full)."""
        if not 0 <= row < self.batch_size:
            raise InvalidArgumentError(f"row {row} of a state of {self.batch_size} rows")
        entry = self._last_reads[row]
        if entry[0] < 0:
            raise InvalidTokenError(f"row {row} has read no id yet")
        return [int(t) for t in entry[entry >= 0]]

    def prepare_inputs(self, ids: np.ndarray) -> None:
        """Embeds the input vectors of the hypertokens in ``ids`` (``[B, T]`` host ids of
        entries that exist) that have none yet: for ids run through the model without being
        fed (the scorer's alternative segmentations)."""
        read_rows, read_slots = self._unembedded(*self._reads(ids, None))
        if len(read_rows):
            parts = [read_rows, read_slots, self._entries[read_rows, read_slots]]
            flat = torch.from_numpy(np.concatenate([p.reshape(-1) for p in parts]))
            rows_t, slots_t, sub_t = torch.split(flat.to(self.device), [p.size for p in parts])
            sub_t = sub_t.view(-1, self.config.max_subtokens)
            self._embed_inputs(read_rows, read_slots, rows_t, slots_t, sub_t)

    def _reads(self, ids: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """``(row, slot)`` of every hypertoken in ``ids`` (masked-out positions skipped)."""
        rows, _, slots = self._read_positions(ids, mask)
        return rows, slots

    def _read_positions(
        self, ids: np.ndarray, mask: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(row, column, slot)`` of every hypertoken in ``ids`` (masked-out ones skipped)."""
        vocab = self.config.initial_vocab_size
        is_hyper = ids >= vocab
        if mask is not None:
            is_hyper &= mask.astype(bool)
        rows, columns = np.nonzero(is_hyper)
        slots = ids[rows, columns].astype(np.int64) - vocab
        return rows.astype(np.int64), columns.astype(np.int64), slots

    def _unembedded(self, rows: np.ndarray, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The distinct ``(row, slot)`` pairs among these without an input vector, in order."""
        todo = ~self._embedded[rows, slots]
        if not todo.any():
            return rows[:0], slots[:0]
        pairs = np.unique(np.stack([rows[todo], slots[todo]]), axis=1)
        return pairs[0], pairs[1]

    def _embed_inputs(
        self,
        rows: np.ndarray,
        slots: np.ndarray,
        rows_t: torch.Tensor,
        slots_t: torch.Tensor,
        subtokens: torch.Tensor,
    ) -> None:
        self.inputs.write(rows_t, slots_t, self._input_encoder(subtokens, self._input_weight))
        self._embedded[rows, slots] = True

    def _empty_view(self, shape: tuple[int, ...]) -> StepView:
        """Without a codebook nothing is ever created or scored."""
        empty = torch.zeros(0, dtype=torch.long, device=self.device)
        return StepView(
            sizes=torch.zeros(shape, dtype=torch.long, device=self.device),
            next_rows=empty,
            next_columns=empty,
            next_columns_host=np.zeros(0, dtype=np.int64),
            next_vectors=self._output_weight.new_zeros((0, self._output_weight.shape[1])),
        )

    def _record(self, rows: np.ndarray, slots: np.ndarray, subtokens: np.ndarray) -> None:
        """Makes room for the new entries (tables grown together) and keeps their base ids."""
        needed = int(slots.max()) + 1
        limit = self.config.max_codebook_size
        self.inputs.ensure(needed, limit)
        self.outputs.ensure(needed, limit)
        capacity = self.outputs.values.shape[1]
        if self.lengths.shape[1] < capacity:
            grow = capacity - self.lengths.shape[1]
            self.lengths = torch.cat(
                [self.lengths, self.lengths.new_zeros((self.batch_size, grow))], 1
            )
        if self._entries.shape[1] < needed:
            grown = np.full_like(
                self._entries, -1, shape=(self.batch_size, capacity, subtokens.shape[1])
            )
            grown[:, : self._entries.shape[1]] = self._entries
            self._entries = grown
            embedded = np.zeros((self.batch_size, capacity), dtype=bool)
            embedded[:, : self._embedded.shape[1]] = self._embedded
            self._embedded = embedded
        self._entries[rows, slots] = subtokens

    def reorder(self, rows: np.ndarray) -> None:
        """Makes row ``rows[i]`` of this state (codebook, entry vectors, positions) row ``i``, as
        beam search does with its beams; rows may repeat or be dropped (same batch size)."""
        rows = np.asarray(rows)
        if (
            rows.shape != (self.batch_size,)
            or rows.dtype.kind not in "iu"
            or not ((rows >= 0) & (rows < self.batch_size)).all()
        ):
            raise InvalidArgumentError(
                f"reorder needs {self.batch_size} row indices in [0, {self.batch_size}), got "
                f"{rows.tolist()!r}"
            )
        ids = np.concatenate([i for i, _ in self._fed], axis=1)[rows]
        masks = [np.ones_like(i) if m is None else m for i, m in self._fed]
        mask = np.concatenate(masks, axis=1)[rows]
        # The native state has no row copy: replay the reordered history (ns per id in Rust).
        self.codebooks = BatchCodebookState(self.config, self.batch_size)
        self.codebooks.update(ids, mask)
        self._fed = [(ids, mask)]
        index = torch.from_numpy(np.asarray(rows, dtype=np.int64)).to(self.device)
        self.inputs.values = self.inputs.values[index]
        self.outputs.values = self.outputs.values[index]
        self.lengths = self.lengths[index]
        self.next_position = self.next_position[index]
        self._entries = self._entries[rows]
        self._embedded = self._embedded[rows]
        self._pending = self._pending[rows]
        self._last_reads = self._last_reads[rows]

    def base_ids(self, row: int, id: int) -> list[int]:
        """The base ids ``id`` stands for in row ``row`` now (it must have been fed already; under
        eviction, a recycled slot's id stands for the entry that holds the slot now)."""
        if not 0 <= row < self.batch_size:
            raise InvalidArgumentError(f"row {row} of a state of {self.batch_size} rows")
        vocab = self.config.initial_vocab_size
        if 0 <= id < vocab:
            return [id]
        slot = id - vocab
        entry = self._entries[row, slot] if 0 <= slot < self._entries.shape[1] else None
        if entry is None or entry[0] < 0:
            raise InvalidTokenError(f"row {row}: id {id} is no entry this state has read")
        return [int(t) for t in entry[entry >= 0]]

    def hyper_inputs(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(is_hyper, vectors)``: which of ``ids`` are hypertokens and their input vectors."""
        slots, is_hyper = self._slots(ids)
        rows = torch.arange(ids.shape[0], device=ids.device)[:, None].expand_as(ids)
        return is_hyper, self.inputs.values[rows, slots]

    def positions(
        self,
        ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        mode: str,
        spans: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Position ids of ``ids`` (already fed), continuing the previous ones: one per id
        (``"sequential"``) or each id at the position of its last base token
        (``"base_token_end"``; ``spans``: how many base tokens each id read, when the tables may
        hold other entries by now); masked-out ids get 0."""
        if mode == "sequential" and attention_mask is None:
            steps = ids.shape[1]
            start = self.next_position
            self.next_position = start + steps
            return start[:, None] + torch.arange(steps, device=ids.device)
        if mode != "base_token_end":
            spans = torch.ones_like(ids)
        elif spans is None:
            spans = self.spans(ids)
        if attention_mask is not None:
            spans = spans * attention_mask.to(spans.dtype)
        ends = self.next_position[:, None] + spans.cumsum(1) - 1
        self.next_position = self.next_position + spans.sum(1)
        positions = ends.clamp(min=0)
        if attention_mask is not None:
            positions = positions.masked_fill(attention_mask == 0, 0)
        return positions

    def spans(self, ids: torch.Tensor) -> torch.Tensor:
        """How many base tokens each id stands for."""
        slots, is_hyper = self._slots(ids)
        rows = torch.arange(ids.shape[0], device=ids.device)[:, None].expand_as(ids)
        return torch.where(is_hyper, self.lengths[rows, slots], torch.ones_like(ids))

    def _slots(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        vocab = self.config.initial_vocab_size
        is_hyper = ids >= vocab
        slots = (ids - vocab).clamp(0, self.inputs.values.shape[1] - 1)
        return slots, is_hyper

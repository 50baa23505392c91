"""Which entry each hypertoken id of a valid stream stood for where it was read.

Once an evicting codebook is full (``eviction="lru"``, docs/codec.md "Eviction"), a new entry
takes the slot of an old one, so within one stream a hypertoken id can stand for one entry at one
position and for another later. Every entry a slot holds is a *version*: the entries held before
an update's first column are versions ``0 .. P-1`` (by slot), those created during it versions
``P, P+1, ...`` in creation order within each row. Numpy only: the tokenizer uses it, and so does
the model layer (``torch.entry_versions``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zip2zip_tokenizers._core import BatchCodebookState, CompressionConfig


@dataclass
class Creations:
    """The entries an update created, row-major (each row's in creation order): row, column,
    slot, base ids (``[N, M]``, -1 padded) and version of each (``held + `` its rank within its
    row; ``held``: the versions held before the update)."""

    rows: np.ndarray
    columns: np.ndarray
    slots: np.ndarray
    entries: np.ndarray
    versions: np.ndarray
    held: int

    @classmethod
    def of(
        cls,
        rows: np.ndarray,
        columns: np.ndarray,
        slots: np.ndarray,
        entries: np.ndarray,
        held: int,
    ) -> Creations:
        """The creations as a trace lists them (row by row, in column order)."""
        order = np.argsort(rows, kind="stable")
        rows = rows[order].astype(np.int64)
        first = np.searchsorted(rows, rows, side="left")
        versions = held + np.arange(len(rows), dtype=np.int64) - first
        return cls(
            rows,
            columns[order].astype(np.int64),
            slots[order].astype(np.int64),
            entries[order],
            versions,
            held,
        )

    @property
    def per_row(self) -> int:
        """The most entries one row created."""
        return int(self.versions.max()) + 1 - self.held if len(self.versions) else 0

    def index(self, rows: np.ndarray, versions: np.ndarray) -> np.ndarray:
        """Where the creations of these versions of these rows are listed."""
        where: np.ndarray = np.searchsorted(self.rows, rows, side="left") + versions - self.held
        return where


def read_versions(
    creations: Creations,
    rows: np.ndarray,
    columns: np.ndarray,
    slots: np.ndarray,
    pending: np.ndarray,
    held: np.ndarray,
) -> np.ndarray:
    """The version each read of ``slots[i]`` at ``(rows[i], columns[i])`` stands for: the entry the
    slot holds after the column before, except where that slot was the about-to-be-created
    one (``pending[i]``, LZW's KwKwK case), whose entry the read creates first thing at its
    column. ``held[i]``: whether the slot held an entry before the update (version = slot);
    -1 where no version fits (an invalid read)."""
    stride = int(max(columns.max(initial=0), creations.columns.max(initial=0))) + 2
    width = int(max(slots.max(initial=0), creations.slots.max(initial=0))) + 1
    # The slot's last creation before the column: one sorted key per (row, slot, column).
    keys = (creations.rows * width + creations.slots) * stride + creations.columns
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    wanted = (rows * width + slots) * stride + columns
    before = np.searchsorted(sorted_keys, wanted, side="left") - 1
    found = before >= 0
    found[found] = sorted_keys[before[found]] // stride == (rows * width + slots)[found]
    versions = np.where(held, slots, -1).astype(np.int64)
    versions[found] = creations.versions[order[before[found]]]
    # The KwKwK read: the first entry its row creates at that column.
    kwkwk = pending == slots
    if kwkwk.any():
        column_keys = creations.rows * stride + creations.columns
        first = np.searchsorted(column_keys, (rows * stride + columns)[kwkwk], side="left")
        ok = first < len(column_keys)
        ok[ok] = column_keys[first[ok]] == (rows * stride + columns)[kwkwk][ok]
        picked = np.full(int(kwkwk.sum()), -1, dtype=np.int64)
        picked[ok] = creations.versions[first[ok]]
        versions[kwkwk] = picked
    return versions


def id_spans(config: CompressionConfig, ids: np.ndarray) -> np.ndarray:
    """How many base tokens each id of the valid stream ``ids`` (``[n]``, fed to a fresh
    codebook) stands for where it is read: not always its slot's entry at the end, once an
    evicting codebook recycles slots."""
    vocab = config.initial_vocab_size
    ids = np.asarray(ids, dtype=np.int64)
    spans = np.ones(len(ids), dtype=np.int64)
    hyper = np.flatnonzero(ids >= vocab)
    if not len(hyper):
        return spans
    traced = BatchCodebookState(config, 1).update_traced(ids[None])
    creations = Creations.of(
        traced.rows, traced.columns, traced.hyper_ids - vocab, traced.subtokens, 0
    )
    after = np.where(traced.next_ids[0] >= 0, traced.next_ids[0] - vocab, -1)
    pending = np.where(hyper > 0, after[(hyper - 1).clip(min=0)], -1)
    reads = np.zeros(len(hyper), dtype=np.int64)
    versions = read_versions(
        creations, reads, hyper, ids[hyper] - vocab, pending, reads.astype(bool)
    )
    spans[hyper] = (creations.entries[versions] >= 0).sum(1)
    return spans

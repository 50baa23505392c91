"""Which entry each codebook slot holds at each column, when an evicting codebook recycles slots.

Once an evicting codebook is full (``eviction="lru"``, docs/codec.md "Eviction"), a new entry
takes the slot of an old one, so within one multi-column update (a training window, a prompt,
a full forward) a hypertoken id can stand for one entry at one column and for another later.
Every entry a slot holds during the update is a *version*: the entries held before its first
column are versions ``0 .. P-1`` (by slot), those created during it versions ``P, P+1, ...`` in
creation order within each row, so a slot's newest version is its largest. A column reads and
scores the version alive after the column before it (:func:`read_versions`) and after itself
(:meth:`EntryVersions.slot_versions`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

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


@dataclass
class EntryVersions:
    """The output vectors of every version an update's columns may score, and when each slot
    holds which (see the module doc). ``outputs``: ``[B, N, D]``, one row per version; ``start``:
    ``[B, C]`` the version each slot holds before the first column (-1: none); ``creations``
    on the device as ``(rows, columns, slots, versions)``; ``columns``: the update's column of
    each column these logits are for (host)."""

    outputs: torch.Tensor
    start: torch.Tensor
    creation_rows: torch.Tensor
    creation_columns: torch.Tensor
    creation_slots: torch.Tensor
    creation_versions: torch.Tensor
    creation_columns_host: np.ndarray
    columns: np.ndarray

    def select(self, columns: np.ndarray | slice) -> EntryVersions:
        """These versions for some of the columns (``columns`` indexes ``self.columns``)."""
        return replace(self, columns=self.columns[columns])

    def slot_versions(self) -> torch.Tensor:
        """``[B, L, C]``: the version each slot holds after each of ``columns`` (-1: none)."""
        batch, slots = self.start.shape
        device = self.start.device
        if not len(self.columns):
            return self.start.new_zeros((batch, 0, slots))
        low, high = int(self.columns.min()), int(self.columns.max())
        # Versions grow with time within a slot: the newest so far is a running maximum.
        # Shifted by one so that "none" (-1) is 0.
        first = (self.start + 1).reshape(-1)
        earlier = torch.from_numpy(self.creation_columns_host < low).to(device)
        flat = self.creation_rows * slots + self.creation_slots
        first = first.scatter_reduce(
            0, flat[earlier], self.creation_versions[earlier] + 1, "amax", include_self=True
        )
        span = high - low + 1
        grid = self.start.new_zeros((batch, span, slots))
        grid[:, 0] = first.view(batch, slots)
        inside = torch.from_numpy(
            (self.creation_columns_host >= low) & (self.creation_columns_host <= high)
        ).to(device)
        where = (self.creation_rows * span + self.creation_columns - low) * slots
        grid = grid.view(-1).scatter_reduce(
            0,
            (where + self.creation_slots)[inside],
            self.creation_versions[inside] + 1,
            "amax",
            include_self=True,
        )
        grid = grid.view(batch, span, slots).cummax(1).values
        index = torch.from_numpy(self.columns - low).to(device)
        return grid[:, index] - 1

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """``[B, L, C]`` hypertoken logits of ``hidden`` (``[B, L, D]``, one per column): each
        slot scored with the version it holds after that column, ``-inf`` where it holds none."""
        versions = self.slot_versions()
        if not self.outputs.shape[1]:
            return hidden.new_full(versions.shape, float("-inf"))
        scores = torch.bmm(hidden, self.outputs.to(hidden.dtype).transpose(1, 2))
        picked = scores.gather(2, versions.clamp(min=0))
        return picked.masked_fill(versions < 0, float("-inf"))

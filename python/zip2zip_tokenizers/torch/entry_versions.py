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

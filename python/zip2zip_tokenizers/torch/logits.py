"""Logits over the extended vocabulary ``V + C``: base logits ‖ hypertoken logits."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from zip2zip_tokenizers.torch.hyper_state import StepView
from zip2zip_tokenizers.torch.ops import hyper_logits


def extended_logits(
    base_logits: torch.Tensor,
    hidden: torch.Tensor,
    table: torch.Tensor,
    view: StepView,
    max_codebook_size: int,
) -> torch.Tensor:
    """``[B, T, V + C]`` logits for the last ``T`` positions of ``view``.

    Slot ``k`` of row ``b`` at position ``t`` scores ``hidden · table[b, k]`` when the entry
    exists (``k < sizes[b, t]``; with ``view.versions``, the entry the slot holds after that
    column); the one slot the next id would create scores the vector of that would-be entry
    when creating it there is valid; every other slot is ``-inf``.
    """
    if max_codebook_size == 0:
        return base_logits
    steps = hidden.shape[1]
    sizes = view.sizes[:, -steps:]
    rows, columns, next_vectors = view.next_rows, view.next_columns, view.next_vectors
    next_slots, versions = view.next_slots, view.versions
    width = view.sizes.shape[1]
    if steps < width:
        # Keep the valid next entries of the last columns (chosen on the host: no device sync).
        keep_host = np.nonzero(view.next_columns_host >= width - steps)[0]
        keep = torch.from_numpy(keep_host).to(rows.device)
        rows, columns, next_vectors = (
            rows[keep],
            columns[keep] - (width - steps),
            next_vectors[keep],
        )
        next_slots = None if next_slots is None else next_slots[keep]
        versions = None if versions is None else versions.select(slice(width - steps, width))
    hidden = hidden.to(table.dtype)
    hyper = hyper_logits(hidden, table, sizes) if versions is None else versions.logits(hidden)
    hyper = F.pad(hyper, (0, max_codebook_size - hyper.shape[-1]), value=float("-inf"))
    taken = view.taken
    if taken is not None:
        if steps < width:
            taken = taken.between(width - steps, width)
        blocked = hyper.new_full((len(taken.slots),), float("-inf"))
        hyper = hyper.index_put((taken.rows, taken.columns, taken.slots), blocked)
    if next_vectors.shape[0]:
        scores = (hidden[rows, columns] * next_vectors.to(hidden.dtype)).sum(-1)
        # The next id's slot: the next free one, or once full the one it recycles (whose
        # entry it outranks: the next id stands for the new entry there).
        slots = sizes[rows, columns] if next_slots is None else next_slots
        hyper = hyper.index_put((rows, columns, slots), scores)
    return torch.cat([base_logits, hyper.to(base_logits.dtype)], dim=-1)

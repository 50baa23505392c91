"""Logits over the extended vocabulary ``V + C``: base logits ‖ hypertoken logits."""

from __future__ import annotations

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
    exists (``k < sizes[b, t]``); the one slot the next id would create scores the vector of
    that would-be entry when creating it there is valid; every other slot is ``-inf``.
    """
    if max_codebook_size == 0:
        return base_logits
    steps = hidden.shape[1]
    sizes = view.sizes[:, -steps:]
    next_where = view.next_where[:, -steps:]
    next_vectors = view.next_vectors
    if steps < view.next_where.shape[1]:
        # next_vectors follow the valid positions in row-major order; keep the last columns'.
        columns = view.next_where.nonzero(as_tuple=True)[1]
        next_vectors = next_vectors[columns >= view.next_where.shape[1] - steps]
    hidden = hidden.to(table.dtype)
    if table.shape[1]:
        hyper = hyper_logits(hidden, table, sizes)
    else:
        hyper = hidden.new_empty((hidden.shape[0], steps, 0))
    hyper = F.pad(hyper, (0, max_codebook_size - hyper.shape[-1]), value=float("-inf"))
    if next_vectors.shape[0]:
        rows, columns = next_where.nonzero(as_tuple=True)
        scores = (hidden[rows, columns] * next_vectors.to(hidden.dtype)).sum(-1)
        hyper = hyper.index_put((rows, columns, sizes[rows, columns]), scores)
    return torch.cat([base_logits, hyper.to(base_logits.dtype)], dim=-1)

"""Encoding many codebook entries at once: each distinct entry once, and without its padding.

A hyper-encoder is a function of an entry's base ids alone, so entries that recur in a batch
(the same string in several rows' codebooks, or as a new entry and as a would-be KwKwK entry)
are encoded once and their vectors shared (their gradients add up, as they would have). The
transformer encoder also runs each group of equally long entries at that length: an entry of 2
base ids padded to ``M = 4`` would spend half of its projections and MLP on padding that its
result never reads (padding is masked from attention and pooling). Both are exact. These two
encoders and the MLP encoder (which reads every entry at its full width) read the base ids' rows
from one gathered copy, so the ``[V, d]`` table gets one gradient scatter per call, not one per
group.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from zip2zip_tokenizers.torch.encoders import (
    MeanHyperEncoder,
    MLPHyperEncoder,
    TransformerHyperEncoder,
)


def encode_entries(encoder: nn.Module, subtokens: np.ndarray, weight: torch.Tensor) -> torch.Tensor:
    """``encoder(subtokens, weight)`` for host ``subtokens`` (``[N, M]`` int64, right-padded with
    -1), computed as the module doc says; one host-to-device copy."""
    return encode_entries_together([(encoder, subtokens)], weight)[0]


def encode_entries_together(
    jobs: list[tuple[nn.Module, np.ndarray]], weight: torch.Tensor
) -> list[torch.Tensor]:
    """:func:`encode_entries` for several encoders reading the same table (the input and output
    encoders of a tied model): one gathered copy of the rows they read, one copy to the device.
    Encoders of other kinds (the authors' older ones read the padding id's row too) get the
    whole table and their distinct entries as they are."""
    results: list[torch.Tensor | None] = [None] * len(jobs)
    gathered = []
    for number, (encoder, subtokens) in enumerate(jobs):
        if isinstance(encoder, (TransformerHyperEncoder, MLPHyperEncoder, MeanHyperEncoder)):
            gathered.append(number)
        elif len(subtokens) == 0:
            results[number] = weight.new_zeros((0, weight.shape[1]))
        else:
            unique, inverse = np.unique(subtokens, axis=0, return_inverse=True)
            flat = torch.from_numpy(np.concatenate([unique.reshape(-1), inverse.reshape(-1)]))
            entries, index = torch.split(flat.to(weight.device), [unique.size, inverse.size])
            results[number] = encoder(entries.view(unique.shape), weight)[index]
    for number, vectors in zip(
        gathered, _gathered([jobs[n] for n in gathered], weight), strict=True
    ):
        results[number] = vectors
    return [r for r in results if r is not None]


def _gathered(jobs: list[tuple[nn.Module, np.ndarray]], weight: torch.Tensor) -> list[torch.Tensor]:
    plans = [_plan(encoder, subtokens) for encoder, subtokens in jobs]
    flat_ids = [g.reshape(-1) for groups, _ in plans for g in groups]
    if not flat_ids:
        return [weight.new_zeros((0, weight.shape[1])) for _ in jobs]
    # Base ids -> rows of one gathered table (padding stays -1).
    ids, local = np.unique(np.concatenate(flat_ids), return_inverse=True)
    padded = bool(ids[0] < 0)
    local = local.reshape(-1) - int(padded)
    local[local < 0] = -1
    parts = [ids[int(padded) :], local, *(index for _, index in plans)]
    flat = torch.from_numpy(np.concatenate(parts).astype(np.int64)).to(weight.device)
    rows, local_t, *indices = torch.split(flat, [p.size for p in parts])
    table = weight[rows]
    results = []
    offset = 0
    for (encoder, _), (groups, _), index in zip(jobs, plans, indices, strict=True):
        encoded = []
        for group in groups:
            encoded.append(encoder(local_t[offset : offset + group.size].view(group.shape), table))
            offset += group.size
        if not encoded:
            results.append(weight.new_zeros((0, weight.shape[1])))
            continue
        vectors: torch.Tensor = torch.cat(encoded) if len(encoded) > 1 else encoded[0]
        results.append(vectors[index])
    return results


def _plan(encoder: nn.Module, subtokens: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """The distinct entries to encode, in groups (one per length for the transformer encoder),
    and where each of ``subtokens``' rows is in their concatenation."""
    if len(subtokens) == 0:
        return [], np.zeros(0, dtype=np.int64)
    unique, inverse = np.unique(subtokens, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    if not isinstance(encoder, TransformerHyperEncoder):
        return [unique], inverse
    lengths = np.maximum((unique >= 0).sum(1), 1)
    order = np.argsort(lengths, kind="stable")
    bounds = np.flatnonzero(np.diff(lengths[order])) + 1
    groups = [unique[part, : int(lengths[part[0]])] for part in np.split(order, bounds)]
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return groups, rank[inverse]

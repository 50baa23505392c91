"""Encoding many codebook entries at once: each distinct entry once, and without its padding.

A hyper-encoder is a function of an entry's base ids alone, so entries that recur in a batch
(the same string in several rows' codebooks, or as a new entry and as a would-be KwKwK entry)
are encoded once and their vectors shared (their gradients add up, as they would have). The
transformer encoder also runs each group of equally long entries at that length: an entry of 2
base ids padded to ``M = 4`` would spend half of its projections and MLP on padding that its
result never reads (padding is masked from attention and pooling). Both are exact. The encoders
read the base ids' rows from one gathered copy, so the ``[V, d]`` table gets one gradient
scatter per call, not one per group.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from zip2zip_tokenizers.torch.encoders import TransformerHyperEncoder


def encode_entries(encoder: nn.Module, subtokens: np.ndarray, weight: torch.Tensor) -> torch.Tensor:
    """``encoder(subtokens, weight)`` for host ``subtokens`` (``[N, M]`` int64, right-padded with
    -1), computed as the module doc says; one host-to-device copy."""
    if len(subtokens) == 0:
        return weight.new_zeros((0, weight.shape[1]))
    unique, inverse = np.unique(subtokens, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    if isinstance(encoder, TransformerHyperEncoder):
        lengths = np.maximum((unique >= 0).sum(1), 1)
        order = np.argsort(lengths, kind="stable")
        bounds = np.flatnonzero(np.diff(lengths[order])) + 1
        groups = [
            unique[part, : int(lengths[part[0]])] for part in np.split(order, bounds) if len(part)
        ]
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        index = rank[inverse]
    else:
        groups, index = [unique], inverse
    # Base ids -> rows of a gathered table (padding stays -1).
    ids, local = np.unique(np.concatenate([g.reshape(-1) for g in groups]), return_inverse=True)
    padded = ids[0] < 0
    local = local - int(padded)
    local[local < 0] = -1
    parts = [ids[int(padded) :], local, index]
    flat = torch.from_numpy(np.concatenate(parts).astype(np.int64)).to(weight.device)
    rows, local_t, index_t = torch.split(flat, [p.size for p in parts])
    table = weight[rows]
    encoded = []
    offset = 0
    for group in groups:
        piece = local_t[offset : offset + group.size].view(group.shape)
        offset += group.size
        encoded.append(encoder(piece, table))
    vectors: torch.Tensor = torch.cat(encoded) if len(encoded) > 1 else encoded[0]
    return vectors[index_t]

# mypy: disable-error-code="no-untyped-def, untyped-decorator"
"""Triton kernel writing rows of vectors into per-row caches: one program per (vector, block).

Out-of-range ``(row, slot)`` pairs are skipped (memory-safe); the torch path reports them.
"""

from __future__ import annotations

import torch

from ._triton import tl, triton


@triton.jit
def _scatter_rows_kernel(
    cache_ptr,
    rows_ptr,
    slots_ptr,
    values_ptr,
    B,
    C,
    D,
    stride_b,
    stride_c,
    stride_v,
    BLOCK_D: tl.constexpr,
):
    i = tl.program_id(0).to(tl.int64)
    row = tl.load(rows_ptr + i)
    slot = tl.load(slots_ptr + i)
    inside = (row >= 0) & (row < B) & (slot >= 0) & (slot < C)
    offs_d = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    in_d = offs_d < tl.where(inside, D, 0)
    vals = tl.load(values_ptr + i * stride_v + offs_d, mask=in_d, other=0.0)
    dst = cache_ptr + row.to(tl.int64) * stride_b + slot.to(tl.int64) * stride_c + offs_d
    tl.store(dst, vals, mask=in_d)


def scatter_rows(
    cache: torch.Tensor, rows: torch.Tensor, slots: torch.Tensor, values: torch.Tensor
) -> None:
    """Triton ``cache[rows[i], slots[i]] = values[i]``; ``cache``'s last dim must be dense."""
    values = values.to(cache.dtype).contiguous()
    rows = rows.contiguous()
    slots = slots.contiguous()
    b, c, d = cache.shape
    n = rows.shape[0]
    if n == 0 or d == 0:
        return
    block_d = min(triton.next_power_of_2(d), 2048)
    grid = (n, triton.cdiv(d, block_d))
    _scatter_rows_kernel[grid](
        cache, rows, slots, values, b, c, d, cache.stride(0), cache.stride(1), values.stride(0),
        BLOCK_D=block_d, num_warps=4 if block_d >= 512 else 1,
    )  # fmt: skip

# mypy: disable-error-code="no-untyped-def, untyped-decorator"
"""Triton kernels for the masked mean pool: one program per (entry, block of features).

Ids outside ``[0, V)`` are treated as padding here (memory-safe, never an out-of-bounds read);
the torch path is the one that reports them.
"""

from __future__ import annotations

import torch

from ._triton import tl, triton


@triton.jit
def _mean_pool_fwd_kernel(
    weight_ptr,
    sub_ptr,
    out_ptr,
    V,
    D,
    stride_w,
    stride_s,
    stride_o,
    M: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    n = tl.program_id(0).to(tl.int64)
    offs_m = tl.arange(0, BLOCK_M)
    ids = tl.load(sub_ptr + n * stride_s + offs_m, mask=offs_m < M, other=-1)
    valid = (ids >= 0) & (ids < V)
    count = tl.sum(valid.to(tl.float32), axis=0)
    rows = tl.where(valid, ids, 0).to(tl.int64)
    offs_d = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    in_d = offs_d < D
    vals = tl.load(
        weight_ptr + rows[:, None] * stride_w + offs_d[None, :],
        mask=valid[:, None] & in_d[None, :],
        other=0.0,
    )
    mean = tl.sum(vals.to(tl.float32), axis=0) / tl.maximum(count, 1.0)
    tl.store(out_ptr + n * stride_o + offs_d, mean.to(out_ptr.dtype.element_ty), mask=in_d)


@triton.jit
def _mean_pool_bwd_kernel(
    grad_out_ptr,
    sub_ptr,
    grad_w_ptr,
    V,
    D,
    stride_g,
    stride_s,
    stride_gw,
    M: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    n = tl.program_id(0).to(tl.int64)
    offs_m = tl.arange(0, BLOCK_M)
    ids = tl.load(sub_ptr + n * stride_s + offs_m, mask=offs_m < M, other=-1)
    valid = (ids >= 0) & (ids < V)
    count = tl.sum(valid.to(tl.float32), axis=0)
    rows = tl.where(valid, ids, 0).to(tl.int64)
    offs_d = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    in_d = offs_d < D
    g = tl.load(grad_out_ptr + n * stride_g + offs_d, mask=in_d, other=0.0).to(tl.float32)
    g = g / tl.maximum(count, 1.0)
    tl.atomic_add(
        grad_w_ptr + rows[:, None] * stride_gw + offs_d[None, :],
        tl.broadcast_to(g[None, :], (BLOCK_M, BLOCK_D)),
        mask=valid[:, None] & in_d[None, :],
        sem="relaxed",
    )


def _blocks(m: int, d: int) -> tuple[int, int, int]:
    block_m = triton.next_power_of_2(max(m, 1))
    block_d = min(triton.next_power_of_2(max(d, 1)), max(16, 4096 // block_m))
    num_warps = 4 if block_m * block_d >= 2048 else 1
    return block_m, block_d, num_warps


def mean_pool_forward(weight: torch.Tensor, subtokens: torch.Tensor) -> torch.Tensor:
    """Triton forward of ``masked_mean_pool``; accumulates in fp32, returns ``weight.dtype``."""
    weight = weight.contiguous()
    subtokens = subtokens.contiguous()
    (n, m), (v, d) = subtokens.shape, weight.shape
    out = torch.empty((n, d), dtype=weight.dtype, device=weight.device)
    if n == 0 or d == 0:
        return out
    block_m, block_d, num_warps = _blocks(m, d)
    grid = (n, triton.cdiv(d, block_d))
    _mean_pool_fwd_kernel[grid](
        weight, subtokens, out, v, d, weight.stride(0), subtokens.stride(0), out.stride(0),
        M=m, BLOCK_M=block_m, BLOCK_D=block_d, num_warps=num_warps,
    )  # fmt: skip
    return out


def mean_pool_backward(
    grad_out: torch.Tensor, subtokens: torch.Tensor, num_embeddings: int, dtype: torch.dtype
) -> torch.Tensor:
    """Triton backward of ``masked_mean_pool`` w.r.t. the table: fp32 atomics, then ``dtype``."""
    grad_out = grad_out.contiguous()
    subtokens = subtokens.contiguous()
    (n, m), d = subtokens.shape, grad_out.shape[1]
    grad_w = torch.zeros((num_embeddings, d), dtype=torch.float32, device=grad_out.device)
    if n > 0 and d > 0:
        block_m, block_d, num_warps = _blocks(m, d)
        grid = (n, triton.cdiv(d, block_d))
        _mean_pool_bwd_kernel[grid](
            grad_out, subtokens, grad_w, num_embeddings, d,
            grad_out.stride(0), subtokens.stride(0), grad_w.stride(0),
            M=m, BLOCK_M=block_m, BLOCK_D=block_d, num_warps=num_warps,
        )  # fmt: skip
    return grad_w.to(dtype)

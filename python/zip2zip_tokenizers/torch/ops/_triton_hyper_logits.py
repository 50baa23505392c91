# mypy: disable-error-code="no-untyped-def, untyped-decorator"
"""Triton forward of the hypertoken logits: a batched matmul whose tiles past every position's
``n_valid`` are written as ``-inf`` without being computed (uncreated slots cost no FLOPs and no
reads of the table)."""

from __future__ import annotations

import torch

from ._triton import tl, triton


@triton.jit
def _hyper_logits_kernel(
    h_ptr,
    w_ptr,
    nv_ptr,
    out_ptr,
    T,
    C,
    D,
    stride_hb,
    stride_ht,
    stride_wb,
    stride_wc,
    stride_nb,
    stride_ob,
    stride_ot,
    BLOCK_T: tl.constexpr,
    BLOCK_C: tl.constexpr,
    BLOCK_K: tl.constexpr,
    PRECISION: tl.constexpr,
):
    b = tl.program_id(1).to(tl.int64)
    n_c = tl.cdiv(C, BLOCK_C)
    pid_t = tl.program_id(0) // n_c
    pid_c = tl.program_id(0) % n_c
    offs_t = pid_t * BLOCK_T + tl.arange(0, BLOCK_T)
    offs_c = pid_c * BLOCK_C + tl.arange(0, BLOCK_C)
    in_t = offs_t < T
    n_valid = tl.load(nv_ptr + b * stride_nb + offs_t, mask=in_t, other=0)
    acc = tl.zeros((BLOCK_T, BLOCK_C), dtype=tl.float32)
    if pid_c * BLOCK_C < tl.max(n_valid, axis=0):
        offs_k = tl.arange(0, BLOCK_K)
        h_ptrs = h_ptr + b * stride_hb + offs_t[:, None] * stride_ht + offs_k[None, :]
        w_ptrs = w_ptr + b * stride_wb + offs_c[None, :] * stride_wc + offs_k[:, None]
        in_c = offs_c < C
        for k in range(0, tl.cdiv(D, BLOCK_K)):
            in_k = offs_k < D - k * BLOCK_K
            h = tl.load(h_ptrs, mask=in_t[:, None] & in_k[None, :], other=0.0)
            w = tl.load(w_ptrs, mask=in_k[:, None] & in_c[None, :], other=0.0)
            acc = tl.dot(h, w, acc, input_precision=PRECISION)
            h_ptrs += BLOCK_K
            w_ptrs += BLOCK_K
    logits = tl.where(offs_c[None, :] < n_valid[:, None], acc, float("-inf"))
    o_ptrs = out_ptr + b * stride_ob + offs_t[:, None] * stride_ot + offs_c[None, :]
    tl.store(
        o_ptrs, logits.to(out_ptr.dtype.element_ty), mask=in_t[:, None] & (offs_c < C)[None, :]
    )


def _config(t: int, device_type: str) -> tuple[int, int, int, int]:
    """(BLOCK_T, BLOCK_C, BLOCK_K, num_warps): big tiles for prefill or training, thin to decode."""
    if device_type != "cuda":  # the interpreter: the smallest tiles tl.dot accepts
        return 16, 16, 16, 1
    if t >= 64:
        return 128, 256, 64, 8
    return 16, 64, 128, 4


def hyper_logits_forward(
    hidden: torch.Tensor, table: torch.Tensor, n_valid: torch.Tensor
) -> torch.Tensor:
    """Triton ``hidden @ table^T`` per row, ``-inf`` at slots ``>= n_valid``."""
    hidden = hidden.contiguous()
    table = table.contiguous()
    n_valid = n_valid.contiguous()
    b, t, d = hidden.shape
    c = table.shape[1]
    out = torch.empty((b, t, c), dtype=hidden.dtype, device=hidden.device)
    if out.numel() == 0:
        return out
    block_t, block_c, block_k, num_warps = _config(t, hidden.device.type)
    # fp32 inputs follow torch's matmul setting (TF32 only where torch would use it too).
    exact = hidden.dtype == torch.float32 and not torch.backends.cuda.matmul.allow_tf32
    grid = (triton.cdiv(t, block_t) * triton.cdiv(c, block_c), b)
    _hyper_logits_kernel[grid](
        hidden, table, n_valid, out, t, c, d,
        hidden.stride(0), hidden.stride(1), table.stride(0), table.stride(1), n_valid.stride(0),
        out.stride(0), out.stride(1),
        BLOCK_T=block_t, BLOCK_C=block_c, BLOCK_K=block_k, PRECISION="ieee" if exact else "tf32",
        num_warps=num_warps, num_stages=3,
    )  # fmt: skip
    return out

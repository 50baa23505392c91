"""Hypertoken logits: each position's hidden state against its row's hyper-unembedding table,
``-inf`` at codebook slots not yet created."""

from __future__ import annotations

from typing import Any, cast

import torch

from ._checks import check_float, check_index, check_same_device
from ._triton import HAS_TRITON, direct_call, triton_enabled


def _check(hidden: torch.Tensor, table: torch.Tensor, n_valid: torch.Tensor) -> None:
    check_float("hidden", hidden, 3)
    check_float("table", table, 3)
    check_index("n_valid", n_valid, 2)
    check_same_device(hidden=hidden, table=table, n_valid=n_valid)
    (b, t, d), (bt, _, dt) = hidden.shape, table.shape
    if b != bt or d != dt or tuple(n_valid.shape) != (b, t) or hidden.dtype != table.dtype:
        raise ValueError(
            f"hidden {tuple(hidden.shape)} {hidden.dtype}, table {tuple(table.shape)} "
            f"{table.dtype} and n_valid {tuple(n_valid.shape)} do not fit "
            "[B, T, d], [B, C, d] (same dtype) and [B, T]"
        )


def _uncreated(n_valid: torch.Tensor, num_slots: int) -> torch.Tensor:
    slots = torch.arange(num_slots, device=n_valid.device)
    return slots >= n_valid.unsqueeze(-1)


def hyper_logits_torch(
    hidden: torch.Tensor, table: torch.Tensor, n_valid: torch.Tensor
) -> torch.Tensor:
    """Torch path of :func:`hyper_logits` (bmm + masked_fill; the oracle for the Triton kernel)."""
    _check(hidden, table, n_valid)
    logits = torch.bmm(hidden, table.transpose(1, 2))
    return logits.masked_fill(_uncreated(n_valid, table.shape[1]), float("-inf"))


def hyper_logits(hidden: torch.Tensor, table: torch.Tensor, n_valid: torch.Tensor) -> torch.Tensor:
    """``logits[b, t, c] = hidden[b, t] · table[b, c]`` for ``c < n_valid[b, t]``, else ``-inf``.

    ``hidden``: ``[B, T, d]``; ``table``: ``[B, C, d]`` (same dtype); ``n_valid``: ``[B, T]`` int64,
    the number of codebook slots that exist at each position. Returns ``[B, T, C]`` in
    ``hidden.dtype``; differentiable w.r.t. ``hidden`` and ``table`` (no gradient flows through
    the ``-inf`` slots).
    """
    if direct_call(hidden, table):
        if hidden.is_cuda and HAS_TRITON:
            return cast(torch.Tensor, _logits_triton(hidden, table, n_valid))
        return hyper_logits_torch(hidden, table, n_valid)
    return cast(torch.Tensor, _logits_op(hidden, table, n_valid))


@torch.library.custom_op("zip2zip::hyper_logits", mutates_args=())
def _logits_op(hidden: torch.Tensor, table: torch.Tensor, n_valid: torch.Tensor) -> torch.Tensor:
    return hyper_logits_torch(hidden, table, n_valid)


@_logits_op.register_fake
def _(hidden: torch.Tensor, table: torch.Tensor, n_valid: torch.Tensor) -> torch.Tensor:
    _check(hidden, table, n_valid)
    return hidden.new_empty((hidden.shape[0], hidden.shape[1], table.shape[1]))


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
    hidden, table, n_valid = inputs
    ctx.save_for_backward(hidden, table, n_valid)


def _backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
    hidden, table, n_valid = ctx.saved_tensors
    grad = grad_out.masked_fill(_uncreated(n_valid, table.shape[1]), 0)
    grad_hidden = torch.bmm(grad, table) if ctx.needs_input_grad[0] else None
    grad_table = torch.bmm(grad.transpose(1, 2), hidden) if ctx.needs_input_grad[1] else None
    return grad_hidden, grad_table, None


_logits_op.register_autograd(_backward, setup_context=_setup_context)

# On an H100 (benches/bench_ops.py, B=8, C=2048, d=4096) the Triton forward pays in 16-bit
# dtypes: 1.08x the torch path with every slot created, 1.65x while the codebook fills (tiles past
# n_valid are skipped), 1.4-1.6x per decoding step. In fp32 cuBLAS wins (Triton 0.3-0.5x), so fp32
# stays on the torch path. The backward is torch's (two bmm) on every device.
_TRITON_DTYPES = (torch.bfloat16, torch.float16)

if HAS_TRITON:
    from . import _triton_hyper_logits

    @_logits_op.register_kernel("cuda")
    def _logits_triton(
        hidden: torch.Tensor, table: torch.Tensor, n_valid: torch.Tensor
    ) -> torch.Tensor:
        if not triton_enabled() or hidden.dtype not in _TRITON_DTYPES:
            return hyper_logits_torch(hidden, table, n_valid)
        _check(hidden, table, n_valid)
        return _triton_hyper_logits.hyper_logits_forward(hidden, table, n_valid)

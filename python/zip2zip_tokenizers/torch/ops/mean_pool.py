"""Masked mean of base embeddings: the parameter-free hyper-encoder and the pool of new entries.

``subtokens[n]`` lists entry ``n``'s base token ids, right-padded with ``-1``. CUDA tensors use a
Triton kernel (one pass, fp32 accumulation, atomics in the backward); every other device, and
CUDA without Triton, uses the torch path below, which is also the test oracle.
"""

from __future__ import annotations

from typing import Any, cast

import torch
import torch.nn.functional as F

from ._checks import check_float, check_index, check_same_device, check_subtoken_ids
from ._triton import HAS_TRITON, direct_call, triton_enabled


def _check(weight: torch.Tensor, subtokens: torch.Tensor) -> None:
    check_float("weight", weight, 2)
    check_index("subtokens", subtokens, 2)
    check_same_device(weight=weight, subtokens=subtokens)


def _acc_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.promote_types(dtype, torch.float32)


def gather_subtokens(weight: torch.Tensor, subtokens: torch.Tensor) -> torch.Tensor:
    """``weight[subtokens]`` as ``[N, M, d]``, zeros where ``subtokens`` is ``-1`` (padding).

    The input of the parametric hyper-encoders; differentiable w.r.t. ``weight`` (plain torch:
    a fused kernel would save one pass over a tensor the encoder then reads many times).
    """
    _check(weight, subtokens)
    check_subtoken_ids(subtokens, weight.shape[0])
    valid = subtokens >= 0
    rows = F.embedding(subtokens.clamp_min(0), weight)
    return rows.masked_fill(~valid.unsqueeze(-1), 0)


def masked_mean_pool_torch(weight: torch.Tensor, subtokens: torch.Tensor) -> torch.Tensor:
    """Torch path of :func:`masked_mean_pool` (any device; the oracle for the Triton kernel)."""
    _check(weight, subtokens)
    check_subtoken_ids(subtokens, weight.shape[0])
    acc = _acc_dtype(weight.dtype)
    valid = subtokens >= 0
    count = valid.sum(dim=1, dtype=acc).clamp_min(1).unsqueeze(-1)
    rows = F.embedding(subtokens.clamp_min(0), weight).masked_fill(~valid.unsqueeze(-1), 0)
    return (rows.sum(dim=1, dtype=acc) / count).to(weight.dtype)


def masked_mean_pool_backward_torch(
    grad_out: torch.Tensor, subtokens: torch.Tensor, num_embeddings: int
) -> torch.Tensor:
    """Torch path of the table gradient: ``grad[subtokens[n, j]] += grad_out[n] / count[n]``."""
    acc = _acc_dtype(grad_out.dtype)
    valid = subtokens >= 0
    count = valid.sum(dim=1, dtype=acc).clamp_min(1).unsqueeze(-1)
    scaled = grad_out.to(acc) / count
    entry, _ = valid.nonzero(as_tuple=True)
    grad = torch.zeros((num_embeddings, grad_out.shape[1]), dtype=acc, device=grad_out.device)
    grad.index_add_(0, subtokens[valid], scaled[entry])
    return grad.to(grad_out.dtype)


def masked_mean_pool(weight: torch.Tensor, subtokens: torch.Tensor) -> torch.Tensor:
    """Mean of ``weight[subtokens[n, j]]`` over the non-padding ``j`` of each row ``n``.

    ``weight``: ``[V, d]`` float table (fp32/bf16/fp16); ``subtokens``: ``[N, M]`` int64 ids,
    ``-1`` for padding. Returns ``[N, d]`` in ``weight.dtype``, accumulated in fp32; a row of
    padding only gives zeros. Differentiable w.r.t. ``weight``. Ids other than ``-1`` outside
    ``[0, V)`` raise :class:`~zip2zip_tokenizers.InvalidTokenError` on the torch path; the
    Triton kernel (CUDA) skips the check to stay sync-free and treats them as padding.
    """
    if direct_call(weight):
        return (
            _pool_cuda(weight, subtokens)
            if weight.is_cuda
            else masked_mean_pool_torch(weight, subtokens)
        )
    return cast(torch.Tensor, _pool_op(weight, subtokens))


@torch.library.custom_op("zip2zip::masked_mean_pool", mutates_args=())
def _pool_op(weight: torch.Tensor, subtokens: torch.Tensor) -> torch.Tensor:
    return masked_mean_pool_torch(weight, subtokens)


@torch.library.custom_op("zip2zip::masked_mean_pool_backward", mutates_args=())
def _pool_backward_op(
    grad_out: torch.Tensor, subtokens: torch.Tensor, num_embeddings: int
) -> torch.Tensor:
    return masked_mean_pool_backward_torch(grad_out, subtokens, num_embeddings)


@_pool_op.register_fake
def _(weight: torch.Tensor, subtokens: torch.Tensor) -> torch.Tensor:
    _check(weight, subtokens)
    return weight.new_empty((subtokens.shape[0], weight.shape[1]))


@_pool_backward_op.register_fake
def _(grad_out: torch.Tensor, subtokens: torch.Tensor, num_embeddings: int) -> torch.Tensor:
    return grad_out.new_empty((num_embeddings, grad_out.shape[1]))


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
    weight, subtokens = inputs
    ctx.save_for_backward(subtokens)
    ctx.num_embeddings = weight.shape[0]


def _backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, None]:
    if not ctx.needs_input_grad[0]:
        return None, None
    (subtokens,) = ctx.saved_tensors
    return _pool_backward_op(grad_out, subtokens, ctx.num_embeddings), None


_pool_op.register_autograd(_backward, setup_context=_setup_context)

if HAS_TRITON:
    from . import _triton_mean_pool

    @_pool_op.register_kernel("cuda")
    def _pool_triton(weight: torch.Tensor, subtokens: torch.Tensor) -> torch.Tensor:
        if not triton_enabled():
            return masked_mean_pool_torch(weight, subtokens)
        _check(weight, subtokens)
        return _triton_mean_pool.mean_pool_forward(weight, subtokens)

    @_pool_backward_op.register_kernel("cuda")
    def _(grad_out: torch.Tensor, subtokens: torch.Tensor, num_embeddings: int) -> torch.Tensor:
        if not triton_enabled():
            return masked_mean_pool_backward_torch(grad_out, subtokens, num_embeddings)
        return _triton_mean_pool.mean_pool_backward(
            grad_out, subtokens, num_embeddings, grad_out.dtype
        )


def _pool_cuda(weight: torch.Tensor, subtokens: torch.Tensor) -> torch.Tensor:
    """What the op runs on a CUDA tensor."""
    if HAS_TRITON:
        return cast(torch.Tensor, _pool_triton(weight, subtokens))
    return masked_mean_pool_torch(weight, subtokens)

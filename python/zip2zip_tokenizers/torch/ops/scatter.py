"""In-place writes of new entries' vectors into per-row caches (generation; no autograd)."""

from __future__ import annotations

import torch

from ._checks import check_float, check_index, check_same_device
from ._triton import HAS_TRITON, direct_call, triton_enabled


def _check(
    cache: torch.Tensor, rows: torch.Tensor, slots: torch.Tensor, values: torch.Tensor
) -> None:
    check_float("cache", cache, 3)
    check_float("values", values, 2)
    check_index("rows", rows, 1)
    check_index("slots", slots, 1)
    check_same_device(cache=cache, rows=rows, slots=slots, values=values)
    n = values.shape[0]
    if rows.shape[0] != n or slots.shape[0] != n or values.shape[1] != cache.shape[2]:
        raise ValueError(
            f"rows {tuple(rows.shape)}, slots {tuple(slots.shape)} and values "
            f"{tuple(values.shape)} do not fit a cache of shape {tuple(cache.shape)}"
        )


def scatter_rows_torch(
    cache: torch.Tensor, rows: torch.Tensor, slots: torch.Tensor, values: torch.Tensor
) -> None:
    """Torch path of :func:`scatter_rows_` (any device; the oracle for the Triton kernel)."""
    _check(cache, rows, slots, values)
    b, c, _ = cache.shape
    if rows.numel():
        lo_r, hi_r = (int(x) for x in torch.aminmax(rows))
        lo_s, hi_s = (int(x) for x in torch.aminmax(slots))
        if lo_r < 0 or hi_r >= b or lo_s < 0 or hi_s >= c:
            raise IndexError(
                f"rows span [{lo_r}, {hi_r}] and slots [{lo_s}, {hi_s}], "
                f"outside a cache of {b} rows x {c} slots"
            )
    cache[rows, slots] = values.to(cache.dtype)


def scatter_rows_(
    cache: torch.Tensor, rows: torch.Tensor, slots: torch.Tensor, values: torch.Tensor
) -> None:
    """In place, ``cache[rows[i], slots[i]] = values[i]`` for every ``i``.

    ``cache``: ``[B, C, d]`` float; ``rows``, ``slots``: ``[N]`` int64; ``values``: ``[N, d]``
    (cast to ``cache.dtype``). ``(row, slot)`` pairs must be distinct. Out-of-range pairs raise
    :class:`IndexError` on the torch path; the Triton kernel (CUDA) skips them without a sync.
    """
    if direct_call(values):
        if cache.is_cuda and HAS_TRITON:
            _scatter_triton(cache, rows, slots, values)
        else:
            scatter_rows_torch(cache, rows, slots, values)
        return
    _scatter_op(cache, rows, slots, values)


@torch.library.custom_op("zip2zip::scatter_rows_", mutates_args=("cache",))
def _scatter_op(
    cache: torch.Tensor, rows: torch.Tensor, slots: torch.Tensor, values: torch.Tensor
) -> None:
    scatter_rows_torch(cache, rows, slots, values)


@_scatter_op.register_fake
def _(cache: torch.Tensor, rows: torch.Tensor, slots: torch.Tensor, values: torch.Tensor) -> None:
    _check(cache, rows, slots, values)


if HAS_TRITON:
    from . import _triton_scatter

    @_scatter_op.register_kernel("cuda")
    def _scatter_triton(
        cache: torch.Tensor, rows: torch.Tensor, slots: torch.Tensor, values: torch.Tensor
    ) -> None:
        if not triton_enabled() or cache.stride(2) != 1:
            scatter_rows_torch(cache, rows, slots, values)
            return
        _check(cache, rows, slots, values)
        _triton_scatter.scatter_rows(cache, rows, slots, values)

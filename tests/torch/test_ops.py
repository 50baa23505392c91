"""The custom ops: torch path against loop oracles, Triton kernels against the torch path.

On a machine without CUDA the kernels run under ``TRITON_INTERPRET=1`` (set in conftest.py) on
tiny CPU tensors; with CUDA they are compiled and also checked through the ops' dispatch.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("torch")

import torch
from torch import Tensor
from zip2zip_tokenizers import InvalidTokenError
from zip2zip_tokenizers.torch import ops
from zip2zip_tokenizers.torch.ops.hyper_logits import hyper_logits_torch
from zip2zip_tokenizers.torch.ops.mean_pool import (
    masked_mean_pool_backward_torch,
    masked_mean_pool_torch,
)
from zip2zip_tokenizers.torch.ops.scatter import scatter_rows_torch

CUDA = torch.cuda.is_available()
INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"
# Devices on which the Triton launchers can be called: CUDA, or the CPU through the interpreter.
KERNEL_DEVICES = ["cuda"] if CUDA else (["cpu"] if INTERPRET else [])
needs_triton = pytest.mark.skipif(
    not ops.HAS_TRITON or not KERNEL_DEVICES, reason="needs Triton (and CUDA or TRITON_INTERPRET)"
)
needs_cuda = pytest.mark.skipif(not (CUDA and ops.HAS_TRITON), reason="needs CUDA and Triton")


def _subtokens(n: int, m: int, v: int, *, seed: int = 0, device: str = "cpu") -> Tensor:
    """Rows of 0..m real ids then -1 padding; row 1 is all padding (when n > 1)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, v, (n, m), generator=g)
    lengths = torch.randint(0, m + 1, (n,), generator=g)
    if n > 1:
        lengths[1] = 0
    ids[torch.arange(m) >= lengths[:, None]] = -1
    return ids.to(device)


def _pool_oracle(weight: Tensor, subtokens: Tensor) -> Tensor:
    out = torch.zeros(subtokens.shape[0], weight.shape[1], dtype=torch.float64)
    for n, row in enumerate(subtokens.tolist()):
        ids = [i for i in row if i >= 0]
        for i in ids:
            out[n] += weight[i].double() / len(ids)
    return out


def _logits_oracle(hidden: Tensor, table: Tensor, n_valid: Tensor) -> Tensor:
    b, t, _ = hidden.shape
    out = torch.full((b, t, table.shape[1]), float("-inf"), dtype=torch.float64)
    for i in range(b):
        for j in range(t):
            for c in range(int(n_valid[i, j])):
                out[i, j, c] = hidden[i, j].double() @ table[i, c].double()
    return out


def _ulp_close(actual: Tensor, expected: Tensor) -> None:
    """Equal up to the output dtype's rounding (the interpreter truncates instead of rounding)."""
    tol = {torch.float32: 1e-5, torch.float16: 2e-3, torch.bfloat16: 1.6e-2}[actual.dtype]
    torch.testing.assert_close(actual.double(), expected.double(), rtol=tol, atol=tol)


# --- masked_mean_pool: torch path ------------------------------------------------------------


@pytest.mark.parametrize("m", [1, 3, 4])
def test_mean_pool_matches_loop_oracle(m: int) -> None:
    weight = torch.randn(40, 8)
    subtokens = _subtokens(13, m, 40, seed=m)
    out = ops.masked_mean_pool(weight, subtokens)
    torch.testing.assert_close(out.double(), _pool_oracle(weight, subtokens), rtol=1e-6, atol=1e-6)
    assert torch.equal(out[1], torch.zeros(8))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_mean_pool_low_precision_accumulates_in_fp32(dtype: torch.dtype) -> None:
    weight = torch.randn(30, 16).to(dtype)
    subtokens = _subtokens(9, 4, 30)
    out = ops.masked_mean_pool(weight, subtokens)
    assert out.dtype == dtype
    assert torch.equal(out, _pool_oracle(weight, subtokens).float().to(dtype))


def test_mean_pool_padding_only_and_empty() -> None:
    weight = torch.randn(5, 3)
    assert torch.equal(ops.masked_mean_pool(weight, torch.full((2, 4), -1)), torch.zeros(2, 3))
    assert ops.masked_mean_pool(weight, torch.empty(0, 4, dtype=torch.long)).shape == (0, 3)


@pytest.mark.parametrize("bad", [5, 99, -2])
def test_mean_pool_bad_ids_raise(bad: int) -> None:
    weight = torch.randn(5, 3)
    subtokens = torch.tensor([[0, 1], [bad, -1]])
    with pytest.raises(InvalidTokenError, match=str(bad)):
        ops.masked_mean_pool(weight, subtokens)
    with pytest.raises(InvalidTokenError):
        ops.gather_subtokens(weight, subtokens)


def test_mean_pool_bad_arguments_raise() -> None:
    weight = torch.randn(5, 3)
    with pytest.raises(ValueError, match="int64"):
        ops.masked_mean_pool(weight, torch.zeros(2, 2, dtype=torch.int32))
    with pytest.raises(ValueError, match="2-D"):
        ops.masked_mean_pool(weight, torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="floating"):
        ops.masked_mean_pool(torch.zeros(5, 3, dtype=torch.long), torch.zeros(2, 2).long())


def test_mean_pool_gradcheck() -> None:
    weight = torch.randn(12, 5, dtype=torch.float64, requires_grad=True)
    subtokens = torch.tensor([[0, 3, 3, -1], [-1, -1, -1, -1], [11, 2, 7, 0], [4, -1, -1, -1]])
    assert torch.autograd.gradcheck(lambda w: ops.masked_mean_pool(w, subtokens), (weight,))


def test_mean_pool_backward_matches_oracle() -> None:
    weight = torch.randn(20, 6, requires_grad=True)
    subtokens = _subtokens(11, 4, 20, seed=3)
    grad_out = torch.randn(11, 6)
    torch.autograd.backward(ops.masked_mean_pool(weight, subtokens), grad_out)
    expected = torch.zeros(20, 6, dtype=torch.float64)
    for n, row in enumerate(subtokens.tolist()):
        ids = [i for i in row if i >= 0]
        for i in ids:
            expected[i] += grad_out[n].double() / len(ids)
    assert weight.grad is not None
    torch.testing.assert_close(weight.grad.double(), expected, rtol=1e-6, atol=1e-6)


def test_gather_subtokens() -> None:
    weight = torch.randn(10, 4, requires_grad=True)
    subtokens = torch.tensor([[2, 5, -1], [-1, -1, -1]])
    rows = ops.gather_subtokens(weight, subtokens)
    assert rows.shape == (2, 3, 4)
    assert torch.equal(rows[0, :2], weight[[2, 5]])
    assert torch.equal(rows[0, 2], torch.zeros(4)) and torch.equal(rows[1], torch.zeros(3, 4))
    torch.autograd.backward(rows.sum())
    assert weight.grad is not None
    assert torch.equal(weight.grad.sum(1), torch.tensor([0, 0, 4, 0, 0, 4, 0, 0, 0, 0.0]))


# --- scatter_rows_ ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_scatter_rows_writes_only_the_given_slots(dtype: torch.dtype) -> None:
    cache = torch.randn(3, 6, 5).to(dtype)
    before = cache.clone()
    rows, slots = torch.tensor([0, 2, 2, 1]), torch.tensor([5, 0, 3, 5])
    values = torch.randn(4, 5)
    ops.scatter_rows_(cache, rows, slots, values)
    expected = before.clone()
    for r, s, v in zip(rows.tolist(), slots.tolist(), values, strict=True):
        expected[r, s] = v.to(dtype)
    assert torch.equal(cache, expected)
    ops.scatter_rows_(cache, rows[:0], slots[:0], values[:0])
    assert torch.equal(cache, expected)


def test_scatter_rows_bad_arguments_raise() -> None:
    cache = torch.zeros(2, 3, 4)
    values = torch.ones(1, 4)
    for rows, slots in [([2], [0]), ([0], [3]), ([-1], [0]), ([0], [-1])]:
        with pytest.raises(IndexError):
            ops.scatter_rows_(cache, torch.tensor(rows), torch.tensor(slots), values)
    with pytest.raises(ValueError, match="do not fit"):
        ops.scatter_rows_(cache, torch.tensor([0]), torch.tensor([0]), torch.ones(1, 5))
    with pytest.raises(ValueError, match="do not fit"):
        ops.scatter_rows_(cache, torch.tensor([0, 1]), torch.tensor([0]), values)
    assert torch.equal(cache, torch.zeros(2, 3, 4))


# --- hyper_logits -------------------------------------------------------------------------------


def test_hyper_logits_matches_loop_oracle_and_is_minus_inf_exactly_past_n_valid() -> None:
    hidden, table = torch.randn(2, 5, 7), torch.randn(2, 6, 7)
    n_valid = torch.tensor([[0, 1, 3, 3, 6], [2, 2, 4, 5, 6]])
    logits = ops.hyper_logits(hidden, table, n_valid)
    expected = _logits_oracle(hidden, table, n_valid)
    torch.testing.assert_close(logits.double(), expected, rtol=1e-5, atol=1e-5)
    uncreated = torch.arange(6) >= n_valid[..., None]
    assert torch.equal(logits == float("-inf"), uncreated)
    assert torch.isfinite(logits[~uncreated]).all()


def test_hyper_logits_bf16_and_shape_errors() -> None:
    hidden, table = torch.randn(1, 3, 8).bfloat16(), torch.randn(1, 4, 8).bfloat16()
    n_valid = torch.tensor([[1, 2, 4]])
    logits = ops.hyper_logits(hidden, table, n_valid)
    assert logits.dtype == torch.bfloat16
    assert torch.equal(logits == float("-inf"), torch.arange(4) >= n_valid[..., None])
    with pytest.raises(ValueError, match="do not fit"):
        ops.hyper_logits(hidden, table.float(), n_valid)
    with pytest.raises(ValueError, match="do not fit"):
        ops.hyper_logits(hidden, table, n_valid[:, :2])


def test_hyper_logits_gradcheck_and_no_gradient_through_uncreated_slots() -> None:
    hidden = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    table = torch.randn(2, 5, 4, dtype=torch.float64, requires_grad=True)
    n_valid = torch.tensor([[0, 2, 5], [1, 3, 3]])
    uncreated = torch.arange(5) >= n_valid[..., None]

    def finite(h: Tensor, w: Tensor) -> Tensor:
        return ops.hyper_logits(h, w, n_valid).masked_fill(uncreated, 0)

    assert torch.autograd.gradcheck(finite, (hidden, table))
    torch.autograd.backward(
        ops.hyper_logits(hidden, table, n_valid), torch.ones(2, 3, 5, dtype=torch.float64)
    )
    assert table.grad is not None and hidden.grad is not None
    assert torch.equal(table.grad[1, 3:], torch.zeros(2, 4, dtype=torch.float64))
    assert torch.equal(hidden.grad[0, 0], torch.zeros(4, dtype=torch.float64))


# --- registration: opcheck and torch.compile ---------------------------------------------------


def _op_samples(device: str) -> list[tuple[Any, tuple[Tensor, ...]]]:
    weight = torch.randn(16, 8, device=device, requires_grad=True)
    hidden = torch.randn(2, 3, 8, device=device, requires_grad=True)
    table = torch.randn(2, 5, 8, device=device, requires_grad=True)
    return [
        (torch.ops.zip2zip.masked_mean_pool.default, (weight, _subtokens(6, 4, 16, device=device))),
        (
            torch.ops.zip2zip.scatter_rows_.default,
            (
                torch.zeros(2, 5, 8, device=device),
                torch.tensor([1, 0], device=device),
                torch.tensor([4, 2], device=device),
                torch.randn(2, 8, device=device),
            ),
        ),
        (
            torch.ops.zip2zip.hyper_logits.default,
            (hidden, table, torch.tensor([[0, 2, 5], [5, 5, 5]], device=device)),
        ),
    ]


@pytest.mark.parametrize("device", ["cpu", *(["cuda"] if CUDA else [])])
def test_opcheck(device: str) -> None:
    for op, args in _op_samples(device):
        torch.library.opcheck(op, args)


@pytest.mark.parametrize("device", ["cpu", *(["cuda"] if CUDA else [])])
def test_torch_compile_fullgraph(device: str) -> None:
    def step(weight: Tensor, subtokens: Tensor, cache: Tensor, rows: Tensor, slots: Tensor,
             hidden: Tensor, n_valid: Tensor) -> Tensor:  # fmt: skip
        pooled = ops.masked_mean_pool(weight, subtokens)
        ops.scatter_rows_(cache, rows, slots, pooled.detach() * 2)
        probs = ops.hyper_logits(hidden, cache, n_valid).softmax(-1)
        return probs[..., 0].sum() + pooled.square().sum()

    def run(fn: Callable[..., Tensor]) -> list[Tensor]:
        weight = torch.linspace(-1, 1, 128).view(16, 8).requires_grad_(True)
        hidden = torch.linspace(1, -1, 32).view(2, 2, 8).requires_grad_(True)
        cache = torch.zeros(2, 4, 8)
        subtokens = torch.tensor([[1, 2, -1, -1], [-1, -1, -1, -1], [15, 0, 3, 3]])
        rows, slots, n_valid = (
            torch.tensor([0, 1, 1]),
            torch.tensor([0, 0, 2]),
            torch.tensor([[1, 1], [1, 3]]),
        )
        loss = fn(weight, subtokens, cache, rows, slots, hidden, n_valid)
        torch.autograd.backward(loss)
        assert weight.grad is not None and hidden.grad is not None
        return [loss, cache, weight.grad, hidden.grad]

    got = run(torch.compile(step, fullgraph=True))
    for a, b in zip(got, run(step), strict=True):
        torch.testing.assert_close(a, b)


# --- Triton kernels against the torch path ---------------------------------------------------


def _kernels() -> Any:
    from zip2zip_tokenizers.torch.ops import (
        _triton_hyper_logits,
        _triton_mean_pool,
        _triton_scatter,
    )

    return _triton_mean_pool, _triton_scatter, _triton_hyper_logits


@needs_triton
@pytest.mark.parametrize("device", KERNEL_DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize(("n", "m", "d"), [(7, 3, 24), (5, 4, 70), (3, 1, 5)])
def test_triton_mean_pool_equals_torch_path(
    device: str, dtype: torch.dtype, n: int, m: int, d: int
) -> None:
    mean_pool, _, _ = _kernels()
    weight = torch.randn(50, d, device=device).to(dtype)
    subtokens = _subtokens(n, m, 50, seed=n + m, device=device)
    out = mean_pool.mean_pool_forward(weight, subtokens)
    assert out.dtype == dtype
    _ulp_close(out, masked_mean_pool_torch(weight, subtokens))
    assert torch.equal(out[1], torch.zeros(d, dtype=dtype, device=device))
    grad_out = torch.randn(n, d, device=device).to(dtype)
    grad = mean_pool.mean_pool_backward(grad_out, subtokens, 50, dtype)
    assert grad.dtype == dtype
    _ulp_close(grad, masked_mean_pool_backward_torch(grad_out, subtokens, 50))


@needs_triton
@pytest.mark.parametrize("device", KERNEL_DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_triton_scatter_equals_torch_path(device: str, dtype: torch.dtype) -> None:
    _, scatter, _ = _kernels()
    cache = torch.randn(3, 6, 40, device=device).to(dtype)
    expected = cache.clone()
    rows = torch.tensor([0, 2, 2, 1], device=device)
    slots = torch.tensor([5, 0, 3, 5], device=device)
    values = torch.randn(4, 40, device=device)
    scatter.scatter_rows(cache, rows, slots, values)
    scatter_rows_torch(expected, rows, slots, values)
    assert torch.equal(cache, expected)
    scatter.scatter_rows(cache, torch.tensor([3, 0], device=device),
                         torch.tensor([0, 6], device=device), values[:2])  # fmt: skip
    assert torch.equal(cache, expected), "out-of-range pairs are skipped"


@needs_triton
@pytest.mark.parametrize("device", KERNEL_DEVICES)
@pytest.mark.parametrize(
    "dtype", [torch.float32, torch.float16, *([torch.bfloat16] if CUDA else [])]
)  # the interpreter's bf16 tl.dot is wrong (bit patterns read as integers)
@pytest.mark.parametrize(("t", "c", "d"), [(5, 20, 24), (17, 40, 33), (1, 70, 16)])
def test_triton_hyper_logits_equals_torch_path(
    device: str, dtype: torch.dtype, t: int, c: int, d: int
) -> None:
    _, _, hyper = _kernels()
    g = torch.Generator().manual_seed(t)
    hidden = torch.randn(2, t, d, generator=g).to(device, dtype)
    table = torch.randn(2, c, d, generator=g).to(device, dtype)
    n_valid = torch.randint(0, c + 1, (2, t), generator=g).to(device)
    n_valid[0, 0], n_valid[1] = 0, min(c, 15)
    out = hyper.hyper_logits_forward(hidden, table, n_valid)
    expected = hyper_logits_torch(hidden, table, n_valid)
    uncreated = torch.arange(c, device=device) >= n_valid[..., None]
    assert torch.equal(out == float("-inf"), uncreated)
    tol = 1e-4 if dtype == torch.float32 else 3e-2
    torch.testing.assert_close(out[~uncreated].float(), expected[~uncreated].float(), rtol=tol,
                               atol=tol * d**0.5)  # fmt: skip


# --- CUDA dispatch: the ops reach the kernels, autograd included ------------------------------


@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cuda_ops_use_triton_and_match_torch_path(dtype: torch.dtype) -> None:
    def run() -> list[Tensor]:
        weight = torch.randn(300, 96, device="cuda", generator=None).to(dtype)
        weight.requires_grad_(True)
        subtokens = _subtokens(64, 4, 300, device="cuda")
        hidden = torch.randn(2, 9, 96, device="cuda").to(dtype).requires_grad_(True)
        n_valid = torch.randint(0, 65, (2, 9), device="cuda")
        cache = torch.zeros(2, 64, 96, device="cuda", dtype=dtype)
        pooled = ops.masked_mean_pool(weight, subtokens)
        cache = cache + 0  # a non-leaf copy the scatter may write into
        slots = torch.arange(64, device="cuda") // 2 * 2 % 64
        ops.scatter_rows_(cache, torch.arange(64, device="cuda") % 2, slots, pooled.detach())
        table = pooled.view(2, 32, 96).repeat(1, 2, 1)
        logits = ops.hyper_logits(hidden, table, n_valid)
        torch.autograd.backward(logits.masked_fill(logits == float("-inf"), 0).sum())
        assert weight.grad is not None and hidden.grad is not None
        return [pooled, cache, logits, weight.grad, hidden.grad]

    torch.manual_seed(0)
    fast = run()
    torch.manual_seed(0)
    with ops.use_triton(False):
        slow = run()
    for a, b in zip(fast, slow, strict=True):
        assert torch.equal(a == float("-inf"), b == float("-inf"))
        finite = a != float("-inf")
        tol = 1e-4 if dtype == torch.float32 else 5e-2
        torch.testing.assert_close(a[finite].float(), b[finite].float(), rtol=tol, atol=tol)


@needs_cuda
def test_cuda_kernel_is_not_the_torch_path(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    mean_pool, _, _ = _kernels()
    original: Callable[..., Tensor] = mean_pool.mean_pool_forward

    def spy(*args: Tensor) -> Tensor:
        calls.append("triton")
        return original(*args)

    monkeypatch.setattr(mean_pool, "mean_pool_forward", spy)
    ops.masked_mean_pool(torch.randn(4, 4, device="cuda"), torch.zeros(2, 2, dtype=torch.long,
                                                                        device="cuda"))  # fmt: skip
    assert calls == ["triton"]

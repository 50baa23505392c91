#!/usr/bin/env python
"""Triton kernels vs the torch path of the model-layer ops, side by side in one run.

Cases (GPU shape: B=8 rows, C=2048 codebook slots, M=4, d=4096, a 128k-row bf16 table):
  (a) ``masked_mean_pool`` forward: embedding B*C = 16,384 new entries whose lengths are mostly
      2-4 base tokens (some 1; shorter ones padded with -1);
  (b) the same, forward + backward into the table;
  (c) ``scatter_rows_``: the 16,384 entry vectors into the [B, C, d] cache (prefill), and one
      new entry per row (a generation step);
  (d) ``hyper_logits``: training/prefill (T=2048; every slot created, and a codebook filling
      as it goes, ``n_valid = t``) and a decoding step (T=1, a full and a half-full codebook).

Columns: the op as dispatched on CUDA (Triton; fp32 ``hyper_logits`` keeps the torch path
because cuBLAS wins there), its torch path on the same device (what CUDA runs with
``ZIP2ZIP_TRITON=0``), and for (a)/(b) two other torch formulations as references
(``embedding_bag`` over the flattened valid ids, and autograd through the torch path's own
ops). Times are medians (``triton.testing.do_bench`` on CUDA, ``time.perf_counter`` on CPU);
GB/s counts the bytes each case must move at least (rows read, results written), and TFLOP/s
counts the multiply-adds of created slots only. On CPU it runs the torch path at smaller
shapes. ``--json OUT`` keeps the numbers.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from zip2zip_tokenizers.torch import ops
from zip2zip_tokenizers.torch.ops.mean_pool import masked_mean_pool_torch

DISPATCHED = "op (Triton)"  # the op as CUDA dispatches it; fp32 hyper_logits stays on torch
POOL_TARGET = 2.0  # Triton over the torch path, embedding new entries on a GPU
LENGTHS = (1, 2, 3, 4)
LENGTH_WEIGHTS = (0.05, 0.45, 0.30, 0.20)  # mostly 2-4 base tokens per entry


@dataclass
class Shape:
    rows: int  # B
    slots: int  # C
    max_subtokens: int  # M
    dim: int  # d
    vocab: int  # V
    positions: int  # T for hyper_logits
    dtype: str


@dataclass
class Result:
    case: str
    impl: str
    ms: float
    gbps: float | None = None
    tflops: float | None = None
    ratio: float | None = None  # the torch path's time over this one's (same case)
    extra: dict[str, Any] = field(default_factory=dict)


def _timer(device: torch.device, budget: float) -> Callable[[Callable[[], object]], float]:
    if device.type == "cuda":
        do_bench = importlib.import_module("triton.testing").do_bench

        def cuda_ms(fn: Callable[[], object]) -> float:
            return float(do_bench(fn, warmup=25, rep=int(budget * 1000), return_mode="median"))

        return cuda_ms

    def cpu_ms(fn: Callable[[], object]) -> float:
        fn()
        times: list[float] = []
        deadline = time.perf_counter() + budget
        while time.perf_counter() < deadline or len(times) < 5:
            start = time.perf_counter()
            fn()
            times.append((time.perf_counter() - start) * 1000)
        return statistics.median(times)

    return cpu_ms


def _subtokens(n: int, m: int, v: int, device: torch.device, gen: torch.Generator) -> torch.Tensor:
    ids = torch.randint(0, v, (n, m), generator=gen)
    weights = torch.tensor(LENGTH_WEIGHTS)
    lengths = torch.tensor(LENGTHS)[torch.multinomial(weights, n, True, generator=gen)]
    ids[torch.arange(m) >= lengths.clamp_max(m)[:, None]] = -1
    return ids.to(device)


def _embedding_bag_pool(weight: torch.Tensor, subtokens: torch.Tensor) -> torch.Tensor:
    valid = subtokens >= 0
    offsets = torch.zeros(subtokens.shape[0], dtype=torch.long, device=subtokens.device)
    offsets[1:] = valid.sum(1).cumsum(0)[:-1]
    return F.embedding_bag(subtokens[valid], weight, offsets, mode="mean")


class Bench:
    """One device and shape; each case method appends its rows to ``results``."""

    def __init__(self, device: torch.device, shape: Shape, budget: float) -> None:
        self.device, self.shape = device, shape
        self.measure = _timer(device, budget)
        self.dtype = getattr(torch, shape.dtype)
        self.elt = torch.finfo(self.dtype).bits // 8
        self.gen = torch.Generator().manual_seed(0)
        self.on_cuda = device.type == "cuda" and ops.triton_enabled()
        self.results: list[Result] = []

    def randn(self, *size: int, scale: float = 1.0) -> torch.Tensor:
        return (torch.randn(*size, generator=self.gen) * scale).to(self.device, self.dtype)

    def add(self, case: str, impls: dict[str, Callable[[], object]], nbytes: float = 0,
            flops: float = 0) -> None:  # fmt: skip
        rows = []
        for impl, fn in impls.items():
            ms = self.measure(fn)
            rows.append(Result(case, impl, ms,
                               gbps=nbytes / ms / 1e6 if nbytes else None,
                               tflops=flops / ms / 1e9 if flops else None))  # fmt: skip
        base = next(r.ms for r in rows if r.impl == "torch path")
        for r in rows:
            r.ratio = base / r.ms
        self.results.extend(rows)

    def both(self, fn: Callable[[], object]) -> dict[str, Callable[[], object]]:
        """The op as dispatched (Triton on CUDA) and its torch path on the same device."""

        def torch_path() -> object:
            with ops.use_triton(False):
                return fn()

        return {DISPATCHED: fn, "torch path": torch_path} if self.on_cuda else {"torch path": fn}

    def mean_pool(self) -> None:
        b, c, m, d, v = (self.shape.rows, self.shape.slots, self.shape.max_subtokens,
                         self.shape.dim, self.shape.vocab)  # fmt: skip
        n, elt = b * c, self.elt
        weight = self.randn(v, d, scale=0.02)
        subtokens = _subtokens(n, m, v, self.device, self.gen)
        valid_ids = int((subtokens >= 0).sum())
        # Forward: read every valid row once, write N outputs (and read the ids).
        pool_bytes = (valid_ids + n) * d * elt + n * m * 8
        self.add("mean_pool fwd", {
            **self.both(lambda: ops.masked_mean_pool(weight, subtokens)),
            "torch embedding_bag": lambda: _embedding_bag_pool(weight, subtokens),
        }, nbytes=pool_bytes)  # fmt: skip

        # Forward + backward into a dense table gradient (whose zero-fill is counted too).
        leaf = weight.detach().requires_grad_(True)
        grad_out = self.randn(n, d)

        Pool = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

        def fwd_bwd(pool: Pool) -> Callable[[], object]:
            def run() -> object:
                leaf.grad = None
                torch.autograd.backward(pool(leaf, subtokens), grad_out)
                return leaf.grad

            return run

        self.add("mean_pool fwd+bwd", {
            **self.both(fwd_bwd(ops.masked_mean_pool)),
            "torch autograd": fwd_bwd(masked_mean_pool_torch),
            "torch embedding_bag": fwd_bwd(_embedding_bag_pool),
        }, nbytes=pool_bytes + (n + 2 * valid_ids) * d * elt + v * d * elt)  # fmt: skip

    def scatter(self) -> None:
        b, c, d = self.shape.rows, self.shape.slots, self.shape.dim
        n, dev = b * c, self.device
        cache = torch.zeros(b, c, d, device=dev, dtype=self.dtype)
        values = self.randn(n, d)
        rows = torch.arange(b, device=dev).repeat_interleave(c)
        slots = torch.arange(c, device=dev).repeat(b)
        self.add(f"scatter_rows_ N={n}",
                 self.both(lambda: ops.scatter_rows_(cache, rows, slots, values)),
                 nbytes=2 * n * d * self.elt)  # fmt: skip
        step_rows, step_slots = torch.arange(b, device=dev), torch.full((b,), c // 2, device=dev)
        self.add(f"scatter_rows_ N={b}",
                 self.both(lambda: ops.scatter_rows_(cache, step_rows, step_slots, values[:b])),
                 nbytes=2 * b * d * self.elt)  # fmt: skip

    def hyper_logits(self) -> None:
        b, c, d, t = self.shape.rows, self.shape.slots, self.shape.dim, self.shape.positions
        dev, elt = self.device, self.elt
        table = self.randn(b, c, d, scale=0.02)
        hidden = self.randn(b, t, d)
        filling = torch.arange(1, t + 1, device=dev).clamp_max(c).expand(b, t).contiguous()
        for label, n_valid in [("full", torch.full((b, t), c, device=dev)), ("filling", filling)]:
            flops = 2.0 * d * float(n_valid.sum())
            self.add(f"hyper_logits fwd T={t} {label}", {
                **self.both(partial(ops.hyper_logits, hidden, table, n_valid)),
                "torch bmm (no mask)": lambda: torch.bmm(hidden, table.transpose(1, 2)),
            }, nbytes=(b * t * d + b * c * d + b * t * c) * elt, flops=flops)  # fmt: skip
            fwd_bwd = self._logits_fwd_bwd(hidden, table, n_valid)
            self.add(f"hyper_logits fwd+bwd T={t} {label}", self.both(fwd_bwd), flops=3 * flops)
        step = hidden[:, -1:].contiguous()
        for label, count in [("full", c), ("half", c // 2)]:
            nv = torch.full((b, 1), count, device=dev)
            self.add(f"hyper_logits fwd T=1 {label}", {
                **self.both(partial(ops.hyper_logits, step, table, nv)),
                "torch bmm (no mask)": lambda: torch.bmm(step, table.transpose(1, 2)),
            }, nbytes=(b * count * d + b * d + b * c) * elt, flops=2.0 * d * b * count)  # fmt: skip

    def _logits_fwd_bwd(self, hidden: torch.Tensor, table: torch.Tensor,
                        n_valid: torch.Tensor) -> Callable[[], object]:  # fmt: skip
        h_leaf = hidden.detach().requires_grad_(True)
        w_leaf = table.detach().requires_grad_(True)
        grad = self.randn(*hidden.shape[:2], table.shape[1])

        def run() -> object:
            h_leaf.grad = w_leaf.grad = None
            torch.autograd.backward(ops.hyper_logits(h_leaf, w_leaf, n_valid), grad)
            return h_leaf.grad

        return run


def bench(device: torch.device, shape: Shape, budget: float) -> list[Result]:
    """Runs every case; the tensors of one case are freed before the next."""
    runner = Bench(device, shape, budget)
    runner.mean_pool()
    runner.scatter()
    runner.hyper_logits()
    return runner.results


def _fmt(x: float | None, spec: str) -> str:
    return "" if x is None else format(x, spec)


def print_table(results: list[Result]) -> None:
    header = f"{'case':<36} {'implementation':<22} {'median ms':>10} {'GB/s':>8} {'TFLOP/s':>8}"
    print(header + f" {'vs torch path':>14}")
    print("-" * (len(header) + 15))
    last = ""
    for r in results:
        case = r.case if r.case != last else ""
        last = r.case
        print(f"{case:<36} {r.impl:<22} {r.ms:>10.4f} {_fmt(r.gbps, '8.1f'):>8} "
              f"{_fmt(r.tflops, '8.1f'):>8} {_fmt(r.ratio, '13.2f'):>13}x")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    parser.add_argument("--budget", type=float, default=0.3, help="seconds of repetitions per row")
    parser.add_argument("--json", metavar="OUT", help="write all results as JSON to OUT")
    parser.add_argument("--quick", action="store_true", help="tiny shapes (smoke test)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if args.quick:
        shape = Shape(2, 64, 4, 64, 1000, 32, args.dtype)
    elif device.type == "cuda":
        shape = Shape(8, 2048, 4, 4096, 128_000, 2048, args.dtype)
    else:
        shape = Shape(2, 512, 4, 512, 32_000, 256, args.dtype)
    if device.type == "cpu" and args.dtype == "float16":
        parser.error("float16 matmuls are slow or missing on CPU; use bfloat16 or float32")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    print(f"device: {name or device.type}; torch {torch.__version__}; "
          f"Triton kernels: {device.type == 'cuda' and ops.triton_enabled()}")  # fmt: skip
    print(f"shape: {asdict(shape)}\n")
    results = bench(device, shape, args.budget)
    print_table(results)
    pool = {r.impl: r for r in results if r.case == "mean_pool fwd"}
    if DISPATCHED in pool:
        ratio = pool[DISPATCHED].ratio or 0.0
        verdict = "meets" if ratio >= POOL_TARGET else "misses"
        print(f"\nembedding new entries: Triton {ratio:.2f}x the torch path "
              f"({verdict} the {POOL_TARGET}x target)")  # fmt: skip
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            meta = {"device": name, "torch": torch.__version__, "python": sys.version.split()[0]}
            json.dump({"meta": meta, "shape": asdict(shape),
                       "results": [asdict(r) for r in results]}, out, indent=2)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

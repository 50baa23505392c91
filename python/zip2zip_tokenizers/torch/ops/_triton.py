"""The one place that imports Triton, and the switch that decides whether CUDA tensors use it.

``triton``/``tl`` are ``None`` when Triton is missing (or fails to import on a platform it does
not support); kernel modules are imported only when :data:`HAS_TRITON` is true. Triton ships no
type information, so it is imported dynamically and typed ``Any``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

triton: Any
tl: Any
try:
    triton = importlib.import_module("triton")
    tl = importlib.import_module("triton.language")
except ImportError:  # pragma: no cover - exercised only where Triton is absent
    triton = None
    tl = None

HAS_TRITON: bool = triton is not None

_enabled = os.environ.get("ZIP2ZIP_TRITON", "1") != "0"


def triton_enabled() -> bool:
    """Whether CUDA tensors go through the Triton kernels (Triton installed, not switched off).

    ``ZIP2ZIP_TRITON=0`` in the environment, or :func:`use_triton`, switches them off; the ops
    then run their torch path on every device.
    """
    return HAS_TRITON and _enabled


def direct_call(*tensors: Any) -> bool:
    """Whether an op may skip the dispatcher and call its implementation directly: eager mode
    (not tracing or compiling) with no gradient to record. Saves ~35 us per call per step."""
    import torch

    if torch.compiler.is_compiling():
        return False
    return not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors))


@contextmanager
def use_triton(enabled: bool) -> Iterator[None]:
    """Within the block, CUDA tensors use the Triton kernels only if ``enabled`` (and installed)."""
    global _enabled
    previous, _enabled = _enabled, enabled
    try:
        yield
    finally:
        _enabled = previous


__all__ = ["HAS_TRITON", "direct_call", "tl", "triton", "triton_enabled", "use_triton"]

"""Setup for the model-layer tests.

Triton decides at ``@triton.jit`` time whether a kernel is compiled or interpreted, so on a
machine without CUDA the interpreter is switched on here, before any test imports the kernels.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator

import pytest

if importlib.util.find_spec("torch") is not None:
    import torch

    if not torch.cuda.is_available():
        os.environ.setdefault("TRITON_INTERPRET", "1")


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One intra-op thread for a module (tiny matrices: faster, far faster on a shared
    machine); opted into with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

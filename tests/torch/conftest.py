"""Setup for the model-layer tests.

Triton decides at ``@triton.jit`` time whether a kernel is compiled or interpreted, so on a
machine without CUDA the interpreter is switched on here, before any test imports the kernels.
"""

from __future__ import annotations

import importlib.util
import os

if importlib.util.find_spec("torch") is not None:
    import torch

    if not torch.cuda.is_available():
        os.environ.setdefault("TRITON_INTERPRET", "1")

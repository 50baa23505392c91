"""Custom ops of the model layer: Triton kernels on CUDA, a torch path everywhere else.

Each op is a ``torch.library.custom_op`` (``zip2zip::<name>``): it runs eagerly, under
autograd and under ``torch.compile``; CUDA tensors dispatch to a Triton kernel when Triton is
installed (see :func:`use_triton`), every other tensor to the torch path, which is also the
oracle the kernels are tested against.
"""

from __future__ import annotations

from ._triton import HAS_TRITON, triton_enabled, use_triton
from .hyper_logits import hyper_logits
from .mean_pool import gather_subtokens, masked_mean_pool
from .scatter import scatter_rows_

__all__ = [
    "HAS_TRITON",
    "gather_subtokens",
    "hyper_logits",
    "masked_mean_pool",
    "scatter_rows_",
    "triton_enabled",
    "use_triton",
]

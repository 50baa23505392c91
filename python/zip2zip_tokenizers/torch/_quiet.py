"""Warnings that dependencies raise about their own calls to each other, which nothing in this
package can avoid, silenced in one place when the model layer is imported.

Each filter names the message and the module the warning is attributed to, so the same message
raised anywhere else, and every warning of ours, still shows.
"""

from __future__ import annotations

import re
import warnings

# (category, message prefix, module the warning is attributed to)
DEPENDENCY_WARNINGS: tuple[tuple[type[Warning], str, str], ...] = (
    # peft (0.21) reads `model.is_gradient_checkpointing` in PeftModel.__init__,
    # i.e. on every LoRA model built or loaded; transformers 5.x deprecated that property for
    # `is_activation_checkpointing` and warns from inside it (stacklevel 1, so the warning
    # belongs to transformers.modeling_utils whoever reads it).
    (
        FutureWarning,
        "`is_gradient_checkpointing` is deprecated",
        "transformers.modeling_utils",
    ),
)


def silence_dependency_warnings() -> None:
    """Ignores each of ``DEPENDENCY_WARNINGS`` (idempotent: ``warnings`` drops a filter added
    twice)."""
    for category, message, module in DEPENDENCY_WARNINGS:
        warnings.filterwarnings(
            "ignore",
            message=re.escape(message),
            category=category,
            module=re.escape(module) + r"\Z",
        )

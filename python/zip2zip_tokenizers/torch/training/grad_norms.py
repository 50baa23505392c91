"""Gradient norms of a ``Zip2ZipForCausalLM``'s parts, before clipping: what each part learns.

A part is named by where its parameters sit: ``encoders`` (the input and output hyper-encoders),
``adapter`` (a LoRA adapter's weights), ``base_model`` (base weights trained themselves: full
fine-tuning), ``token_type_head``. The norms' squares add up to the square of the whole model's
gradient norm (the one the Trainer clips and logs as ``grad_norm``).

Sharded gradients: a DTensor (FSDP2) gives its part of the squared sum, which
``full_tensor`` adds up over the processes holding the shards; plain gradients are whole on every
process (one process, DDP after its all-reduce) unless ``sharded`` says they are each process's
own shard (FSDP1), then the squared sums are added up over the processes by ``all_reduce``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

GROUPS = ("encoders", "adapter", "base_model", "token_type_head")
ENCODER_PREFIXES = ("input_encoder.", "output_encoder.")
HEAD_PREFIX = "token_type_head."
# peft names every LoRA weight so: lora_A, lora_B, lora_embedding_A/B, lora_magnitude_vector.
ADAPTER_MARK = "lora_"


def parameter_group(name: str) -> str:
    """The part of the model the parameter ``name`` (as ``named_parameters`` of the unwrapped
    ``Zip2ZipForCausalLM`` gives it) belongs to: one of ``GROUPS``."""
    if name.startswith(ENCODER_PREFIXES):
        return "encoders"
    if name.startswith(HEAD_PREFIX):
        return "token_type_head"
    return "adapter" if ADAPTER_MARK in name else "base_model"


def group_grad_norms(
    model: nn.Module,
    *,
    all_reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
    scale: float = 1.0,
) -> dict[str, torch.Tensor]:
    """The L2 norm of the gradients of each group that has a trainable parameter (a 0-d fp32
    tensor on the gradients' device), each divided by ``scale`` (a loss scaler's factor; 1
    without one). ``all_reduce`` sums a tensor over the processes: pass it when plain gradients
    are each process's shard. Empty when no parameter has a gradient."""
    grads: dict[str, list[torch.Tensor]] = {}
    for name, param in model.named_parameters():
        if param.requires_grad:
            parts = grads.setdefault(parameter_group(name), [])
            if param.grad is not None:
                parts.append(param.grad.detach())
    device = next((g.device for parts in grads.values() for g in parts), None)
    if device is None:
        if all_reduce is None or not grads:
            return {}
        # Every process must join the all-reduce, one without any gradient shard too.
        device = next(model.parameters()).device
    present = [name for name in GROUPS if name in grads]
    sums = torch.stack([_squared_sum(grads[name], device) for name in present])
    if all_reduce is not None:
        sums = all_reduce(sums)
    return dict(zip(present, (sums.sqrt() / scale).unbind(), strict=True))


def _squared_sum(grads: list[torch.Tensor], device: torch.device) -> torch.Tensor:
    """The sum of the squares of every element of ``grads``, over all their shards."""
    total = torch.zeros((), dtype=torch.float32, device=device)
    partial: Any = None  # a DTensor
    for grad in grads:
        squared = grad.float().pow(2).sum()
        if hasattr(squared, "full_tensor"):
            # A DTensor's sum over its local shard is a partial value; the partial values add
            # up here, and one full_tensor per group adds them over the processes.
            partial = squared if partial is None else partial + squared
        else:
            total += squared.to(device)
    if partial is not None:
        total += partial.full_tensor().to(device)
    return total

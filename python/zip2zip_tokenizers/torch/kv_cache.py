"""A KV cache for generation that writes each step's keys and values into room reserved ahead.

transformers' ``DynamicLayer`` concatenates every step: each layer copies its whole cache into a
new tensor (SmolLM2-135M with 640 cached positions: 60 copies of 0.5 MB and as many fresh
allocations per step, about a tenth of a CPU step). :func:`reserved_cache` builds the same
``DynamicCache`` with each full-attention layer replaced by a :class:`ReservedLayer`, which
allocates ``capacity`` positions once (doubling if a sequence outgrows it) and hands attention
a view of the filled part: the same keys and values, the same attention.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import cache_utils

# transformers < 4.56 has no per-layer caches: then the model builds its own cache.
_DynamicCache: Any = getattr(cache_utils, "DynamicCache", None)
_DynamicLayer: Any = getattr(cache_utils, "DynamicLayer", None)


# Positions reserved ahead of the prompt at most: a generous max_new_tokens (10**9) must not
# allocate its whole cache up front; a longer generation grows the buffers by doubling.
MAX_RESERVED_AHEAD = 8192


def reserved_cache(base_model: Any, prompt_length: int, max_new_tokens: int) -> Any:
    """A ``DynamicCache`` for ``base_model`` whose full-attention layers reserve room for the
    prompt and ``max_new_tokens`` (at most ``MAX_RESERVED_AHEAD`` of them); ``None`` (let the
    model build its own) where transformers has no per-layer caches or the model's layers are
    not plain ``DynamicLayer``s."""
    capacity = prompt_length + min(max_new_tokens, MAX_RESERVED_AHEAD)
    if _DynamicLayer is None:
        return None
    config = getattr(base_model, "config", None)
    try:
        cache = _DynamicCache(config=config)
    except (TypeError, ValueError, KeyError):
        return None
    layers = getattr(cache, "layers", None)
    if not layers or not all(type(layer) is _DynamicLayer for layer in layers):
        return None
    cache.layers = [ReservedLayer(capacity) for _ in layers]
    return cache


class ReservedLayer(_DynamicLayer or object):  # type: ignore[misc]
    """A ``DynamicLayer`` whose ``keys``/``values`` are views of buffers reserved ahead."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity
        self.length = 0
        self._key_buffer: torch.Tensor | None = None
        self._value_buffer: torch.Tensor | None = None

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        self.device = key_states.device
        self.length = 0
        self.is_initialized = True

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        end = self.length + key_states.shape[-2]
        if self._key_buffer is None or end > self._key_buffer.shape[-2]:
            self._reserve(key_states, value_states, max(end, self.capacity))
        assert self._key_buffer is not None and self._value_buffer is not None
        self._key_buffer[:, :, self.length : end] = key_states
        self._value_buffer[:, :, self.length : end] = value_states
        self._set_length(end)
        return self.keys, self.values

    def _reserve(self, keys: torch.Tensor, values: torch.Tensor, needed: int) -> None:
        """Buffers of at least ``needed`` positions (double the old ones), filled part kept."""
        old = 0 if self._key_buffer is None else self._key_buffer.shape[-2]
        size = max(needed, 2 * old)
        shape = (*keys.shape[:2], size)
        key_buffer = keys.new_empty((*shape, keys.shape[-1]))
        value_buffer = values.new_empty((*shape, values.shape[-1]))
        if self.length:
            key_buffer[:, :, : self.length] = self.keys
            value_buffer[:, :, : self.length] = self.values
        self._key_buffer, self._value_buffer = key_buffer, value_buffer
        self.capacity = size

    def _set_length(self, length: int) -> None:
        assert self._key_buffer is not None and self._value_buffer is not None
        self.length = length
        self.keys = self._key_buffer[:, :, :length]
        self.values = self._value_buffer[:, :, :length]

    def _replace(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Makes ``keys``/``values`` the filled part (rows reordered, selected, repeated)."""
        same_rows = self._key_buffer is not None and self._key_buffer.shape[0] == len(keys)
        if not same_rows or keys.shape[-2] > self.capacity:
            self._key_buffer = self._value_buffer = None
            self.length = 0
            self._reserve(keys, values, max(keys.shape[-2], self.capacity))
        assert self._key_buffer is not None and self._value_buffer is not None
        self._key_buffer[:, :, : keys.shape[-2]] = keys
        self._value_buffer[:, :, : values.shape[-2]] = values
        self._set_length(keys.shape[-2])

    def get_seq_length(self) -> int:
        return self.length if self.is_initialized else 0

    def reset(self) -> None:
        self._key_buffer = self._value_buffer = None
        self.length = 0
        super().reset()

    def crop(self, tokens_to_remove: int) -> None:
        if tokens_to_remove > 0:
            raise ValueError(f"crop takes a negative count, got {tokens_to_remove}")
        if tokens_to_remove and self.is_initialized:
            self._set_length(max(0, self.length + tokens_to_remove))

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        if self.length:
            index = beam_idx.to(self.keys.device)
            self._replace(self.keys.index_select(0, index), self.values.index_select(0, index))

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self.length:
            self._replace(self.keys[indices], self.values[indices])

    def batch_repeat_interleave(self, repeats: int) -> None:
        if self.length:
            self._replace(
                self.keys.repeat_interleave(repeats, dim=0),
                self.values.repeat_interleave(repeats, dim=0),
            )

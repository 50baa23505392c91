"""The tensor arguments of the model's ``forward`` and ``generate``, checked at the boundary so
that a wrong one is an error naming it, not an exception from deep inside the base model."""

from __future__ import annotations

from typing import Any

import torch

from zip2zip_tokenizers._core import InvalidArgumentError


def check_ids(input_ids: Any, attention_mask: Any = None) -> None:
    """``input_ids`` is a non-empty ``[batch, length]`` integer tensor and ``attention_mask``
    (when given) an integer or boolean tensor; wrong types raise ``TypeError``, wrong shapes
    ``InvalidArgumentError``."""
    _integer_tensor("input_ids", input_ids)
    if input_ids.dim() != 2:
        raise InvalidArgumentError(
            f"input_ids must be [batch, length], got shape {tuple(input_ids.shape)}"
        )
    if 0 in input_ids.shape:
        raise InvalidArgumentError(
            f"input_ids must hold at least one row and one column, got shape "
            f"{tuple(input_ids.shape)}"
        )
    if attention_mask is not None:
        _integer_tensor("attention_mask", attention_mask, allow_bool=True)
        if attention_mask.dim() != 2 or attention_mask.shape[0] != input_ids.shape[0]:
            raise InvalidArgumentError(
                f"attention_mask must be [batch, length] with input_ids' batch size "
                f"{input_ids.shape[0]}, got shape {tuple(attention_mask.shape)}"
            )


def check_labels_shape(labels: Any, input_ids: torch.Tensor) -> None:
    """``labels`` is an integer tensor of ``input_ids``' shape (their values are checked by
    :func:`~zip2zip_tokenizers.torch.loss.check_labels`)."""
    _integer_tensor("labels", labels)
    if labels.shape != input_ids.shape:
        raise InvalidArgumentError(
            f"labels must have input_ids' shape {tuple(input_ids.shape)}, got {tuple(labels.shape)}"
        )


def check_positions(position_ids: Any, input_ids: torch.Tensor) -> None:
    """``position_ids`` is an integer tensor ``[batch or 1, length]`` matching ``input_ids``."""
    _integer_tensor("position_ids", position_ids)
    rows, columns = input_ids.shape
    if (
        position_ids.dim() != 2
        or position_ids.shape[0] not in (1, rows)
        or (position_ids.shape[1] != columns)
    ):
        raise InvalidArgumentError(
            f"position_ids must be [{rows} or 1, {columns}] like input_ids, got shape "
            f"{tuple(position_ids.shape)}"
        )


def check_uncompressed(
    uncompressed: Any,
    input_ids: torch.Tensor,
    labels: torch.Tensor | None,
    vocab: int,
) -> None:
    """``uncompressed`` is a ``[batch]`` integer or boolean tensor, and the rows it marks hold
    base ids only (ids and labels below ``vocab``, -100 labels aside): a hypertoken there could
    never be read or scored."""
    _integer_tensor("uncompressed", uncompressed, allow_bool=True)
    if uncompressed.shape != input_ids.shape[:1]:
        raise InvalidArgumentError(
            f"uncompressed must be [batch] with input_ids' batch size {input_ids.shape[0]}, got "
            f"shape {tuple(uncompressed.shape)}"
        )
    rows = uncompressed.to(device=input_ids.device, dtype=torch.bool)
    for name, values in [("input_ids", input_ids), ("labels", labels)]:
        if values is not None and bool((values[rows] >= vocab).any()):
            row = int(torch.nonzero((values >= vocab).any(1) & rows)[0])
            raise InvalidArgumentError(
                f"row {row} is uncompressed but its {name} hold a hypertoken id (>= {vocab}); an "
                "uncompressed row holds base ids only"
            )


def check_count(name: str, value: Any) -> int:
    """``value`` as a non-negative ``int`` (``TypeError`` for a bool, float or other type)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 0:
        raise InvalidArgumentError(f"{name} must be >= 0, got {value}")
    return value


def _integer_tensor(name: str, value: Any, *, allow_bool: bool = False) -> None:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    dtype = value.dtype
    integer = not (dtype.is_floating_point or dtype.is_complex) and (
        dtype != torch.bool or allow_bool
    )
    if not integer:
        kinds = "integers or booleans" if allow_bool else "integers"
        raise TypeError(f"{name} must hold {kinds}, got dtype {dtype}")

"""Argument checks shared by the ops: shapes and dtypes everywhere, id ranges on the torch path."""

from __future__ import annotations

import torch

from zip2zip_tokenizers import InvalidTokenError


def check_index(name: str, t: torch.Tensor, ndim: int) -> None:
    if t.dtype != torch.int64 or t.dim() != ndim:
        raise ValueError(f"{name} must be a {ndim}-D int64 tensor, got {t.dim()}-D {t.dtype}")


def check_float(name: str, t: torch.Tensor, ndim: int) -> None:
    if not t.is_floating_point() or t.dim() != ndim:
        raise ValueError(f"{name} must be a {ndim}-D floating tensor, got {t.dim()}-D {t.dtype}")


def check_same_device(**tensors: torch.Tensor) -> None:
    devices = {name: t.device for name, t in tensors.items()}
    if len(set(devices.values())) > 1:
        raise ValueError(f"tensors must share one device, got {devices}")


def check_subtoken_ids(subtokens: torch.Tensor, num_embeddings: int) -> None:
    """Raises unless every id is ``-1`` (padding) or in ``[0, num_embeddings)``; one sync."""
    if subtokens.numel() == 0:
        return
    lo, hi = (int(x) for x in torch.aminmax(subtokens))
    if lo < -1 or hi >= num_embeddings:
        bad = lo if lo < -1 else hi
        raise InvalidTokenError(
            f"subtoken id {bad} is neither -1 (padding) nor in [0, {num_embeddings})"
        )

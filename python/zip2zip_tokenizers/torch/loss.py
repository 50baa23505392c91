"""Next-id cross-entropy over the extended vocabulary ``V + C`` without a full fp32 copy of it.

The logits are built and scored a chunk of columns at a time under activation checkpointing: a
chunk's fp32 logits exist only while that chunk is scored (and again while its gradient is
computed), so the peak is one chunk, not ``[B, T, V + C]`` twice (logits and log-softmax) as with
``F.cross_entropy`` on the whole tensor. From hidden states (:func:`chunked_hidden_loss`), the
``[B, T, V + C]`` logits never exist at all.

Each returns a :class:`LossSums`: summed losses, not means, so that a trainer can normalise over
a whole accumulated (and distributed) batch, plus detached per-target-kind sums for logging
(``LOSS_STATS``), the top-1 prediction counts among them: each chunk's argmax is taken from
the logits the loss builds anyway, never from a pass of its own over ``[B, T, V + C]``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from zip2zip_tokenizers.torch.hyper_state import StepView
from zip2zip_tokenizers.torch.logits import extended_logits

IGNORE_INDEX = -100
# Positions (rows x columns) whose fp32 logits exist at once: 1024 x (49k + 2k) ids is ~210 MB.
DEFAULT_CHUNK_POSITIONS = 1024
# What ``LossSums.stats`` holds, in this order: detached sums over the targets in the loss. The
# top-1 id is the argmax over all ``V + C`` logits (slots not yet created are -inf; a tie goes to
# the lower id, as ``torch.argmax`` gives it).
LOSS_STATS = (
    "base_loss",  # cross-entropy summed over base-id targets
    "base_targets",
    "hyper_loss",  # cross-entropy summed over hypertoken targets
    "hyper_targets",
    "base_correct",  # base-id targets that are the top-1 id
    "hyper_correct",  # hypertoken targets that are the top-1 id
    "hyper_predicted",  # targets whose top-1 id is a hypertoken, whatever the target
)


@dataclass
class LossSums:
    """``loss_sum``: summed cross-entropy over the targets (differentiable); ``num_targets``:
    how many targets; ``stats``: the detached sums ``LOSS_STATS`` names (the same loss split
    by whether the target is a base id or a hypertoken, and the top-1 prediction counts)."""

    loss_sum: torch.Tensor
    num_targets: torch.Tensor
    stats: torch.Tensor

    @property
    def mean(self) -> torch.Tensor:
        return self.loss_sum / self.num_targets.clamp(min=1)


def view_columns(view: StepView, start: int, stop: int) -> StepView:
    """The part of ``view`` about columns ``[start, stop)``, as if only they had been fed."""
    keep_host = np.nonzero((view.next_columns_host >= start) & (view.next_columns_host < stop))[0]
    keep = torch.from_numpy(keep_host).to(view.next_rows.device)
    return replace(
        view,
        sizes=view.sizes[:, start:stop],
        next_rows=view.next_rows[keep],
        next_columns=view.next_columns[keep] - start,
        next_columns_host=view.next_columns_host[keep_host] - start,
        next_vectors=view.next_vectors[keep],
        next_slots=None if view.next_slots is None else view.next_slots[keep],
        versions=None if view.versions is None else view.versions.select(slice(start, stop)),
        taken=None if view.taken is None else view.taken.between(start, stop),
    )


def _sums(
    ce: torch.Tensor,
    predicted: torch.Tensor,
    targets: torch.Tensor,
    vocab: int,
    drop_unscorable: bool = False,
) -> LossSums:
    if drop_unscorable:
        # Targets whose logit is -inf (the KwKwK slot of a model that masks it): out of the loss,
        # as the authors' training drops them; nothing else can make a cross-entropy infinite.
        unscorable = torch.isinf(ce.detach())
        ce = ce.masked_fill(unscorable, 0.0)
        targets = targets.masked_fill(unscorable, IGNORE_INDEX)
    valid = targets != IGNORE_INDEX
    stats = loss_stats(ce.detach(), predicted, targets, valid, vocab)
    return LossSums(ce.sum(), valid.sum(), stats)


def loss_stats(
    ce: torch.Tensor, predicted: torch.Tensor, targets: torch.Tensor, kept: torch.Tensor, vocab: int
) -> torch.Tensor:
    """The ``LOSS_STATS`` of per-target cross-entropies ``ce``, top-1 ids ``predicted`` and
    ``targets`` (same shapes), over the targets where ``kept`` is true."""
    hyper = kept & (targets >= vocab)
    base = kept & ~hyper
    correct = predicted == targets
    counts = [base, hyper, correct & base, correct & hyper, kept & (predicted >= vocab)]
    base_n, hyper_n, base_ok, hyper_ok, hyper_top = (c.sum().to(ce.dtype) for c in counts)
    stats = [(ce * base).sum(), base_n, (ce * hyper).sum(), hyper_n, base_ok, hyper_ok, hyper_top]
    return torch.stack(stats)


def _chunks(rows: int, columns: int, chunk_positions: int) -> list[tuple[int, int]]:
    width = max(1, chunk_positions // max(rows, 1))
    return [(start, min(start + width, columns)) for start in range(0, columns, width)]


def _scored(
    logits_of: Callable[[int, int], torch.Tensor],
    targets: torch.Tensor,
    chunk_positions: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-position cross-entropy ``[B, T]`` (0 where ignored) and top-1 id, chunk by chunk, each
    chunk's logits recomputed in the backward pass instead of kept."""
    rows, columns = targets.shape
    parts = []
    for start, stop in _chunks(rows, columns, chunk_positions):

        def score(
            chunk_targets: torch.Tensor, start: int = start, stop: int = stop
        ) -> tuple[torch.Tensor, torch.Tensor]:
            logits = logits_of(start, stop).float()
            ce = F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]),
                chunk_targets.reshape(-1),
                ignore_index=IGNORE_INDEX,
                reduction="none",
            ).view(chunk_targets.shape)
            return ce, logits.argmax(-1)

        chunk_targets = targets[:, start:stop]
        if torch.is_grad_enabled():
            parts.append(checkpoint(score, chunk_targets, use_reentrant=False))
        else:
            parts.append(score(chunk_targets))
    if not parts:
        return targets.new_zeros(targets.shape, dtype=torch.float32), torch.zeros_like(targets)
    return torch.cat([ce for ce, _ in parts], dim=1), torch.cat([top for _, top in parts], dim=1)


def check_labels(labels: torch.Tensor, total_vocab: int) -> None:
    """``LabelError`` unless every label is -100 or an id in ``[0, total_vocab)``."""
    from zip2zip_tokenizers.torch.errors import LabelError

    bad = (labels != IGNORE_INDEX) & ((labels < 0) | (labels >= total_vocab))
    if bool(bad.any()):
        where = bad.nonzero()[0].tolist()
        raise LabelError(
            f"label {int(labels[tuple(where)])} at (row {where[0]}, position {where[1]}) is "
            f"outside [0, {total_vocab}) (V + C) and is not the ignore index -100"
        )


def chunked_logits_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    vocab: int,
    chunk_positions: int = DEFAULT_CHUNK_POSITIONS,
    *,
    drop_unscorable: bool = False,
) -> LossSums:
    """Summed next-id cross-entropy of ``[B, T, V + C]`` logits (any dtype; each chunk is
    upcast to fp32 on its own). ``labels`` are shifted inside, -100 ignored; with
    ``drop_unscorable`` so are targets whose logit is ``-inf``."""
    targets = labels[:, 1:].to(logits.device)
    shifted = logits[:, :-1]
    ce, predicted = _scored(lambda start, stop: shifted[:, start:stop], targets, chunk_positions)
    return _sums(ce, predicted, targets, vocab, drop_unscorable)


def chunked_hidden_loss(
    hidden: torch.Tensor,
    head: Callable[[torch.Tensor], torch.Tensor],
    table: torch.Tensor,
    view: StepView,
    max_codebook_size: int,
    labels: torch.Tensor,
    vocab: int,
    chunk_positions: int = DEFAULT_CHUNK_POSITIONS,
    *,
    drop_unscorable: bool = False,
) -> LossSums:
    """Summed next-id cross-entropy from the last hidden states ``[B, T, D]``: each chunk's
    logits are ``head(hidden)`` ‖ its hypertoken logits (:func:`extended_logits`), built,
    scored and dropped, so the whole ``[B, T, V + C]`` tensor never exists."""
    targets = labels[:, 1:].to(hidden.device)
    shifted = hidden[:, :-1]

    def logits_of(start: int, stop: int) -> torch.Tensor:
        part = shifted[:, start:stop]
        return extended_logits(
            head(part), part, table, view_columns(view, start, stop), max_codebook_size
        )

    ce, predicted = _scored(logits_of, targets, chunk_positions)
    return _sums(ce, predicted, targets, vocab, drop_unscorable)


def token_type_loss(
    type_logits: torch.Tensor, labels: torch.Tensor, vocab: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed binary cross-entropy of "the next id is a hypertoken" (``type_logits``:
    ``[B, T]``, one score per position) over the same targets as the LM loss, and the
    number of correct predictions (detached)."""
    targets = labels[:, 1:].to(type_logits.device)
    scores = type_logits[:, :-1].float()
    valid = targets != IGNORE_INDEX
    is_hyper = (targets >= vocab).to(scores.dtype)
    bce = F.binary_cross_entropy_with_logits(scores, is_hyper, reduction="none")
    correct = (((scores > 0).to(scores.dtype) == is_hyper) & valid).sum().detach()
    return (bce * valid).sum(), correct

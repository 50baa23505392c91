"""Fused linear cross-entropy over the extended vocabulary ``V + C``, from hidden states.

The forward pass scores a chunk of target positions at a time — base logits ``h W^T (+ b)``,
hypertoken logits against the row's entry vectors (``-inf`` where the entry does not exist),
the about-to-be-created (KwKwK) slot — notes its top-1 id from the maxima the softmax needs
anyway, and, in the same pass, turns the chunk's softmax into the
gradients of the summed cross-entropy with respect to the hidden states, the output layer's
weight and bias, the entry vectors and the would-be entries' vectors. The backward pass only
scales those by the incoming gradient. So the output layer runs three matrix products per step
(logits, input gradient, weight gradient; two when the layer is frozen) instead of four with
recomputation, and still at most one chunk of fp32 logits exists at a time. Positions whose
target is ``-100`` are never scored.

Same values and gradients as :func:`zip2zip_tokenizers.torch.loss.chunked_hidden_loss`
(tested), which stays the path for output layers that are not a plain linear layer.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zip2zip_tokenizers.torch.hyper_state import StepView
from zip2zip_tokenizers.torch.loss import IGNORE_INDEX, LossSums, loss_stats

_NEG_INF = float("-inf")


def fusable_head(head: nn.Module) -> bool:
    """Whether ``head`` computes exactly ``F.linear(hidden, weight, bias)`` from the weight it
    holds: a plain ``nn.Linear`` whose ``forward`` nothing has replaced and that no hook
    prepares (an offloading or parameter-gathering hook, an adapter)."""
    return (
        type(head) is nn.Linear
        and "forward" not in head.__dict__
        and not head._forward_pre_hooks
        and not head._forward_hooks
        and tuple(head.weight.shape) == (head.out_features, head.in_features)
    )


def _compute_dtype(device: torch.device, weight: torch.Tensor) -> torch.dtype:
    """The dtype the output layer's matrix products run in: autocast's when it is on."""
    if torch.is_autocast_enabled(device.type):
        return torch.get_autocast_dtype(device.type)
    return weight.dtype


class _Segments:
    """Target positions, row-major, with the host-side bounds of each row's run."""

    def __init__(self, rows_host: np.ndarray) -> None:
        changes = rows_host[1:] != rows_host[:-1]
        starts: list[int] = np.flatnonzero(np.r_[True, changes]).tolist() if len(rows_host) else []
        self.bounds = [*starts, len(rows_host)]
        self.rows = [int(rows_host[s]) for s in starts]

    def within(self, start: int, stop: int) -> list[tuple[int, int, int]]:
        """``(row, begin, end)`` runs of positions ``[start, stop)``."""
        out = []
        for index, row in enumerate(self.rows):
            begin, end = max(self.bounds[index], start), min(self.bounds[index + 1], stop)
            if begin < end:
                out.append((row, begin, end))
        return out


class _FusedLoss(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        hidden: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        table: torch.Tensor,
        pending: torch.Tensor,
        targets: torch.Tensor,
        sizes: torch.Tensor,
        has_pending: torch.Tensor,
        segments: _Segments,
        vocab: int,
        chunk: int,
        drop_unscorable: bool,
        needs: tuple[bool, bool, bool, bool, bool],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        n, width = hidden.shape
        dtype = _compute_dtype(hidden.device, weight)
        with torch.autocast(hidden.device.type, enabled=False):
            w = weight.to(dtype)
            need_h, need_w, need_b, need_t, need_p = needs
            grads = [
                torch.zeros((n, width), dtype=torch.float32, device=hidden.device)
                if need_h
                else None,
                torch.zeros(weight.shape, dtype=torch.float32, device=weight.device)
                if need_w
                else None,
                torch.zeros(bias.shape, dtype=torch.float32, device=weight.device)
                if need_b and bias is not None
                else None,
                torch.zeros(table.shape, dtype=torch.float32, device=table.device)
                if need_t
                else None,
                torch.zeros(pending.shape, dtype=torch.float32, device=pending.device)
                if need_p
                else None,
            ]
            any_grad = any(g is not None for g in grads)
            ce_parts: list[torch.Tensor] = []
            keep_parts: list[torch.Tensor] = []
            top_parts: list[torch.Tensor] = []
            slots = table.shape[1]
            columns = torch.arange(slots, device=hidden.device)
            buffer: torch.Tensor | None = None
            for start in range(0, n, chunk):
                stop = min(start + chunk, n)
                h = hidden[start:stop]
                h32 = h.float()
                if dtype == torch.float32:
                    # One reused buffer: a fresh chunk of logits would be fresh pages each time.
                    if buffer is None:
                        buffer = h.new_empty((min(chunk, n), w.shape[0]))
                    base = torch.mm(h, w.T, out=buffer[: stop - start])
                else:
                    base = F.linear(h.to(dtype), w).float()
                if bias is not None:
                    base += bias.float()
                hyper = base.new_full((stop - start, slots), _NEG_INF)
                runs = segments.within(start, stop)
                for row, begin, end in runs:
                    hyper[begin - start : end - start] = (
                        h32[begin - start : end - start] @ table[row].float().T
                    )
                size = sizes[start:stop]
                has = has_pending[start:stop]
                hyper.masked_fill_(columns >= size[:, None], _NEG_INF)
                pend_vec = pending[start:stop].float()
                pend = torch.where(has, (h32 * pend_vec).sum(-1), _NEG_INF)
                target = targets[start:stop]
                is_base = target < vocab
                slot = target - vocab
                is_pend = ~is_base & has & (slot == size)
                is_hyper = ~is_base & ~is_pend & (slot < slots)
                picked = base.gather(1, target.clamp(0, vocab - 1)[:, None])[:, 0]
                if slots:
                    from_table = hyper.gather(1, slot.clamp(0, slots - 1)[:, None])[:, 0]
                else:
                    from_table = torch.full_like(picked, _NEG_INF)
                chosen = torch.where(
                    is_base,
                    picked,
                    torch.where(is_pend, pend, torch.where(is_hyper, from_table, _NEG_INF)),
                )
                base_top, base_id = base.max(1)
                top = torch.maximum(base_top, pend)
                if slots:
                    hyper_top, hyper_slot = hyper.max(1)
                    top = torch.maximum(top, hyper_top)
                    # The top-1 id, a tie to the lower id as argmax over [base | slots] gives it:
                    # base ids, then the entries that exist (slots < size), then the would-be
                    # entry (slot == size).
                    best_hyper = torch.where(hyper_top >= top, hyper_slot, size) + vocab
                    top_parts.append(torch.where(base_top >= top, base_id, best_hyper))
                else:
                    top_parts.append(base_id)
                # In place from here: the logits become exp(logit - top), then the softmax.
                exp_base = base.sub_(top[:, None]).exp_()
                exp_hyper = hyper.sub_(top[:, None]).exp_()
                exp_pend = (pend - top).exp()
                total = exp_base.sum(1) + exp_hyper.sum(1) + exp_pend
                ce = top + total.log() - chosen
                kept = torch.ones_like(is_base) if not drop_unscorable else chosen > _NEG_INF
                if drop_unscorable:
                    # A -inf target (a masked KwKwK slot) leaves the loss, as in the authors'
                    # training; nothing else can make a cross-entropy infinite.
                    ce = ce.masked_fill(~kept, 0.0)
                ce_parts.append(ce)
                keep_parts.append(kept)
                if not any_grad:
                    continue
                keep = kept.float()
                # d(sum ce)/d logits = softmax - one-hot, for the positions kept.
                scale = (keep / total)[:, None]
                p_base = exp_base.mul_(scale)
                p_base.scatter_add_(
                    1, target.clamp(0, vocab - 1)[:, None], -(keep * is_base)[:, None]
                )
                p_pend = exp_pend * scale[:, 0] - keep * is_pend
                p_hyper = exp_hyper.mul_(scale)
                if slots:
                    p_hyper.scatter_add_(
                        1, slot.clamp(0, slots - 1)[:, None], -(keep * is_hyper)[:, None]
                    )
                g_h, g_w, g_b, g_t, g_p = grads
                fp32 = dtype == torch.float32
                if g_h is not None:
                    if fp32:
                        g_h[start:stop].addmm_(p_base, w)
                    else:
                        g_h[start:stop] += (p_base.to(dtype) @ w).float()
                    g_h[start:stop] += p_pend[:, None] * pend_vec
                if g_w is not None:
                    if fp32:
                        g_w.addmm_(p_base.T, h)
                    else:
                        g_w += (p_base.T.to(dtype) @ h.to(dtype)).float()
                if g_b is not None:
                    g_b += p_base.sum(0)
                if g_p is not None:
                    g_p[start:stop] = p_pend[:, None] * h32
                if slots:
                    for row, begin, end in runs:
                        part = p_hyper[begin - start : end - start]
                        if g_h is not None:
                            g_h[begin:end] += part @ table[row].float()
                        if g_t is not None:
                            g_t[row] += part.T @ h32[begin - start : end - start]
            ce = torch.cat(ce_parts) if ce_parts else hidden.new_zeros(0, dtype=torch.float32)
            kept = torch.cat(keep_parts) if keep_parts else ce.new_zeros(0, dtype=torch.bool)
            predicted = torch.cat(top_parts) if top_parts else targets.new_zeros(0)
        inputs = (hidden, weight, bias, table, pending)
        ctx.grads = [
            None if g is None or x is None else g.to(x.dtype)
            for g, x in zip(grads, inputs, strict=True)
        ]
        ctx.mark_non_differentiable(ce, kept, predicted)
        return ce.sum(), ce, kept, predicted

    @staticmethod
    def backward(
        ctx: Any, grad_loss: torch.Tensor, _grad_ce: Any, _grad_kept: Any, _grad_top: Any
    ) -> tuple[torch.Tensor | None, ...]:
        grads = ctx.grads
        if grads is None:
            raise RuntimeError("the fused loss cannot be differentiated twice (retain_graph)")
        ctx.grads = None
        scaled = [None if g is None else g.mul_(grad_loss.to(g.dtype)) for g in grads]
        return (*scaled, None, None, None, None, None, None, None, None)


def fused_hidden_loss(
    hidden: torch.Tensor,
    head: nn.Linear,
    table: torch.Tensor,
    view: StepView,
    max_codebook_size: int,
    labels: torch.Tensor,
    vocab: int,
    chunk_positions: int,
    *,
    drop_unscorable: bool = False,
) -> LossSums:
    """Summed next-id cross-entropy from the last hidden states ``[B, T, D]`` through the
    linear output layer ``head`` (see the module doc); ``labels`` ``[B, T]`` are shifted inside,
    -100 ignored; with ``drop_unscorable`` so are targets whose logit is ``-inf``."""
    batch, length, width = hidden.shape
    steps = length - 1
    wanted = (labels[:, 1:] != IGNORE_INDEX).cpu().numpy().reshape(-1)
    positions = np.flatnonzero(wanted)
    rows_host = positions // max(steps, 1)
    # Indices into the unshifted [B, T] grid: position t of row b predicts label t + 1.
    grid = torch.from_numpy(rows_host * length + positions % max(steps, 1)).to(hidden.device)
    h = hidden.reshape(-1, width)[grid]
    targets = labels.to(hidden.device)[:, 1:].reshape(-1)[
        torch.from_numpy(positions).to(hidden.device)
    ]
    if max_codebook_size == 0:
        table = table[:, :0]
    sizes = view.sizes[:, -length:].reshape(-1)[grid]
    pending_count = view.next_vectors.shape[0]
    if pending_count and max_codebook_size:
        which = torch.full((batch, length), -1, dtype=torch.long, device=hidden.device)
        which[view.next_rows, view.next_columns] = torch.arange(pending_count, device=hidden.device)
        chosen = which.reshape(-1)[grid]
        has_pending = chosen >= 0
        pending = view.next_vectors[chosen.clamp(min=0)]
    else:
        has_pending = torch.zeros_like(targets, dtype=torch.bool)
        pending = hidden.new_zeros((len(positions), width))
    grad = torch.is_grad_enabled()
    inputs = (h, head.weight, head.bias, table, pending)
    needs = tuple(grad and x is not None and x.requires_grad for x in inputs)
    loss_sum, ce, kept, predicted = _FusedLoss.apply(
        h,
        head.weight,
        head.bias,
        table,
        pending,
        targets,
        sizes,
        has_pending,
        _Segments(rows_host),
        vocab,
        max(1, chunk_positions),
        drop_unscorable,
        needs,
    )
    return LossSums(loss_sum, kept.sum(), loss_stats(ce, predicted, targets, kept, vocab))

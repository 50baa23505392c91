"""The fused linear cross-entropy equals the chunked loss with recomputation: sums, counts, split,
top-1 counts and every gradient (hidden states, output weight and bias, entry vectors, would-be
entries), over random shapes, codebook growth, KwKwK slots, ignored labels and chunk sizes; its
top-1 ids are the argmax of the full logits."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from zip2zip_tokenizers.torch.fused_loss import fusable_head, fused_hidden_loss  # noqa: E402
from zip2zip_tokenizers.torch.hyper_state import StepView  # noqa: E402
from zip2zip_tokenizers.torch.logits import extended_logits  # noqa: E402
from zip2zip_tokenizers.torch.loss import LOSS_STATS, chunked_hidden_loss  # noqa: E402

V, D = 23, 8


def problem(seed: int, batch: int, length: int, codebook: int, drop: bool, bias: bool) -> Any:
    """Random hidden states, head, entry table, view and labels that the view can score (and,
    with ``drop``, some that it cannot: a KwKwK target where the slot is masked)."""
    g = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    slots = max(codebook, 1)
    growth = rng.integers(0, 2, size=(batch, length)) if codebook else np.zeros((batch, length))
    sizes = np.minimum(np.cumsum(growth, axis=1), codebook).astype(np.int64)
    pending = (rng.random((batch, length)) < 0.4) & (sizes < codebook)
    next_rows, next_columns = np.nonzero(pending)
    labels = rng.integers(0, V, size=(batch, length))
    for b in range(batch):
        for t in range(length - 1):
            choice = rng.random()
            if choice < 0.15:
                labels[b, t + 1] = -100
            elif choice < 0.5 and sizes[b, t]:
                labels[b, t + 1] = V + rng.integers(0, sizes[b, t])
            elif choice < 0.7 and (pending[b, t] or (drop and sizes[b, t] < codebook)):
                labels[b, t + 1] = V + sizes[b, t]
    head = torch.nn.Linear(D, V, bias=bias)
    with torch.no_grad():
        head.weight.copy_(torch.randn((V, D), generator=g))
        if bias:
            head.bias.copy_(torch.randn(V, generator=g))
    hidden = torch.randn((batch, length, D), generator=g, requires_grad=True)
    table = torch.randn((batch, slots, D), generator=g, requires_grad=True)
    vectors = torch.randn((len(next_rows), D), generator=g, requires_grad=True)
    view = StepView(
        sizes=torch.from_numpy(sizes),
        next_rows=torch.from_numpy(next_rows),
        next_columns=torch.from_numpy(next_columns),
        next_columns_host=next_columns,
        next_vectors=vectors,
    )
    return hidden, head, table, view, torch.from_numpy(labels)


def leaves(hidden: Any, head: Any, table: Any, view: Any) -> list[Any]:
    return [hidden, head.weight, *([head.bias] if head.bias is not None else []), table,
            view.next_vectors]  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    batch=st.integers(1, 3),
    length=st.integers(2, 9),
    codebook=st.sampled_from([0, 1, 5]),
    chunk=st.integers(1, 12),
    drop=st.booleans(),
    bias=st.booleans(),
    scale=st.floats(0.1, 3.0),
)
def test_fused_loss_equals_the_chunked_loss(
    seed: int,
    batch: int,
    length: int,
    codebook: int,
    chunk: int,
    drop: bool,
    bias: bool,
    scale: float,
) -> None:
    hidden, head, table, view, labels = problem(seed, batch, length, codebook, drop, bias)
    params = leaves(hidden, head, table, view)
    sums = []
    grads = []
    for loss in (chunked_hidden_loss, fused_hidden_loss):
        out = loss(hidden, head, table, view, codebook, labels, V, chunk, drop_unscorable=drop)
        sums.append(out)
        grads.append(torch.autograd.grad(out.loss_sum * scale, params, allow_unused=True))
    expected, got = sums
    torch.testing.assert_close(got.loss_sum, expected.loss_sum)
    assert int(got.num_targets) == int(expected.num_targets)
    torch.testing.assert_close(got.stats, expected.stats)
    for g, w in zip(grads[1], grads[0], strict=True):
        if w is None:
            assert g is None or not g.abs().any()
        else:
            torch.testing.assert_close(g, w, atol=1e-5, rtol=1e-4)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    batch=st.integers(1, 3),
    length=st.integers(2, 9),
    codebook=st.sampled_from([0, 1, 5]),
    chunk=st.integers(1, 12),
)
def test_targets_that_are_the_top1_ids_of_the_full_logits_are_all_hits(
    seed: int, batch: int, length: int, codebook: int, chunk: int
) -> None:
    hidden, head, table, view, labels = problem(seed, batch, length, codebook, False, True)
    with torch.no_grad():
        # The would-be entries' vectors 3 x longer: they are often the top-1 id.
        view.next_vectors.mul_(3.0)
        logits = extended_logits(head(hidden), hidden, table, view, codebook)
    top = logits[:, :-1].argmax(-1)
    targets = torch.cat([labels[:, :1], top], dim=1).masked_fill(labels == -100, -100)
    for loss in (chunked_hidden_loss, fused_hidden_loss):
        out = loss(hidden, head, table, view, codebook, targets, V, chunk)
        got = dict(zip(LOSS_STATS, out.stats.tolist(), strict=True))
        assert got["base_correct"] == got["base_targets"], loss.__name__
        assert got["hyper_correct"] == got["hyper_targets"] == got["hyper_predicted"]


def test_gradients_accumulate_over_calls_and_match_under_no_grad() -> None:
    hidden, head, table, view, labels = problem(3, 2, 8, 5, False, True)
    args = (hidden, head, table, view, 5, labels, V, 4)
    for _ in range(2):
        fused_hidden_loss(*args).loss_sum.backward()
    fused_grad = head.weight.grad.clone()
    head.weight.grad = None
    for _ in range(2):
        chunked_hidden_loss(*args).loss_sum.backward(inputs=[head.weight])
    torch.testing.assert_close(fused_grad, head.weight.grad, atol=1e-5, rtol=1e-4)
    with torch.no_grad():
        quiet = fused_hidden_loss(*args)
    assert not quiet.loss_sum.requires_grad
    torch.testing.assert_close(quiet.loss_sum, chunked_hidden_loss(*args).loss_sum)


def test_a_second_backward_through_the_same_graph_is_refused() -> None:
    hidden, head, table, view, labels = problem(4, 1, 6, 5, False, False)
    loss = fused_hidden_loss(hidden, head, table, view, 5, labels, V, 4).loss_sum
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="differentiated twice"):
        loss.backward()


def test_all_targets_ignored_gives_a_zero_loss_and_zero_gradients() -> None:
    hidden, head, table, view, labels = problem(5, 2, 5, 5, False, True)
    out = fused_hidden_loss(hidden, head, table, view, 5, torch.full_like(labels, -100), V, 4)
    assert float(out.loss_sum) == 0.0 and int(out.num_targets) == 0
    out.loss_sum.backward()
    assert not hidden.grad.abs().any() and not head.weight.grad.abs().any()


def test_only_plain_linear_heads_are_fused() -> None:
    plain = torch.nn.Linear(D, V)
    assert fusable_head(plain)

    class Scaled(torch.nn.Linear):
        def forward(self, x: Any) -> Any:
            return super().forward(x) * 2

    assert not fusable_head(Scaled(D, V))
    hooked = torch.nn.Linear(D, V)
    hooked.forward = lambda x: x  # type: ignore[method-assign]  # as an offloading hook does
    assert not fusable_head(hooked)
    prepared = torch.nn.Linear(D, V)
    prepared.register_forward_pre_hook(lambda module, args: None)  # as ZeRO-3 gathering does
    assert not fusable_head(prepared)

"""Encoding entries deduplicated and unpadded gives the encoder's own results and gradients."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from zip2zip_tokenizers.torch import HyperEncoderConfig  # noqa: E402
from zip2zip_tokenizers.torch.encoders import build_hyper_encoder  # noqa: E402
from zip2zip_tokenizers.torch.entry_encoding import (  # noqa: E402
    encode_entries,
    encode_entries_together,
)

V, D, M = 11, 16, 4

ENCODERS = [
    HyperEncoderConfig(kind="mean"),
    HyperEncoderConfig(kind="transformer", num_heads=2),
    HyperEncoderConfig(kind="transformer", num_heads=2, pooling="last", causal=True),
    HyperEncoderConfig(kind="transformer", num_heads=2, residual=False, hidden_size=8),
    # The authors' older encoders read the padding id's row: they get the whole table.
    HyperEncoderConfig(kind="authors_transformer", num_heads=2),
    HyperEncoderConfig(kind="authors_attention", num_heads=2),
]


def entries(seed: int, count: int) -> np.ndarray:
    """``count`` entries of 1..M base ids, right-padded with -1, drawn from a few so that
    some repeat."""
    rng = np.random.default_rng(seed)
    pool = []
    for _ in range(max(1, count // 2)):
        length = int(rng.integers(1, M + 1))
        pool.append(list(rng.integers(0, V, size=length)) + [-1] * (M - length))
    chosen = [pool[i] for i in rng.integers(0, len(pool), size=count)]
    return np.array(chosen, dtype=np.int64).reshape(count, M)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000), count=st.integers(1, 30), which=st.integers(0, len(ENCODERS) - 1)
)
def test_deduplicated_unpadded_encoding_equals_the_plain_call(
    seed: int, count: int, which: int
) -> None:
    torch.manual_seed(seed)
    encoder = build_hyper_encoder(ENCODERS[which].resolved(D), D, M, pad_token_id=3)
    for p in encoder.parameters():
        torch.nn.init.normal_(p, std=0.3)
    weight = torch.randn((V, D), requires_grad=True)
    subtokens = entries(seed, count)
    upstream = torch.randn((count, D))
    results: list[Any] = []
    for call in (
        lambda: encoder(torch.from_numpy(subtokens), weight),
        lambda: encode_entries(encoder, subtokens, weight),
    ):
        out = call()
        params = [weight, *encoder.parameters()]
        grads = torch.autograd.grad((out * upstream).sum(), params, allow_unused=True)
        results.append((out, grads))
    (expected, wanted), (got, grads) = results
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    for g, w in zip(grads, wanted, strict=True):
        if w is None or g is None:
            assert (g is None or not g.abs().any()) and (w is None or not w.abs().any())
        else:
            torch.testing.assert_close(g, w, atol=1e-5, rtol=1e-4)


def test_no_entries_give_no_vectors() -> None:
    encoder = build_hyper_encoder(ENCODERS[1].resolved(D), D, M)
    out = encode_entries(encoder, np.zeros((0, M), dtype=np.int64), torch.randn((V, D)))
    assert out.shape == (0, D)


def test_encoders_sharing_a_table_get_their_own_results_and_gradients() -> None:
    torch.manual_seed(0)
    first = build_hyper_encoder(ENCODERS[1].resolved(D), D, M)
    second = build_hyper_encoder(ENCODERS[2].resolved(D), D, M)
    for p in [*first.parameters(), *second.parameters()]:
        torch.nn.init.normal_(p, std=0.3)
    weight = torch.randn((V, D), requires_grad=True)
    a, b = entries(1, 9), entries(2, 5)
    together = encode_entries_together([(first, a), (second, b)], weight)
    alone = [first(torch.from_numpy(a), weight), second(torch.from_numpy(b), weight)]
    for got, expected in zip(together, alone, strict=True):
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    grads = [torch.autograd.grad(sum(x.sum() for x in out), weight)[0] for out in (together, alone)]
    torch.testing.assert_close(grads[0], grads[1], atol=1e-5, rtol=1e-4)

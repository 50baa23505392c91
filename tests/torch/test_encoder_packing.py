"""The transformer hyper-encoder skips padding subtokens in big calls: each entry's vector is
what the entry alone (an unpacked call) gives, and gradients reach the same parameters."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from zip2zip_tokenizers.torch import HyperEncoderConfig  # noqa: E402
from zip2zip_tokenizers.torch.encoders import _PACK_FROM_ENTRIES, build_hyper_encoder  # noqa: E402

V, D, M = 50, 32, 4


def entries(count: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, V, (count, M), generator=generator)
    lengths = torch.randint(2, M + 1, (count,), generator=generator)
    return ids.masked_fill(torch.arange(M)[None] >= lengths[:, None], -1)


@pytest.mark.parametrize(
    "config",
    [
        HyperEncoderConfig(kind="transformer", num_heads=4),
        HyperEncoderConfig(kind="transformer", num_heads=2, causal=True, pooling="last"),
        HyperEncoderConfig(kind="transformer", hidden_size=16, num_heads=2, num_hidden_layers=2),
    ],
)
def test_a_packed_call_gives_each_entry_what_it_gets_alone(config: HyperEncoderConfig) -> None:
    torch.manual_seed(0)
    encoder = build_hyper_encoder(config, D, M)
    for p in encoder.parameters():
        torch.nn.init.normal_(p, std=0.2)
    table = torch.randn(V, D, requires_grad=True)
    subtokens = entries(3 * _PACK_FROM_ENTRIES, seed=1)
    packed = encoder(subtokens, table)
    alone = torch.cat([encoder(row[None], table) for row in subtokens])
    torch.testing.assert_close(packed, alone, rtol=1e-5, atol=1e-6)
    (packed.square().sum()).backward()
    packed_grads = [p.grad.clone() for p in encoder.parameters()]
    encoder.zero_grad()
    alone = torch.cat([encoder(row[None], table) for row in subtokens])
    (alone.square().sum()).backward()
    for got, expected in zip(packed_grads, encoder.parameters(), strict=True):
        assert expected.grad is not None
        torch.testing.assert_close(got, expected.grad, rtol=1e-4, atol=1e-5)

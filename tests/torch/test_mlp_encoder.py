"""The MLP hyper-encoder (``kind="mlp"``): an identity start, gradients, padding, its checkpoint
settings, and a recipe that trains it. Save/load and the authors' format refusing it are in
test_checkpoint.py and test_interop.py with the other kinds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import train_setup  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from test_model import V, canonical, repetitive, wrapped  # noqa: E402
from zip2zip_tokenizers.torch import HyperEncoderConfig  # noqa: E402
from zip2zip_tokenizers.torch.authors_format import encoder_config, encoder_section  # noqa: E402
from zip2zip_tokenizers.torch.encoders import MLPHyperEncoder  # noqa: E402
from zip2zip_tokenizers.torch.entry_encoding import encode_entries  # noqa: E402
from zip2zip_tokenizers.torch.training import Zip2ZipRecipe  # noqa: E402
from zip2zip_tokenizers.torch.training.errors import InvalidTrainingArgumentError  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")
MLP = HyperEncoderConfig(kind="mlp")
D, M = 16, 4


def entries(rows: list[list[int]]) -> torch.Tensor:
    return torch.tensor([row + [-1] * (M - len(row)) for row in rows])


def test_a_fresh_mlp_encoder_maps_each_entry_to_its_first_subtoken() -> None:
    model = wrapped("qwen2", MLP)
    stream = canonical(repetitive(40))
    state = model.new_state(1)
    hypertokens = sorted({t for t in stream if t >= V})
    assert hypertokens
    inputs = model.base_model.get_input_embeddings().weight
    outputs = model.base_model.get_output_embeddings().weight
    with torch.no_grad():
        model(torch.tensor([stream]), state=state)
        for token in hypertokens:
            base = state.base_ids(0, token)
            got = model.embed(torch.tensor([[token]]), state)[0, 0]
            torch.testing.assert_close(got, inputs[base[0]])
            got = model.output_encoder(entries([base]), outputs)[0]
            torch.testing.assert_close(got, outputs[base[0]])


def test_gradients_reach_the_mlp_encoders() -> None:
    model = wrapped("llama", MLP).train()
    ids = torch.tensor([canonical(repetitive(50))])
    out = model(ids, labels=ids)
    out.loss.backward()
    for encoder in (model.input_encoder, model.output_encoder):
        # At the identity start only the zero output layer has a gradient (the rest feed it).
        grad = encoder.proj_out.weight.grad
        assert grad is not None and grad.abs().sum() > 0


def test_every_subtoken_position_counts_and_padding_does_not() -> None:
    torch.manual_seed(0)
    encoder = MLPHyperEncoder(MLP, D, M)
    randomize_module(encoder)
    table = torch.randn(20, D)
    a, b = encoder(entries([[3, 4, 5], [3, 4, 6]]), table)
    assert not torch.allclose(a, b)  # the last subtoken counts...
    again = encoder(entries([[3, 4, 5], [4, 3, 5]]), table)
    assert not torch.allclose(again[0], again[1])  # ...and the order
    other = table.clone()
    other[7:] += 1.0  # rows the short entry does not read
    torch.testing.assert_close(
        encoder(entries([[3, 4]]), other)[0], encoder(entries([[3, 4]]), table)[0]
    )


def test_a_short_entry_reads_zeros_at_its_padded_positions() -> None:
    """The definition: LayerNorm each base embedding, zeros for padding, concatenate, MLP, plus
    the first base embedding."""
    encoder = MLPHyperEncoder(HyperEncoderConfig(kind="mlp", num_hidden_layers=2), D, M)
    randomize_module(encoder)
    table = torch.randn(20, D, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        h = torch.cat([encoder.norm(table[3]), encoder.norm(table[4]), torch.zeros(2 * D)])
        for layer in encoder.layers:
            h = torch.nn.functional.gelu(layer(h))
        expected = table[3] + encoder.proj_out(h)
        torch.testing.assert_close(encoder(entries([[3, 4]]), table)[0], expected)


def randomize_module(module: Any) -> None:
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.1)


def test_batched_entry_encoding_equals_the_encoder_on_each_entry() -> None:
    """The batch path (distinct entries once, a gathered table, entries narrower than M)."""
    torch.manual_seed(0)
    encoder = MLPHyperEncoder(HyperEncoderConfig(kind="mlp", hidden_size=8), D, M)
    randomize_module(encoder)
    table = torch.randn(20, D)
    rows = [[3, 4], [5, 6], [3, 4], [7, 8]]  # no entry as long as M = 4
    subtokens = np.array([[*row, -1] for row in rows], dtype=np.int64)
    got = encode_entries(encoder, subtokens, table)
    torch.testing.assert_close(got, encoder(entries(rows), table))


@settings(max_examples=30, deadline=None)
@given(
    hidden=st.one_of(st.none(), st.integers(1, 48)),
    layers=st.integers(0, 3),
    residual=st.booleans(),
    tied=st.booleans(),
)
def test_mlp_settings_round_trip_through_the_checkpoint_config(
    hidden: int | None, layers: int, residual: bool, tied: bool
) -> None:
    config = HyperEncoderConfig(
        kind="mlp",
        hidden_size=hidden,
        num_hidden_layers=layers,
        residual=residual,
        tie_encoders=tied,
    )
    section = encoder_section(config, 32)
    assert section.encoder_type == "mlp" and section.problems
    assert encoder_config(section.encoder_type, section.encoder).resolved(32) == config.resolved(32)


def test_a_narrow_mlp_has_the_inner_width_asked_for() -> None:
    narrow = MLPHyperEncoder(HyperEncoderConfig(kind="mlp", hidden_size=8), D, M)
    assert [tuple(layer.weight.shape) for layer in narrow.layers] == [(8, M * D)]
    assert tuple(narrow.proj_out.weight.shape) == (D, 8)


def test_the_recipe_builds_and_trains_an_mlp_encoder(tmp_path: Path) -> None:
    tok = train_setup.tokenizer()
    assert Zip2ZipRecipe(encoder="mlp").model_settings()["encoder"] == "mlp"
    net = train_setup.model(tok, encoder="mlp", encoder_hidden_size=16)
    assert isinstance(net.input_encoder, MLPHyperEncoder)
    before = net.input_encoder.proj_out.weight.detach().clone()
    trainer = train_setup.trainer(
        str(tmp_path), tok, net, train_setup.dataset(tok, documents=8), max_steps=2
    )
    trainer.train()
    assert trainer.state.global_step == 2
    assert not torch.equal(net.input_encoder.proj_out.weight, before)


def test_the_recipe_names_the_encoder_kinds_it_accepts() -> None:
    with pytest.raises(InvalidTrainingArgumentError, match="'transformer', 'mlp', 'mean'"):
        Zip2ZipRecipe(encoder="authors_attention")

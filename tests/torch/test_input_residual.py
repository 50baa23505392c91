"""``input_residual``: which base token a fresh input encoder maps each hypertoken to (the
output encoder always starts from the first). Its identity start on both sides, the settings
it is refused with, checkpoints and the authors' format, the run record and the train
command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from test_model import V, canonical, repetitive, wrapped  # noqa: E402
from test_training_data import corpus, model_dir, small_train_command  # noqa: E402, F401
from zip2zip_tokenizers.cli import main  # noqa: E402
from zip2zip_tokenizers.torch import HyperEncoderConfig  # noqa: E402
from zip2zip_tokenizers.torch.authors_format import encoder_config, encoder_section  # noqa: E402
from zip2zip_tokenizers.torch.errors import InvalidEncoderConfigError  # noqa: E402
from zip2zip_tokenizers.torch.training import Zip2ZipRecipe  # noqa: E402
from zip2zip_tokenizers.torch.training.errors import InvalidTrainingArgumentError  # noqa: E402
from zip2zip_tokenizers.torch.training.run_record import RunRecord  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")
M = 4


def entries(rows: list[list[int]]) -> torch.Tensor:
    return torch.tensor([row + [-1] * (M - len(row)) for row in rows])


@pytest.mark.parametrize("kind", ["transformer", "mlp"])
def test_a_fresh_input_encoder_reads_each_hypertoken_as_its_last_base_token(kind: str) -> None:
    model = wrapped("llama", HyperEncoderConfig(kind=kind, input_residual="last"))  # type: ignore[arg-type]
    stream = canonical(repetitive(40))
    state = model.new_state(1)
    hypertokens = sorted({t for t in stream if t >= V})
    inputs = model.base_model.get_input_embeddings().weight
    outputs = model.base_model.get_output_embeddings().weight
    lengths = set()
    with torch.no_grad():
        model(torch.tensor([stream]), state=state)
        for token in hypertokens:
            base = state.base_ids(0, token)
            lengths.add(len(base))
            read = model.embed(torch.tensor([[token]]), state)[0, 0]
            torch.testing.assert_close(read, inputs[base[-1]])
            written = model.output_encoder(entries([base]), outputs)[0]
            torch.testing.assert_close(written, outputs[base[0]])
    # Entries of several lengths, so "last" is not "first" or "the second" by accident.
    assert {2, 3} <= lengths


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"kind": "transformer", "input_residual": "middle"}, "'first' or 'last'"),
        ({"kind": "transformer", "input_residual": "last", "tie_encoders": True}, "untied"),
        ({"kind": "mean", "input_residual": "last"}, "has none"),
        ({"kind": "transformer", "input_residual": "last", "residual": False}, "has none"),
    ],
)
def test_settings_it_cannot_apply_to_are_refused(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidEncoderConfigError, match=message):
        HyperEncoderConfig(**settings)


def test_the_recipe_refuses_it_with_a_tied_encoder() -> None:
    with pytest.raises(InvalidTrainingArgumentError, match="untied"):
        Zip2ZipRecipe(input_residual="last", tie_encoders=True)
    assert Zip2ZipRecipe(input_residual="last").encoder_config().input_residual == "last"


@pytest.mark.parametrize(
    ("settings", "token"),
    [
        ({}, "last"),
        ({"encoder": "transformer"}, "last"),
        ({"tie_encoders": True}, "first"),
        ({"encoder": "mean"}, "first"),
        ({"input_residual": "first"}, "first"),
    ],
)
def test_the_recipe_starts_from_the_last_token_wherever_it_can(
    settings: dict[str, Any], token: str
) -> None:
    recipe = Zip2ZipRecipe(**settings)
    assert recipe.encoder_config().input_residual == token
    assert recipe.model_settings()["input_residual"] == token


@pytest.mark.parametrize("kind", ["transformer", "mlp"])
def test_the_checkpoint_schema_keeps_it_and_the_authors_format_says_it_differs(kind: str) -> None:
    # As wide as the model without a projection: the authors' own transformer layout.
    layout: dict[str, Any] = {"output_projection": False} if kind == "transformer" else {}
    config = HyperEncoderConfig(kind=kind, input_residual="last", **layout)  # type: ignore[arg-type]
    section = encoder_section(config, 32)
    assert section.encoder["input_residual"] == "last"
    first = encoder_section(HyperEncoderConfig(kind=kind, **layout), 32)  # type: ignore[arg-type]
    assert encoder_config(section.encoder_type, section.encoder).input_residual == "last"
    if kind == "transformer":
        added = set(section.problems) - set(first.problems)
        assert len(added) == 1 and "input_residual" in added.pop()
        # The default writes nothing new: the authors' runtime loads it unedited.
        assert "input_residual" not in first.encoder and not first.problems
    else:
        # Their runtime has no MLP encoder at all: refused whatever its residual.
        assert section.problems == first.problems != ()


def test_a_record_made_before_it_existed_is_a_first_token_run() -> None:
    import train_setup

    codec = train_setup.tokenizer().config
    older = RunRecord(codec, {"seed": 0})
    assert older.differences(RunRecord(codec, {"seed": 0, "input_residual": "first"})) == []
    last = RunRecord(codec, {"seed": 0, "input_residual": "last"})
    assert older.differences(last) == [("input_residual", "first", "last")]


def test_the_train_command_records_it_and_refuses_a_rerun_that_changes_it(
    model_dir: Path,  # noqa: F811
    tmp_path: Path,
    capsys: Any,
) -> None:
    out = tmp_path / "run"
    command = small_train_command(model_dir, corpus(tmp_path), out)
    command += ["--max-codebook-size", "64", "--max-steps", "2"]
    assert main([*command, "--input-residual", "first"]) == 0
    record = json.loads((out / "zip2zip_run.json").read_text())["settings"]
    assert record["input_residual"] == "first"
    saved = json.loads((out / "zip2zip_config.json").read_text())
    assert saved["encoder"]["input_residual"] == "first"
    capsys.readouterr()
    assert main(command) == 2  # the default is "last"
    err = capsys.readouterr().err
    assert "input_residual (--input-residual)" in err and "'first'" in err

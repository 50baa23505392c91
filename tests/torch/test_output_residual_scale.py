"""``output_residual_scale``: a learned scalar on the output encoder's residual, so a fresh
output encoder scores each hypertoken as a scaled copy of its first base token instead of
duplicating that token's logit. Its start, that it learns, the settings it is refused with,
checkpoints and the authors' format, the run record and the train command."""

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
from zip2zip_tokenizers.torch import HyperEncoderConfig, Zip2ZipForCausalLM  # noqa: E402
from zip2zip_tokenizers.torch.authors_format import encoder_config, encoder_section  # noqa: E402
from zip2zip_tokenizers.torch.errors import InvalidEncoderConfigError  # noqa: E402
from zip2zip_tokenizers.torch.training import Zip2ZipRecipe  # noqa: E402
from zip2zip_tokenizers.torch.training.errors import InvalidTrainingArgumentError  # noqa: E402
from zip2zip_tokenizers.torch.training.run_record import RunRecord  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")
M = 4
SCALE = 0.25


def entries(rows: list[list[int]]) -> torch.Tensor:
    return torch.tensor([row + [-1] * (M - len(row)) for row in rows])


@pytest.mark.parametrize("kind", ["transformer", "mlp"])
def test_a_fresh_output_encoder_writes_a_scaled_first_token_and_the_input_side_is_unscaled(
    kind: str,
) -> None:
    config = HyperEncoderConfig(kind=kind, output_residual_scale=SCALE)  # type: ignore[arg-type]
    model = wrapped("llama", config)
    stream = canonical(repetitive(40))
    state = model.new_state(1)
    hypertokens = sorted({t for t in stream if t >= V})
    inputs = model.base_model.get_input_embeddings().weight
    outputs = model.base_model.get_output_embeddings().weight
    assert hypertokens
    with torch.no_grad():
        model(torch.tensor([stream]), state=state)
        for token in hypertokens:
            base = state.base_ids(0, token)
            read = model.embed(torch.tensor([[token]]), state)[0, 0]
            torch.testing.assert_close(read, inputs[base[0]])
            written = model.output_encoder(entries([base]), outputs)[0]
            torch.testing.assert_close(written, SCALE * outputs[base[0]])


def test_the_scale_is_a_weight_that_training_moves() -> None:
    model = wrapped("llama", HyperEncoderConfig(output_residual_scale=SCALE))
    scale = model.output_encoder.residual_scale.weight
    assert scale.requires_grad and "residual_scale" not in dict(model.input_encoder.named_modules())
    outputs = model.base_model.get_output_embeddings().weight
    written = model.output_encoder(entries([[3, 4], [5, 6, 7]]), outputs)
    written.sum().backward()
    assert scale.grad is not None and scale.grad.abs().item() > 0


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"output_residual_scale": -0.5}, "a number >= 0"),
        ({"output_residual_scale": True}, "a number >= 0"),
        ({"output_residual_scale": "half"}, "a number >= 0"),
        ({"output_residual_scale": 0.5, "tie_encoders": True}, "untied"),
        ({"kind": "mean", "output_residual_scale": 0.5}, "has none"),
        ({"output_residual_scale": 0.5, "residual": False}, "has none"),
    ],
)
def test_settings_it_cannot_apply_to_are_refused(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidEncoderConfigError, match=message):
        HyperEncoderConfig(**settings)


def test_the_recipe_passes_it_on_and_refuses_it_with_a_tied_encoder() -> None:
    with pytest.raises(InvalidTrainingArgumentError, match="untied"):
        Zip2ZipRecipe(output_residual_scale=0.5, tie_encoders=True)
    recipe = Zip2ZipRecipe(output_residual_scale=0.5)
    assert recipe.encoder_config().output_residual_scale == 0.5
    assert recipe.model_settings()["output_residual_scale"] == 0.5


@pytest.mark.parametrize("kind", ["transformer", "mlp"])
def test_a_checkpoint_keeps_the_learned_scale(kind: str, tmp_path: Path) -> None:
    config = HyperEncoderConfig(kind=kind, output_residual_scale=SCALE)  # type: ignore[arg-type]
    model = wrapped("llama", config)
    with torch.no_grad():
        model.output_encoder.residual_scale.weight.fill_(0.625)
    model.save_pretrained(tmp_path)
    loaded = Zip2ZipForCausalLM.from_pretrained(tmp_path)
    assert loaded.encoder_config.output_residual_scale == SCALE
    assert loaded.output_encoder.residual_scale.weight.item() == 0.625


def test_the_authors_format_says_it_differs_and_reads_it_back() -> None:
    layout: dict[str, Any] = {"output_projection": False}
    section = encoder_section(HyperEncoderConfig(output_residual_scale=SCALE, **layout), 32)
    plain = encoder_section(HyperEncoderConfig(**layout), 32)
    added = set(section.problems) - set(plain.problems)
    assert len(added) == 1 and "output_residual_scale" in added.pop()
    assert "output_residual_scale" not in plain.encoder and not plain.problems
    back = encoder_config(section.encoder_type, section.encoder)
    assert back.output_residual_scale == SCALE
    mlp = encoder_section(HyperEncoderConfig(kind="mlp", output_residual_scale=SCALE), 32)
    assert encoder_config(mlp.encoder_type, mlp.encoder).output_residual_scale == SCALE


def test_a_record_made_before_it_existed_has_no_scale() -> None:
    import train_setup

    codec = train_setup.tokenizer().config
    older = RunRecord(codec, {"seed": 0})
    assert older.differences(RunRecord(codec, {"seed": 0, "output_residual_scale": None})) == []
    scaled = RunRecord(codec, {"seed": 0, "output_residual_scale": 0.5})
    assert older.differences(scaled) == [("output_residual_scale", None, 0.5)]


def test_the_train_command_records_it_and_refuses_a_rerun_that_changes_it(
    model_dir: Path,  # noqa: F811
    tmp_path: Path,
    capsys: Any,
) -> None:
    out = tmp_path / "run"
    command = small_train_command(model_dir, corpus(tmp_path), out)
    command += ["--max-codebook-size", "64", "--max-steps", "2"]
    assert main([*command, "--output-residual-scale", "0.5"]) == 0
    record = json.loads((out / "zip2zip_run.json").read_text())["settings"]
    assert record["output_residual_scale"] == 0.5
    saved = json.loads((out / "zip2zip_config.json").read_text())
    assert saved["encoder"]["output_residual_scale"] == 0.5
    capsys.readouterr()
    assert main(command) == 2
    err = capsys.readouterr().err
    assert "output_residual_scale (--output-residual-scale)" in err and "0.5" in err

"""A rerun of ``train`` is the same run or a refusal: the settings that shape the weights and the
data are recorded in the output and compared on resume; a model ``train`` saved is trained
further from its own weights; ``preprocess`` and ``train`` agree on the codec by default."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pyarrow")
pytest.importorskip("peft")

import train_setup  # noqa: E402
from char_tokenizer import ALPHABET, char_tokenizer  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from test_training_data import corpus, model_dir  # noqa: E402, F401
from zip2zip_tokenizers import Zip2ZipTokenizer  # noqa: E402
from zip2zip_tokenizers.cli import main  # noqa: E402
from zip2zip_tokenizers.torch import Zip2ZipForCausalLM  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

RECORD = "zip2zip_run.json"
ENCODERS = "zip2zip_encoders.safetensors"
ADAPTER = "adapter_model.safetensors"
# Small and quick: LoRA r 4, one encoder layer, C = 64, 2 steps with a checkpoint at step 2.
SMALL = ["--window", "64", "--batch-size", "4", "--lora-r", "4", "--encoder-layers", "1"]
SMALL += ["--max-codebook-size", "64", "--logging-steps", "1", "--save-steps", "2"]


def train_command(model: Path | str, data: Path, output: Path, *flags: str) -> list[str]:
    return ["train", "--model", str(model), "--data", str(data), "--output", str(output), *flags]


@pytest.fixture(scope="module")
def first_run(
    model_dir: Path,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Path]:
    """A finished 2-step run (a checkpoint at step 2), copied by each test that changes it."""
    root = tmp_path_factory.mktemp("first")
    text = corpus(root)
    out = root / "run"
    assert main([*train_command(model_dir, text, out, *SMALL), "--max-steps", "2"]) == 0
    return {"model": model_dir, "data": text, "output": out}


@pytest.fixture
def run(first_run: dict[str, Path], tmp_path: Path) -> dict[str, Path]:
    out = tmp_path / "run"
    shutil.copytree(first_run["output"], out)
    return {**first_run, "output": out}


def listing(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def test_the_run_settings_are_recorded_in_the_output_and_in_each_checkpoint(
    run: dict[str, Path],
) -> None:
    out = run["output"]
    record = json.loads((out / RECORD).read_text())
    assert (out / "checkpoint-2" / RECORD).read_bytes() == (out / RECORD).read_bytes()
    settings = record["settings"]
    assert settings["base_model"] == str(run["model"].resolve())
    assert settings["data"] == [str(run["data"].resolve())]
    assert record["codec"]["max_codebook_size"] == 64
    assert (settings["lora_r"], settings["encoder_layers"], settings["window"]) == (4, 1, 64)
    assert settings["windows_per_step"] == 4


@pytest.mark.parametrize(
    ("flags", "setting", "recorded", "now"),
    [
        (["--max-codebook-size", "16"], "max_codebook_size", "64", "16"),
        (["--lora-r", "8"], "lora_r", "4", "8"),
        (["--lora-alpha", "8"], "lora_alpha", "32", "8"),
        (["--lora-r", "0"], "lora_r", "4", "0"),  # full fine-tuning
        (["--encoder-layers", "2"], "encoder_layers", "1", "2"),
        (["--encoder", "mean"], "encoder", "'mlp'", "'mean'"),
        (["--encoder", "transformer"], "encoder", "'mlp'", "'transformer'"),
        (["--tie-encoders"], "tie_encoders", "False", "True"),
        (["--position-mode", "sequential"], "position_mode", "'base_token_end'", "'sequential'"),
        (["--token-type-loss-weight", "0"], "token_type_head", "True", "False"),
        (["--window", "32"], "window", "64", "32"),
        (["--text-field", "body"], "text_field", "'text'", "'body'"),
        (["--seed", "1"], "seed", "0", "1"),
        (["--batch-size", "2"], "windows_per_step", "4", "2"),
        (["--gradient-accumulation", "2"], "windows_per_step", "4", "8"),
        (["--lr", "0.001"], "learning_rate", "0.0003", "0.001"),
        # The record holds the effective rate: 3 x --lr by default.
        (["--encoder-lr", "0.0003"], "encoder_learning_rate", "0.0009", "0.0003"),
        (["--weight-decay", "0.1"], "weight_decay", "0.01", "0.1"),
    ],
)
def test_a_rerun_that_changes_the_run_is_refused_and_changes_nothing(
    run: dict[str, Path],
    capsys: Any,
    flags: list[str],
    setting: str,
    recorded: str,
    now: str,
) -> None:
    out = run["output"]
    before = listing(out)
    command = train_command(run["model"], run["data"], out, *SMALL, *flags)
    assert main([*command, "--max-steps", "4"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ")
    assert f"{setting}" in error and f"{recorded} (recorded" in error and f"vs {now}" in error
    assert "--no-resume" in error and "--output" in error
    assert "Loading weights" not in error  # refused before the model is built
    assert listing(out) == before


def test_a_finished_run_rerun_with_other_settings_is_refused_not_reported_finished(
    run: dict[str, Path], capsys: Any
) -> None:
    out = run["output"]
    command = train_command(run["model"], run["data"], out, *SMALL, "--lora-r", "8")
    assert main([*command, "--max-steps", "2"]) == 2
    captured = capsys.readouterr()
    assert "lora_r" in captured.err and "already finished" not in captured.out
    same = train_command(run["model"], run["data"], out, *SMALL)
    assert main([*same, "--max-steps", "2"]) == 0
    assert "already finished" in capsys.readouterr().out


def test_a_rerun_on_other_data_is_refused(
    run: dict[str, Path], tmp_path: Path, capsys: Any
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    command = train_command(run["model"], corpus(other), run["output"], *SMALL)
    assert main([*command, "--max-steps", "4"]) == 2
    error = capsys.readouterr().err
    assert "data" in error and str(corpus(other).resolve()) in error


def test_a_rerun_may_extend_the_steps_and_change_logging_and_saving(
    run: dict[str, Path], capsys: Any
) -> None:
    out = run["output"]
    command = train_command(run["model"], run["data"], out, *SMALL[:-4])
    command += ["--logging-steps", "2", "--save-steps", "4", "--save-total-limit", "1"]
    command += ["--max-grad-norm", "0.5", "--warmup", "0", "--max-steps", "4"]
    assert main(command) == 0
    assert "trained 4 steps" in capsys.readouterr().out
    state = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    assert [e["step"] for e in state["log_history"] if "loss" in e] == [1, 2, 4]


def test_no_resume_starts_a_new_run_with_a_new_record(run: dict[str, Path], capsys: Any) -> None:
    out = run["output"]
    before = listing(out)
    command = train_command(run["model"], run["data"], out, *SMALL, "--lora-r", "8")
    assert main([*command, "--max-steps", "1", "--no-resume"]) == 0
    assert "trained 1 steps" in capsys.readouterr().out
    assert json.loads((out / RECORD).read_text())["settings"]["lora_r"] == 8
    # The first run's files, every one of them, moved aside unchanged.
    (previous,) = (out / "previous-runs").iterdir()
    assert listing(previous) == {k: v for k, v in before.items() if k != ".zip2zip-lock"}
    assert not (out / "checkpoint-2").exists()


def test_a_run_restarted_with_no_resume_resumes_as_itself_not_as_the_run_it_replaced(
    run: dict[str, Path], capsys: Any
) -> None:
    """The replaced run reached step 2; the new one (other settings) stops at step 1 without a
    checkpoint. Its rerun must not find the old run's checkpoint-2 (a refusal over settings the
    user never gave this run, or with equal settings a silent resume of the old weights)."""
    out = run["output"]
    command = train_command(run["model"], run["data"], out, *SMALL, "--lora-r", "8")
    assert main([*command, "--max-steps", "1", "--no-resume"]) == 0
    assert main([*command, "--max-steps", "3"]) == 0
    assert "trained 3 steps" in capsys.readouterr().out
    state = json.loads((out / "trainer_state.json").read_text())
    assert [e["step"] for e in state["log_history"] if "loss" in e] == [1, 2, 3]
    assert json.loads((out / RECORD).read_text())["settings"]["lora_r"] == 8


def test_a_checkpoint_of_other_codec_settings_is_refused_without_a_record(
    run: dict[str, Path], capsys: Any
) -> None:
    """An output written before runs were recorded: the checkpoint's own zip2zip_config.json
    still says which codec its weights were trained under."""
    out = run["output"]
    for record in out.rglob(RECORD):
        record.unlink()
    before = listing(out)
    command = train_command(run["model"], run["data"], out, *SMALL, "--max-codebook-size", "16")
    assert main([*command, "--max-steps", "4"]) == 2
    error = capsys.readouterr().err
    assert "max_codebook_size: 64" in error and "vs 16" in error
    assert str(out / "checkpoint-2") in error
    assert listing(out) == before


def test_a_checkpoint_of_another_adapter_is_refused_without_a_record(
    run: dict[str, Path], capsys: Any
) -> None:
    out = run["output"]
    for record in out.rglob(RECORD):
        record.unlink()
    command = train_command(run["model"], run["data"], out, *SMALL, "--lora-r", "8")
    assert main([*command, "--max-steps", "4"]) == 2
    error = capsys.readouterr().err
    assert "error: " in error and "adapter" in error and str(out / "checkpoint-2") in error


# ----------------------------------------------------------------------- a trained model, further


def weights(directory: Path) -> dict[str, torch.Tensor]:
    return {
        f"{file}:{name}": tensor
        for file in (ENCODERS, ADAPTER)
        for name, tensor in load_file(str(directory / file)).items()
    }


def test_train_continues_from_a_model_train_saved(
    first_run: dict[str, Path], tmp_path: Path, capsys: Any
) -> None:
    """The trained encoders, adapter and token-type head are the starting point (one step of
    warmup at learning rate 0 leaves them exactly), on the base model the output records; the
    adapter trains (a step at a learning rate moves it); settings left at their defaults are
    the trained model's (r 4, one encoder layer, C = 64), not the recipe's."""
    trained = first_run["output"]
    again = tmp_path / "again"
    command = train_command(trained, first_run["data"], again, "--window", "64")
    assert main([*command, "--batch-size", "4", "--max-steps", "1"]) == 0
    assert "trained 1 steps" in capsys.readouterr().out
    start, now = weights(trained), weights(again)
    assert start.keys() == now.keys()
    assert any("token_type_head" in name for name in now)
    for name, tensor in start.items():
        assert torch.equal(tensor, now[name]), name
    saved = json.loads((again / "zip2zip_config.json").read_text())
    assert saved["base_model_name_or_path"] == str(first_run["model"].resolve())
    assert saved["compression"]["max_codebook_size"] == 64
    record = json.loads((again / RECORD).read_text())["settings"]
    assert record["start_model"] == str(trained.resolve())
    assert (record["lora_r"], record["encoder_layers"]) == (4, 1)
    assert record["input_residual"] == "last"

    moved = tmp_path / "moved"
    command = train_command(trained, first_run["data"], moved, "--window", "64", "--warmup", "0")
    command += ["--encoder-layers", "1", "--lora-r", "4"]  # the trained model's own, given
    assert main([*command, "--batch-size", "4", "--max-steps", "1"]) == 0
    after = weights(moved)
    for kind in ("lora_A", "lora_B", "input_encoder"):
        assert any(kind in n and not torch.equal(t, after[n]) for n, t in start.items()), kind
    model = Zip2ZipForCausalLM.from_pretrained(moved)
    assert model.compression.max_codebook_size == 64


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--lora-r", "8"], "lora_r: 4"),
        (["--encoder", "mean"], "encoder: 'mlp'"),
        (["--input-residual", "first"], "input_residual: 'last'"),
        (["--max-codebook-size", "16"], "max_codebook_size: 64"),
        # Given on purpose, a default contradicts the trained model just as another value does.
        (["--encoder-layers", "2"], "encoder_layers: 1"),
        (["--lora-r", "32"], "lora_r: 4"),
    ],
)
def test_flags_that_contradict_a_trained_model_are_refused(
    first_run: dict[str, Path], tmp_path: Path, capsys: Any, flags: list[str], message: str
) -> None:
    command = train_command(first_run["output"], first_run["data"], tmp_path / "again", *flags)
    assert main([*command, "--max-steps", "1"]) == 2
    error = capsys.readouterr().err
    assert message in error and str(first_run["output"]) in error
    written = tmp_path / "again"
    assert not written.exists() or not any(written.iterdir())


# -------------------------------------------------------------------------- one digits default

DIGITS = "0123456789"


@pytest.fixture(scope="module")
def digits_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A base model whose tokenizer has digit tokens (which the codec may disable)."""
    directory = tmp_path_factory.mktemp("digits")
    tok = Zip2ZipTokenizer.from_pretrained(
        char_tokenizer(ALPHABET + DIGITS), max_codebook_size=64, max_subtokens=4
    )
    train_setup.model(tok).base_model.save_pretrained(directory)
    tok.base_tokenizer.save_pretrained(directory)
    return directory


def preprocess_command(model: Path, text: Path, shards: Path, *flags: str) -> list[str]:
    command = ["preprocess", "--tokenizer", str(model), "--input", str(text)]
    return [*command, "--output", str(shards), "--window", "64", "--workers", "1", *flags]


def test_shards_made_with_the_defaults_train_with_the_defaults(
    digits_model_dir: Path, tmp_path: Path, capsys: Any
) -> None:
    shards = tmp_path / "shards"
    flags = ["--max-codebook-size", "64", "--no-progress"]
    assert main(preprocess_command(digits_model_dir, corpus(tmp_path), shards, *flags)) == 0
    command = train_command(digits_model_dir, shards, tmp_path / "run", *SMALL)
    assert main([*command, "--max-steps", "1"]) == 0
    assert "trained 1 steps" in capsys.readouterr().out
    digit_ids = char_tokenizer(ALPHABET + DIGITS).convert_tokens_to_ids(list(DIGITS))
    for tokenizer in (
        Zip2ZipTokenizer.from_pretrained(digits_model_dir),  # the library and eval's default
        Zip2ZipTokenizer.from_pretrained(tmp_path / "run"),
    ):
        assert set(digit_ids) <= set(tokenizer.config.disabled_ids)


@pytest.mark.parametrize(
    ("preprocess_flag", "train_flags", "advice"),
    [
        ("--no-disable-digits", [], "pass --disable-digits to preprocess, or --no-disable-digits"),
        ("--disable-digits", ["--no-disable-digits"], "pass --no-disable-digits to preprocess, or"),
    ],
)
def test_a_digits_mismatch_names_the_flag_to_pass_and_only_files_that_exist(
    digits_model_dir: Path,
    tmp_path: Path,
    capsys: Any,
    preprocess_flag: str,
    train_flags: list[str],
    advice: str,
) -> None:
    shards = tmp_path / "shards"
    flags = ["--max-codebook-size", "64", "--no-progress", preprocess_flag]
    assert main(preprocess_command(digits_model_dir, corpus(tmp_path), shards, *flags)) == 0
    capsys.readouterr()
    command = train_command(digits_model_dir, shards, tmp_path / "run", *SMALL, *train_flags)
    assert main([*command, "--max-steps", "1"]) == 2
    error = capsys.readouterr().err
    assert "disabled_ids" in error and advice in error
    assert "zip2zip_config.json" not in error  # the base model directory has none

"""Hostile input to the training and evaluation entry points: the window cache, datasets, the
collator, the recipe and training arguments, and the ``train`` / ``eval`` commands. A refusal is
a ``TypeError`` or a ``Zip2ZipError`` subclass naming the argument (the commands print it as
``error: ...`` and exit with 2); a damaged cache is rebuilt, never read as it is."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pyarrow")

import train_setup  # noqa: E402
from test_training_data import corpus, model_dir, recipe_shards  # noqa: E402, F401
from zip2zip_tokenizers.cli import main  # noqa: E402
from zip2zip_tokenizers.torch.training import (  # noqa: E402
    EmptyDataError,
    InvalidTrainingArgumentError,
    WindowDataset,
    Zip2ZipCollator,
    Zip2ZipRecipe,
    Zip2ZipTrainingArguments,
    text_dataset,
)


@pytest.fixture
def shards(model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: F811
    monkeypatch.setenv("ZIP2ZIP_CACHE", str(tmp_path / "cache"))
    return recipe_shards(model_dir, corpus(tmp_path), tmp_path / "shards")


def windows(data: WindowDataset) -> list[list[int]]:
    return [data[i]["input_ids"].tolist() for i in range(len(data))]


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: (d / "ids.bin").write_bytes((d / "ids.bin").read_bytes()[:40]),
        lambda d: (d / "offsets.bin").write_bytes((d / "offsets.bin").read_bytes()[:-3]),
        lambda d: (d / "loss_mask.bin").write_bytes(b""),
        lambda d: (d / "num_base_tokens.bin").unlink(),
    ],
    ids=["ids-cut", "offsets-odd-size", "mask-empty", "counts-missing"],
)
def test_a_damaged_window_cache_is_rebuilt_not_read(
    shards: Path, tmp_path: Path, damage: Any
) -> None:
    first = WindowDataset.from_shards(shards)
    expected = windows(first)
    (cache,) = (tmp_path / "cache" / "windows").iterdir()
    damage(cache)
    again = WindowDataset.from_shards(shards)
    assert windows(again) == expected
    assert again.num_base_tokens == first.num_base_tokens


def test_dataset_indices_are_checked_and_named() -> None:
    data = text_dataset(["the cat sat on a mat"] * 2, train_setup.tokenizer(), window=8)
    count = len(data)
    assert data[-1]["input_ids"].tolist() == data[count - 1]["input_ids"].tolist()
    with pytest.raises(IndexError, match=f"window {count} of a dataset of {count} windows"):
        data[count]
    with pytest.raises(IndexError, match=f"window {-count - 1} of"):
        data[-count - 1]
    with pytest.raises(TypeError):
        data["0"]  # type: ignore[index]
    with pytest.raises(TypeError, match="not one str"):
        text_dataset("the cat sat", train_setup.tokenizer(), window=8)


def test_the_collator_names_what_it_was_given() -> None:
    tok = train_setup.tokenizer()
    with pytest.raises(TypeError, match="config must be a CompressionConfig"):
        Zip2ZipCollator(tok)  # type: ignore[arg-type]
    with pytest.raises(EmptyDataError, match="an empty batch"):
        Zip2ZipCollator(tok.config)([])


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"lora_r": -1}, "lora_r must be an integer >= 0"),
        ({"lora_r": 2.5}, "lora_r must be an integer"),
        ({"lora_dropout": 1.5}, "lora_dropout"),
        ({"encoder": "bogus"}, "encoder must be"),
        ({"encoder_layers": -1}, "encoder settings: num_hidden_layers must be >= 0"),
        ({"encoder_hidden_size": 0}, "encoder settings: hidden_size must be >= 1"),
    ],
)
def test_recipe_fields_are_checked_when_declared(fields: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidTrainingArgumentError, match=match):
        Zip2ZipRecipe(**fields)


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"per_device_train_batch_size": 0}, "per_device_train_batch_size must be >= 1"),
        ({"learning_rate": math.nan}, "learning_rate must be >= 0 and finite"),
        ({"token_type_loss_weight": math.inf}, "token_type_loss_weight must be"),
        ({"encoder_learning_rate": -1.0}, "encoder_learning_rate must be"),
        ({"warmup_steps": -1.0}, "warmup_steps"),  # transformers' own check, re-typed
    ],
)
def test_training_arguments_are_checked_when_declared(
    tmp_path: Path, fields: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidTrainingArgumentError, match=match) as caught:
        Zip2ZipTrainingArguments(output_dir=str(tmp_path), use_cpu=True, **fields)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--max-subtokens", "0"], "max_subtokens must be between 1"),  # not replaced by 4
        (["--batch-size", "0"], "per_device_train_batch_size must be >= 1"),
        (["--lora-r", "-1"], "lora_r must be an integer >= 0"),
        (["--lr", "nan"], "learning_rate must be >= 0 and finite"),
    ],
)
def test_the_train_command_reports_bad_flags(
    model_dir: Path,  # noqa: F811
    tmp_path: Path,
    capsys: Any,
    flags: list[str],
    message: str,
) -> None:
    command = ["train", "--model", str(model_dir), "--data", str(corpus(tmp_path))]
    command += ["--output", str(tmp_path / "run"), "--max-steps", "1", *flags]
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


def test_the_eval_command_names_a_directory_that_is_no_model(tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "a.txt").write_text("the cat sat on a mat")
    command = ["eval", "--model", str(tmp_path), "--data", str(tmp_path / "*.txt")]
    assert main(command) == 2
    assert "neither a zip2zip checkpoint" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        ({"max_length": "abc"}, "max_length must be an integer, got 'abc'"),
        ({"max_gen_toks": "-3"}, "max_gen_toks must be >= 0"),
        ({"dtype": "cuda"}, "dtype must name a torch dtype"),
        ({"dtype": "bogus"}, "dtype must name a torch dtype"),
    ],
)
def test_lm_eval_model_arguments_are_named(
    tmp_path: Path, arguments: dict[str, Any], match: str
) -> None:
    pytest.importorskip("lm_eval")
    from zip2zip_tokenizers.torch.evaluation.errors import EvaluationError
    from zip2zip_tokenizers.torch.evaluation.harness import Zip2ZipLM

    with pytest.raises(EvaluationError, match=match):
        Zip2ZipLM(pretrained=str(tmp_path), **arguments)

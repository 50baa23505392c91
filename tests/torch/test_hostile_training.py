"""Hostile input to the training and evaluation entry points: the window cache, datasets, the
collator, the recipe and training arguments, and the ``train`` / ``eval`` commands. A refusal is
a ``TypeError`` or a ``Zip2ZipError`` subclass naming the argument (the commands print it as
``error: ...`` and exit with 2); a damaged cache is rebuilt, never read as it is."""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pyarrow")

import train_setup  # noqa: E402
from test_training_data import CHAT, corpus, model_dir, recipe_shards  # noqa: E402, F401
from zip2zip_tokenizers.cli import main  # noqa: E402
from zip2zip_tokenizers.data.errors import BadRecordError  # noqa: E402
from zip2zip_tokenizers.torch.evaluation import read_documents  # noqa: E402
from zip2zip_tokenizers.torch.evaluation.errors import EvaluationError  # noqa: E402
from zip2zip_tokenizers.torch.training import (  # noqa: E402
    EmptyDataError,
    InvalidTrainingArgumentError,
    WindowDataset,
    Zip2ZipCollator,
    Zip2ZipRecipe,
    Zip2ZipTrainingArguments,
    chat_dataset,
    file_dataset,
    text_dataset,
)
from zip2zip_tokenizers.torch.training.errors import WindowCacheError  # noqa: E402
from zip2zip_tokenizers.torch.training.run import load_training_data  # noqa: E402


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


@pytest.mark.parametrize("name", ["ids", "loss_mask", "offsets", "num_base_tokens", "complete"])
@pytest.mark.parametrize("damage", ["zeros", "one-byte"])
def test_a_window_cache_file_damaged_in_place_is_named_and_rebuilt(
    shards: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, name: str, damage: str
) -> None:
    """Same size, other bytes: only a checksum tells. Zeros in the loss mask used to be blamed on
    the shards ("holds no window with a target"); zeros in the ids were trained on."""
    expected = windows(WindowDataset.from_shards(shards))
    (cache,) = (tmp_path / "cache" / "windows").iterdir()
    path = cache / (name if name == "complete" else f"{name}.bin")
    data = bytearray(path.read_bytes())
    if damage == "zeros":
        data = bytearray(len(data))
    else:
        data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        again = WindowDataset.from_shards(shards)
    assert windows(again) == expected
    assert [str(path) in record.getMessage() for record in caplog.records] == [True]
    caplog.clear()
    WindowDataset.from_shards(shards)  # rebuilt whole: no warning the next time
    assert not caplog.records


def test_a_damaged_window_cache_that_can_not_be_rebuilt_names_the_file(
    shards: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zip2zip_tokenizers.torch.training import window_cache

    WindowDataset.from_shards(shards)
    (cache,) = (tmp_path / "cache" / "windows").iterdir()
    ids = cache / "ids.bin"
    ids.write_bytes(bytes(ids.stat().st_size))

    def full_disk(directory: Path, shards: list[str]) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(window_cache, "_write_columns", full_disk)
    with pytest.raises(WindowCacheError, match="could not be rebuilt") as error:
        WindowDataset.from_shards(shards)
    assert str(error.value).startswith(f"{ids}: damaged window cache file")
    assert "No space left on device" in str(error.value)


def bad_text_records(path: Path) -> tuple[list[str], list[str]]:
    """A JSONL file of good and bad records: the good texts, and each bad record's
    ``path:line: reason`` as the data pipeline words it."""
    good = ["the cat sat on a mat.", "and the dog ran.", "a mat and the cat."]
    lines = [
        b"\xff\xfe not UTF-8",
        json.dumps({"text": good[0]}).encode(),
        b"not json",
        json.dumps({"txt": "the cat"}).encode(),
        b"",
        json.dumps({"text": 5}).encode(),
        json.dumps([good[1]]).encode(),
        json.dumps({"text": good[1]}).encode(),
        b'{"text": "a\\ud800b"}',
        json.dumps({"text": good[2]}).encode(),
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    bad = [
        f"{path}:1: invalid UTF-8 (byte 0)",
        f"{path}:3: not JSON (Expecting value at column 1)",
        f"{path}:4: missing field 'text'",
        f"{path}:6: field 'text' is not a string",
        f"{path}:7: not a JSON object (got list)",
        f"{path}:9: field 'text' is not valid Unicode (lone surrogate \\ud800 at character 1)",
    ]
    return good, bad


def test_bad_raw_text_records_are_counted_and_located_or_stop_a_strict_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good, bad = bad_text_records(tmp_path / "mixed.jsonl")
    tok = train_setup.tokenizer()
    with caplog.at_level(logging.WARNING):
        data = load_training_data([str(tmp_path / "mixed.jsonl")], tok, window=16)
    assert windows(data) == windows(text_dataset(good, tok, window=16))
    assert data.source.endswith("(3 documents, 6 bad records skipped)")
    (warning,) = [record.getMessage() for record in caplog.records]
    assert warning.splitlines() == [
        f"the text of {tmp_path / 'mixed.jsonl'}: 6 bad records skipped (all below; --strict "
        "stops at the first):",
        *(f"  {location}" for location in bad),
    ]
    with pytest.raises(BadRecordError) as error:
        file_dataset([str(tmp_path / "mixed.jsonl")], tok, window=16, strict=True)
    assert str(error.value) == bad[0]


def test_every_bad_record_is_counted_and_the_first_twenty_located(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "many.jsonl"
    path.write_text("\n".join(["nope"] * 25 + [json.dumps({"text": "the cat sat."})]) + "\n")
    with caplog.at_level(logging.WARNING):
        data = file_dataset([str(path)], train_setup.tokenizer(), window=16)
    assert data.source.endswith("(1 documents, 25 bad records skipped)")
    lines = caplog.records[0].getMessage().splitlines()
    assert lines[0].endswith(
        ": 25 bad records skipped (the first 20 below; --strict stops at the first):"
    )
    assert [line.split(": ")[0] for line in lines[1:]] == [f"  {path}:{n}" for n in range(1, 21)]


def test_nothing_but_bad_records_is_empty_data_that_says_so(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"txt": "the cat"}\n[1]\n')
    with pytest.raises(EmptyDataError, match=r"\(0 documents, 2 bad records skipped\)"):
        file_dataset([str(path)], train_setup.tokenizer(), window=16)


def refusing_template_tokenizer() -> Any:
    tok = train_setup.tokenizer()
    tok.base_tokenizer.chat_template = (
        "{% for m in messages %}{% if m['role'] not in ['user', 'assistant'] %}"
        "{{ raise_exception('unknown role ' + m['role']) }}{% endif %}"
        "<s>{{ m['role'] }}\n{{ m['content'] }}</s>{% endfor %}"
        "{% if add_generation_prompt %}<s>assistant\n{% endif %}"
    )
    return tok


def test_bad_chat_records_are_counted_and_located_or_stop_a_strict_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The first line is not even UTF-8: the file is still read as chat (its first JSON object
    has messages), and each record without a valid conversation is named."""
    path = tmp_path / "chat.jsonl"
    records = [
        b"\xe9t\xe9",
        json.dumps({"messages": []}).encode(),
        json.dumps({"messages": CHAT}).encode(),
        json.dumps({"messages": "hello"}).encode(),
        json.dumps({"messages": ["hello"]}).encode(),
        json.dumps({"messages": [{"role": "user"}]}).encode(),
        json.dumps({"messages": [{"role": "user", "content": "a\ud800"}]}).encode(),
        json.dumps({"text": "the cat"}).encode(),
        json.dumps({"messages": [{"role": "robot", "content": "the cat"}]}).encode(),
        json.dumps({"messages": CHAT[:2]}).encode(),
    ]
    path.write_bytes(b"\n".join(records) + b"\n")
    bad = [
        f"{path}:1: invalid UTF-8 (byte 0)",
        f"{path}:2: field 'messages' is empty",
        f"{path}:4: field 'messages' is not a list (str)",
        f"{path}:5: messages[0] is not an object",
        f"{path}:6: field 'messages[0].content' is not a string",
        f"{path}:7: field 'messages[0].content' is not valid Unicode (lone surrogate \\ud800 "
        "at character 1)",
        f"{path}:8: missing field 'messages'",
        f"{path}:9: the chat template refuses it (unknown role robot)",
    ]
    tok = refusing_template_tokenizer()
    with caplog.at_level(logging.WARNING):
        data = load_training_data([str(path)], tok, window=1000)
    assert windows(data) == windows(chat_dataset([CHAT, CHAT[:2]], tok, window=1000))
    assert data.source.endswith("(2 conversations, 8 bad records skipped)")
    (warning,) = [record.getMessage() for record in caplog.records]
    assert warning.splitlines()[1:] == [f"  {location}" for location in bad]
    with pytest.raises(BadRecordError) as error:
        load_training_data([str(path)], tok, window=1000, strict=True)
    assert str(error.value) == bad[0]


@pytest.mark.parametrize(
    ("conversation", "says"),
    [
        ([], "conversation 1: field 'messages' is empty"),
        ([{"role": "user", "content": None}], "conversation 1: field 'messages[0].content' is"),
        ([{"role": "robot", "content": "hi"}], "conversation 1: the chat template refuses it"),
    ],
)
def test_chat_dataset_names_the_conversation_it_can_not_use(
    conversation: list[dict[str, Any]], says: str
) -> None:
    with pytest.raises(BadRecordError, match=re.escape(says)):
        chat_dataset([CHAT, conversation], refusing_template_tokenizer(), window=1000)


def test_the_train_command_stops_at_the_first_bad_record_with_strict(
    model_dir: Path,  # noqa: F811
    tmp_path: Path,
    capsys: Any,
) -> None:
    _, bad = bad_text_records(tmp_path / "mixed.jsonl")
    command = ["train", "--model", str(model_dir), "--data", str(tmp_path / "mixed.jsonl")]
    command += ["--output", str(tmp_path / "run"), "--max-steps", "1", "--strict"]
    assert main(command) == 2
    assert capsys.readouterr().err == f"error: {bad[0]}\n"


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
        ({"encoder_warmup_steps": -1}, "encoder_warmup_steps must be >= 0"),
        ({"encoder_warmup_steps": 2.5}, "encoder_warmup_steps must be a whole number"),
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
        (["--batch-size", "0"], "--batch-size must be >= 1, got 0"),
        (["--gradient-accumulation", "0"], "--gradient-accumulation must be >= 1, got 0"),
        (["--lora-r", "-1"], "--lora-r must be >= 0, got -1"),
        (["--lr", "nan"], "--lr must be >= 0 and finite, got nan"),
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


def no_model(model: Path, directory: Path, damage: str) -> str:
    """A copy of the model directory ``model`` made into no model; what the error says."""
    import shutil

    shutil.copytree(model, directory)
    if damage == "tokenizer-only":
        (directory / "config.json").unlink()
        (directory / "model.safetensors").unlink()
        return "no config.json and no weights (model.safetensors"
    if damage == "no-weights":
        (directory / "model.safetensors").unlink()
        return "no weights (model.safetensors"
    (directory / "config.json").write_text("{}")
    return f"{directory / 'config.json'}: Unrecognized model"


@pytest.mark.parametrize("damage", ["tokenizer-only", "no-weights", "config-without-model-type"])
def test_the_train_command_names_a_model_directory_that_is_no_model(
    model_dir: Path,  # noqa: F811
    tmp_path: Path,
    capsys: Any,
    damage: str,
) -> None:
    says = no_model(model_dir, tmp_path / "model", damage)
    # Refused before the data is read (a bad record here would stop a strict run first).
    bad_text_records(tmp_path / "mixed.jsonl")
    command = ["train", "--model", str(tmp_path / "model"), "--data", str(tmp_path / "mixed.jsonl")]
    command += ["--output", str(tmp_path / "run"), "--max-steps", "1", "--strict"]
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the model to train: ") and says in err


@pytest.mark.parametrize("damage", ["no-weights", "config-without-model-type"])
def test_the_eval_command_names_a_model_directory_that_is_no_model(
    model_dir: Path,  # noqa: F811
    tmp_path: Path,
    capsys: Any,
    damage: str,
) -> None:
    says = no_model(model_dir, tmp_path / "model", damage)
    (tmp_path / "a.txt").write_text("the cat sat on a mat")
    command = ["eval", "--model", str(tmp_path / "model"), "--data", str(tmp_path / "a.txt")]
    assert main([*command, "--max-codebook-size", "64", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the model to evaluate: ") and says in err


def unusable_devices() -> list[str]:
    devices = ["meta", "bogus", "cuda:99"]
    if not torch.cuda.is_available():
        devices.append("cuda")
    return devices


@pytest.mark.parametrize("device", unusable_devices())
def test_the_eval_command_names_a_device_it_can_not_use(
    model_dir: Path,  # noqa: F811
    tmp_path: Path,
    capsys: Any,
    device: str,
) -> None:
    (tmp_path / "a.txt").write_text("the cat sat on a mat")
    command = ["eval", "--model", str(model_dir), "--data", str(tmp_path / "a.txt")]
    command += ["--max-codebook-size", "64", "--no-progress", "--device", device]
    assert main(command) == 2
    assert capsys.readouterr().err.startswith(f"error: device {device!r} ")


def test_read_documents_refuses_a_cut_that_is_no_length(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("the cat sat on a mat")
    documents, _ = read_documents([tmp_path / "a.txt"], max_chars=7)
    assert documents[0].text == "the cat"
    for cut in (-5, 0):
        with pytest.raises(EvaluationError, match=f"max_chars must be at least 1.*got {cut}"):
            read_documents([tmp_path / "a.txt"], max_chars=cut)


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

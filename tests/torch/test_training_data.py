"""Training data: chat rendering and its loss mask, the chat template on Zip2ZipTokenizer, shards,
the collator, and the ``train`` command end to end (then resumed)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("pyarrow")

import train_setup  # noqa: E402
from zip2zip_tokenizers import Zip2ZipError  # noqa: E402
from zip2zip_tokenizers.cli import main  # noqa: E402
from zip2zip_tokenizers.data import preprocess  # noqa: E402
from zip2zip_tokenizers.data.errors import VerifyError  # noqa: E402
from zip2zip_tokenizers.torch import Zip2ZipForCausalLM  # noqa: E402
from zip2zip_tokenizers.torch.training import (  # noqa: E402
    CodecMismatchError,
    WindowDataset,
    Zip2ZipCollator,
    chat_dataset,
    text_dataset,
)
from zip2zip_tokenizers.torch.training.chat import assistant_spans  # noqa: E402

CHAT = [
    {"role": "user", "content": "the cat sat on the cat"},
    {"role": "assistant", "content": "the cat sat on the mat"},
    {"role": "user", "content": "and the dog"},
    {"role": "assistant", "content": "the dog ran"},
]


def test_assistant_turns_and_their_end_token_are_the_only_targets() -> None:
    tok = train_setup.tokenizer()
    text, spans = assistant_spans(tok.base_tokenizer, CHAT)
    assert [text[a:b] for a, b in spans] == ["the cat sat on the mat</s>", "the dog ran</s>"]
    data = chat_dataset([CHAT, CHAT[:2]], tok, window=1000)
    assert len(data) == 2
    item = data[1]
    ids, mask = item["input_ids"].tolist(), item["loss_mask"].bool().tolist()
    _, codebook = tok.compressor.decode_with_codebook(ids)
    vocab = tok.initial_vocab_size
    pieces = [codebook.subtokens(i) if i >= vocab else [i] for i in ids]
    # Every id in the loss writes assistant text (the first may start in the prompt: a
    # hypertoken is in the loss when any of its base tokens is); all of the reply is in the loss.
    kept = [t for piece, keep in zip(pieces, mask, strict=True) if keep for t in piece]
    kept_text = str(tok.base_tokenizer.decode(kept))
    reply = "the cat sat on the mat</s>"
    assert kept_text.endswith(reply)
    assert text[: spans[0][0]].endswith(kept_text[: -len(reply)])
    assert len(kept_text) - len(reply) < 4
    assert tok.decode(ids) == text[: spans[0][1]]


def test_zip2zip_tokenizer_applies_the_chat_template() -> None:
    tok = train_setup.tokenizer()
    text = tok.apply_chat_template(CHAT[:1], tokenize=False, add_generation_prompt=True)
    assert text == "<s>user\nthe cat sat on the cat</s><s>assistant\n"
    ids = tok.apply_chat_template(CHAT[:1], add_generation_prompt=True)
    assert tok.decode(ids) == text
    assert max(ids) >= tok.initial_vocab_size  # "the cat" repeats: a hypertoken
    tensor = tok.apply_chat_template(CHAT[:1], add_generation_prompt=True, return_tensors="pt")
    assert tensor.tolist() == [ids]


def test_windows_without_hypertokens_still_train() -> None:
    tok = train_setup.tokenizer()
    data = text_dataset(["abcdefghij"], tok, window=4)
    assert len(data) == 3  # windows of 4, 4 and 3 ids: nothing dropped, none merged
    batch = Zip2ZipCollator(tok.config)([data[i] for i in range(len(data))])
    assert batch["input_ids"].shape == (3, 4)
    assert batch["labels"][2].tolist() == [*data[2]["input_ids"].tolist(), -100]
    assert batch["attention_mask"][2].tolist() == [1, 1, 1, 0]
    assert batch["num_base_tokens"].tolist() == [4, 4, 3]


def test_collator_masks_positions_outside_the_loss_mask() -> None:
    tok = train_setup.tokenizer()
    items = [{"input_ids": [5, 6, 7, 8], "loss_mask": [0, 1, 0, 1]}, {"input_ids": [9]}]
    batch = Zip2ZipCollator(tok.config)(items)
    assert batch["labels"].tolist() == [[-100, 6, -100, 8], [9, -100, -100, -100]]
    assert batch["input_ids"][1].tolist() == [9] + [tok.config.pad_token_id] * 3


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("base")
    tok = train_setup.tokenizer()
    net = train_setup.model(tok)
    net.base_model.save_pretrained(directory)
    tok.base_tokenizer.save_pretrained(directory)
    return directory


def small_train_command(model_dir: Path, data: Path, output: Path) -> list[str]:
    """``train`` on the tiny model, small and quick: windows of 64, 2 per step, LoRA r 4, one
    encoder layer (callers add the codebook size, the steps and the flags under test)."""
    command = ["train", "--model", str(model_dir), "--data", str(data), "--output", str(output)]
    small = ["--window", "64", "--batch-size", "2", "--lora-r", "4", "--encoder-layers", "1"]
    return [*command, *small]


def corpus(directory: Path) -> Path:
    import random

    rng = random.Random(1)
    path = directory / "corpus.jsonl"
    lines = [json.dumps({"text": train_setup.document(rng, 20)}) for _ in range(24)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def recipe_shards(model_dir: Path, text: Path, shards: Path) -> Path:
    """``text`` preprocessed into ``shards`` with the test model's codec (64 x 4, digits apart)."""
    preprocess(
        str(model_dir),
        [str(text)],
        str(shards),
        window=64,
        max_codebook_size=64,
        max_subtokens=4,
        disable_digits=True,
        workers=1,
        progress=False,
    )
    return shards


def test_shards_load_and_must_match_the_models_codec(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZIP2ZIP_CACHE", str(tmp_path / "cache"))
    text = corpus(tmp_path)
    shards = recipe_shards(model_dir, text, tmp_path / "shards")
    data = WindowDataset.from_shards(shards)
    tok = train_setup.tokenizer()
    direct = text_dataset(
        [json.loads(line)["text"] for line in text.read_text().splitlines()], tok, window=64
    )
    assert len(data) == len(direct)
    assert all(torch.equal(data[i]["input_ids"], direct[i]["input_ids"]) for i in range(len(data)))
    data.check_codec(tok.config)
    with pytest.raises(CodecMismatchError, match="max_codebook_size: 32"):
        data.check_codec(train_setup.tokenizer(codebook=32).config)
    # Memory-mapped from one whole cache, reused by the next load.
    caches = list((tmp_path / "cache" / "windows").iterdir())
    assert len(caches) == 1 and (caches[0] / "complete").is_file()
    again = WindowDataset.from_shards(shards)
    assert list((tmp_path / "cache" / "windows").iterdir()) == caches
    assert all(torch.equal(again[i]["loss_mask"], data[i]["loss_mask"]) for i in range(len(data)))
    assert again.num_base_tokens == data.num_base_tokens == direct.num_base_tokens
    # Pickled (for spawned data-loader workers) as the cache's path, not a copy of the windows.
    import pickle

    pickled = pickle.dumps(data)
    assert len(pickled) < data.num_ids
    thawed = pickle.loads(pickled)
    assert all(torch.equal(thawed[i]["input_ids"], data[i]["input_ids"]) for i in range(len(data)))


def test_a_failed_window_cache_build_leaves_nothing_behind(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZIP2ZIP_CACHE", str(tmp_path / "cache"))
    shards = recipe_shards(model_dir, corpus(tmp_path), tmp_path / "shards")
    shard = sorted(shards.glob("*.parquet"))[0]
    shard.write_bytes(shard.read_bytes()[:-200])
    with pytest.raises(VerifyError, match=f"{shard.name}: not a readable shard"):
        WindowDataset.from_shards(shards)
    assert list((tmp_path / "cache" / "windows").iterdir()) == []


def test_the_train_command_trains_saves_and_resumes(
    model_dir: Path, tmp_path: Path, capsys: Any
) -> None:
    text = corpus(tmp_path)
    out = tmp_path / "run"
    command = ["train", "--model", str(model_dir), "--data", str(text), "--output", str(out)]
    command += ["--window", "64", "--batch-size", "4", "--lora-r", "4", "--encoder-layers", "1"]
    command += ["--max-codebook-size", "64", "--logging-steps", "1", "--save-steps", "2"]
    assert main([*command, "--max-steps", "3"]) == 0
    assert "trained 3 steps" in capsys.readouterr().out
    model = Zip2ZipForCausalLM.from_pretrained(out)
    assert model.compression.max_codebook_size == 64
    assert model.position_mode == "base_token_end"
    assert model.token_type_head is not None
    assert (out / "checkpoint-2").is_dir()
    # The same command with more steps continues from the last checkpoint (step 3's).
    assert main([*command, "--max-steps", "5"]) == 0
    assert "trained 5 steps" in capsys.readouterr().out
    state = json.loads((out / "checkpoint-5" / "trainer_state.json").read_text())
    assert [e["step"] for e in state["log_history"] if "loss" in e] == [1, 2, 3, 4, 5]


def test_the_train_command_starts_from_the_same_weights_for_the_same_seed(
    model_dir: Path, tmp_path: Path
) -> None:
    """The fresh encoders and adapter are seeded (FSDP shards each process's own copy): one step
    of the warmup (learning rate 0) leaves them as built, the same in two runs."""
    from safetensors.torch import load_file

    text = corpus(tmp_path)
    saved = []
    for run in ("a", "b"):
        command = small_train_command(model_dir, text, tmp_path / run)
        command += ["--max-codebook-size", "64"]
        assert main([*command, "--max-steps", "1", "--save-steps", "5"]) == 0
        files = ("zip2zip_encoders.safetensors", "adapter_model.safetensors")
        saved.append({name: load_file(str(tmp_path / run / name)) for name in files})
    for name, tensors in saved[0].items():
        assert tensors.keys() == saved[1][name].keys()
        for key, tensor in tensors.items():
            assert torch.equal(tensor, saved[1][name][key]), f"{name}: {key}"


def test_the_train_command_trains_the_c0_control(
    model_dir: Path, tmp_path: Path, capsys: Any
) -> None:
    """``--max-codebook-size 0`` is the control run (no hypertokens), not "the default"."""
    out = tmp_path / "control"
    command = small_train_command(model_dir, corpus(tmp_path), out)
    command += ["--max-codebook-size", "0", "--max-steps", "2"]
    assert main(command) == 0
    assert "trained 2 steps" in capsys.readouterr().out
    model = Zip2ZipForCausalLM.from_pretrained(out)
    assert model.compression.max_codebook_size == 0


# transformers 5.x renamed the switch; the old name warns (FutureWarning) from TrainingArguments.
@pytest.mark.filterwarnings("error::FutureWarning:transformers.training_args")
@pytest.mark.parametrize("flag", ["--gradient-checkpointing", "--bf16"])
def test_the_train_command_takes_gradient_checkpointing_and_bf16(
    model_dir: Path, tmp_path: Path, capsys: Any, flag: str
) -> None:
    out = tmp_path / "run"
    command = small_train_command(model_dir, corpus(tmp_path), out)
    command += ["--max-codebook-size", "64", "--logging-steps", "1"]
    command += ["--save-steps", "2"]
    assert main([*command, "--max-steps", "2", flag]) == 0
    assert "trained 2 steps" in capsys.readouterr().out
    state = json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())
    losses = [e["loss"] for e in state["log_history"] if "loss" in e]
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)


def test_the_train_command_names_a_codec_mismatch(
    model_dir: Path, tmp_path: Path, capsys: Any
) -> None:
    shards = tmp_path / "shards"
    preprocess(
        str(model_dir),
        [str(corpus(tmp_path))],
        str(shards),
        window=64,
        max_codebook_size=32,
        workers=1,
        progress=False,
    )
    command = ["train", "--model", str(model_dir), "--data", str(shards)]
    command += ["--output", str(tmp_path / "run"), "--max-codebook-size", "64"]
    assert main([*command, "--max-steps", "1"]) == 2
    error = capsys.readouterr().err
    assert "max_codebook_size: 64" in error and "vs 32" in error
    assert "Loading weights" not in error  # refused before the model is built
    assert issubclass(CodecMismatchError, Zip2ZipError)

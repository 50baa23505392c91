"""The model layer with an evicting codec: it saves and loads the setting (never silently in the
authors' layout) and runs exactly as the frozen codec while no codebook is full. What it does
once a codebook fills and recycles slots: ``test_model_recycling.py``."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from test_model import MEAN, V, canonical, repetitive, wrapped  # noqa: E402
from tiny_text_model import save_tiny_model  # noqa: E402
from zip2zip_tokenizers import CompressionConfig, Zip2ZipTokenizer  # noqa: E402
from zip2zip_tokenizers.cli import main  # noqa: E402
from zip2zip_tokenizers.data import preprocess  # noqa: E402
from zip2zip_tokenizers.settings import CodecMismatchError  # noqa: E402
from zip2zip_tokenizers.torch import (  # noqa: E402
    AuthorsFormatWarning,
    ModelMismatchError,
    Zip2ZipForCausalLM,
)
from zip2zip_tokenizers.torch.evaluation import load_for_eval  # noqa: E402

SMALL = 6


def evicting(size: int = SMALL) -> CompressionConfig:
    return CompressionConfig(V, size, 4, [0, 1, 2], 0, eviction="lru")


def test_the_policy_is_saved_and_never_silently_in_the_authors_layout(tmp_path: Path) -> None:
    model = wrapped("llama", MEAN, cfg=evicting())
    # Their loader refuses compression.eviction by name; asked for their layout, it is an error.
    with pytest.raises(ModelMismatchError, match="eviction='lru'"):
        model.save_pretrained(tmp_path / "strict", authors_compatible=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.save_pretrained(tmp_path / "ours")
    saved = json.loads((tmp_path / "ours" / "zip2zip_config.json").read_text())
    assert saved["compression"]["eviction"] == "lru"
    assert Zip2ZipForCausalLM.from_pretrained(tmp_path / "ours").compression == evicting()
    # A model from their checkpoint is likely to go back there: saving it warns.
    model.authors_origin = True
    with pytest.warns(AuthorsFormatWarning, match="eviction='lru'"):
        model.save_pretrained(tmp_path / "back")


def test_until_a_codebook_fills_it_runs_as_the_frozen_codec() -> None:
    frozen_config = CompressionConfig(V, 48, 4, [0, 1, 2], 0)
    ids = canonical(repetitive(40, seed=3), frozen_config)
    frozen = wrapped("llama", MEAN, cfg=frozen_config)
    model = wrapped("llama", MEAN, cfg=CompressionConfig(V, 48, 4, [0, 1, 2], 0, eviction="lru"))
    model.load_state_dict(frozen.state_dict())
    with torch.no_grad():
        assert torch.equal(model(torch.tensor([ids])).logits, frozen(torch.tensor([ids])).logits)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def test_eval_loads_the_policy_and_refuses_a_tokenizer_without_it(
    model_dir: Path, tmp_path: Path
) -> None:
    model, tokenizer = load_for_eval(model_dir, max_codebook_size=64, eviction="lru")
    assert model.compression.eviction == tokenizer.config.eviction == "lru"
    model.save_pretrained(tmp_path / "ckpt")
    assert load_for_eval(tmp_path / "ckpt")[1].config.eviction == "lru"
    Zip2ZipTokenizer.from_pretrained(model_dir, max_codebook_size=64).save_pretrained(
        tmp_path / "frozen"
    )
    with pytest.raises(CodecMismatchError, match=r"eviction: 'lru' .* vs 'none'"):
        load_for_eval(tmp_path / "ckpt", tokenizer_dir=tmp_path / "frozen")


def test_train_refuses_shards_made_with_another_policy(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat, the cat sat on the hat. " * 40, encoding="utf-8")
    shards = tmp_path / "shards"
    preprocess(
        str(model_dir),
        [str(corpus)],
        str(shards),
        window=64,
        max_codebook_size=32,
        eviction="lru",
        workers=1,
        progress=False,
    )
    command = ["train", "--model", str(model_dir), "--data", str(shards)]
    command += ["--output", str(tmp_path / "run"), "--max-codebook-size", "32"]
    assert main([*command, "--max-steps", "1", "--eviction", "none"]) == 2
    error = capsys.readouterr().err
    assert "eviction: 'none'" in error
    assert "pass --eviction none to preprocess, or --eviction lru to train" in error


def test_a_training_checkpoint_of_an_evicting_model_loads_back_into_it(tmp_path: Path) -> None:
    from zip2zip_tokenizers.torch.training.checkpoints import (
        load_training_model,
        save_training_model,
    )

    model = wrapped("llama", MEAN, cfg=evicting())
    save_training_model(model, str(tmp_path / "checkpoint-1"), None)
    again = wrapped("llama", MEAN, cfg=evicting())
    load_training_model(again, tmp_path / "checkpoint-1")  # the same codec: no mismatch
    for name, weight in model.input_encoder.state_dict().items():
        assert torch.equal(again.input_encoder.state_dict()[name], weight)

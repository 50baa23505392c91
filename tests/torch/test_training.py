"""Uptraining with Zip2ZipTrainer (issue 9): a tiny model learns to write hypertokens; checkpoints
reload; 2 processes equal 1; a resumed run equals an uninterrupted one; bad data and a NaN loss
stop with a clear error."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

import train_setup  # noqa: E402
from transformers import TrainerCallback  # noqa: E402
from zip2zip_tokenizers.torch import Zip2ZipForCausalLM  # noqa: E402
from zip2zip_tokenizers.torch.errors import LabelError  # noqa: E402
from zip2zip_tokenizers.torch.training import (  # noqa: E402
    CodecMismatchError,
    EmptyDataError,
    NonFiniteLossError,
    Zip2ZipCollator,
    text_dataset,
)
from zip2zip_tokenizers.torch.training.trainer import STATS  # noqa: E402

HERE = Path(__file__).parent


pytestmark = pytest.mark.usefixtures("one_thread")


def generated(tok: Any, net: Any, seed: int = 99) -> tuple[str, str, int, int]:
    """Prompt text, continuation text, ids written and base tokens they stand for."""
    prompt = train_setup.document(random.Random(seed))[:60]
    batch = tok([prompt], return_tensors="pt")
    net.eval()
    out = net.generate(**batch, max_new_tokens=40, eos_token_id=[])
    assert isinstance(out, torch.Tensor)
    written = out.shape[1] - batch["input_ids"].shape[1]
    base = len(tok.to_base_ids(out[0])) - len(tok.to_base_ids(batch["input_ids"][0]))
    text = tok.decode(out[0])
    assert text.startswith(prompt)
    return prompt, text[len(prompt) :], written, base


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("trained")
    tok = train_setup.tokenizer()
    net = train_setup.model(tok)
    untrained = generated(tok, net)
    run = train_setup.trainer(
        str(out), tok, net, train_setup.dataset(tok), max_steps=150, logging_steps=10
    )
    run.train()
    run.save_model(str(out / "final"))
    return {"tok": tok, "net": net, "untrained": untrained, "run": run, "dir": out / "final"}


def test_a_tiny_model_learns_to_write_hypertokens(trained: dict[str, Any]) -> None:
    _, _, written, base = trained["untrained"]
    # A fresh model scores each hypertoken exactly as its first base token: it writes none.
    assert base / written < 1.1
    _, text, written, base = generated(trained["tok"], trained["net"])
    assert base / written >= 1.3, (text, written, base)
    # Exact text of the corpus' language: every whole word (the prompt ends inside one) is one
    # of its words.
    words = text.split()
    assert len(words) > 5 and set(words[1:-1]) <= train_setup.WORDS, text


def test_losses_fall_and_the_logs_carry_the_zip2zip_metrics(trained: dict[str, Any]) -> None:
    history = trained["run"].state.log_history
    losses = train_setup.losses(history)
    assert losses[-1] < 0.5 * losses[0]
    entry = next(e for e in history if "loss_hyper_targets" in e)
    for key in (
        "loss_base_targets",
        "hyper_target_share",
        "compression",
        "ids_per_second",
        "base_tokens_per_second",
        "token_type_loss",
        "learning_rate_model",
        "learning_rate_encoders",
        "accuracy_base_targets",
        "accuracy_hyper_targets",
        "hyper_prediction_share",
        "grad_norm_encoders",
        "grad_norm_base_model",
        "grad_norm_token_type_head",
    ):
        assert key in entry, key
    assert 1.5 < entry["compression"] < 4.0
    assert 0.3 < entry["hyper_target_share"] < 0.95
    # The model learns to predict hypertokens, and right.
    logs = [e for e in history if "loss" in e]
    assert logs[-1]["accuracy_hyper_targets"] > logs[0]["accuracy_hyper_targets"] + 0.2
    assert logs[-1]["hyper_prediction_share"] > logs[0]["hyper_prediction_share"]


def test_the_checkpoint_reloads_and_generates_the_same_ids(trained: dict[str, Any]) -> None:
    tok, net = trained["tok"], trained["net"]
    files = set(os.listdir(trained["dir"]))
    assert {"zip2zip_config.json", "zip2zip_encoders.safetensors", "tokenizer.json"} <= files
    again = Zip2ZipForCausalLM.from_pretrained(trained["dir"])
    assert again.token_type_head is not None
    batch = tok(["the cat sat on the cat sat"], return_tensors="pt")
    first = net.eval().generate(**batch, max_new_tokens=20, eos_token_id=[])
    second = again.eval().generate(**batch, max_new_tokens=20, eos_token_id=[])
    assert torch.equal(first, second)


def test_two_processes_equal_one_with_the_same_global_batch(tmp_path: Path) -> None:
    import ddp_train

    steps = 4
    history = ddp_train.run(str(tmp_path / "p1"), 4, steps).state.log_history
    alone = train_setup.losses(history)
    out = tmp_path / "p2"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc-per-node=2", str(HERE / "ddp_train.py"), str(out), "2", str(steps)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    together = json.loads((out / "losses.json").read_text())
    assert len(alone) == steps
    torch.testing.assert_close(together["losses"], alone, rtol=1e-4, atol=1e-5)
    # Accuracies and top-1 shares are summed over the processes; the gradient norms are the
    # whole batch's.
    health = train_setup.health(history)
    assert len(health[0]) == 3 + 1 + 3  # 3 signals, the Trainer's grad_norm, 3 parts
    torch.testing.assert_close(together["health"], health, rtol=1e-4, atol=1e-5)


class _Crash(TrainerCallback):
    def __init__(self, at: int) -> None:
        self.at = at

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step == self.at:
            raise KeyboardInterrupt("killed")


# With window views, too: each window's view is a function of (seed, window), so a resumed run
# reads what the uninterrupted one read.
@pytest.mark.parametrize("views", [{}, {"segmentation_sampling": 0.4, "uncompressed_share": 0.3}])
def test_a_resumed_run_equals_an_uninterrupted_one(tmp_path: Path, views: dict[str, float]) -> None:
    tok = train_setup.tokenizer()
    data = train_setup.dataset(tok, documents=24)
    settings: dict[str, Any] = {"max_steps": 6, "save_strategy": "steps", "save_steps": 3}
    settings |= {"per_device_train_batch_size": 4, **views}
    whole = train_setup.trainer(
        str(tmp_path / "a"), tok, train_setup.model(tok, lora_r=4), data, **settings
    )
    whole.train()
    expected = train_setup.losses(whole.state.log_history)

    killed = train_setup.trainer(
        str(tmp_path / "b"), tok, train_setup.model(tok, lora_r=4), data, **settings
    )
    killed.add_callback(_Crash(at=5))
    with pytest.raises(KeyboardInterrupt):
        killed.train()
    assert (tmp_path / "b" / "checkpoint-3" / "adapter_model.safetensors").is_file()
    resumed = train_setup.trainer(
        str(tmp_path / "b"), tok, train_setup.model(tok, lora_r=4), data, **settings
    )
    resumed.train(resume_from_checkpoint=True)
    # The history holds steps 1-3 from the checkpoint, then the three steps trained again.
    got = train_setup.losses(resumed.state.log_history)
    assert len(got) == len(expected) == 6
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_data_made_with_other_codec_settings_is_refused(tmp_path: Path) -> None:
    tok = train_setup.tokenizer()
    other = train_setup.tokenizer(codebook=32)
    with pytest.raises(CodecMismatchError, match=r"max_codebook_size: 64 \(the model\) vs 32"):
        train_setup.trainer(
            str(tmp_path), tok, train_setup.model(tok), train_setup.dataset(other), max_steps=1
        )


def test_empty_data_is_refused() -> None:
    tok = train_setup.tokenizer()
    with pytest.raises(EmptyDataError, match="no window with a target"):
        text_dataset(["", ""], tok, window=16)


def test_labels_out_of_range_are_refused() -> None:
    tok = train_setup.tokenizer()
    collate = Zip2ZipCollator(tok.config)
    item = {"input_ids": [5, 6, 7], "labels": [5, 6, 7 + tok.config.total_vocab_size]}
    with pytest.raises(LabelError, match=r"label 105 at \(row 0, position 2\)"):
        collate([item])


class _Poison(TrainerCallback):
    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step == 3:
            with torch.no_grad():
                kwargs["model"].output_encoder.norm.weight.fill_(float("nan"))


def test_a_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    tok = train_setup.tokenizer()
    net = train_setup.model(tok)
    run = train_setup.trainer(
        str(tmp_path),
        tok,
        net,
        train_setup.dataset(tok, documents=16),
        max_steps=8,
        save_strategy="steps",
        save_steps=2,
        per_device_train_batch_size=4,
    )
    run.add_callback(_Poison())
    with pytest.raises(NonFiniteLossError, match="the loss is nan at step 4"):
        run.train()
    assert sorted(p.name for p in tmp_path.glob("checkpoint-*")) == ["checkpoint-2"]
    saved = Zip2ZipForCausalLM.from_pretrained(tmp_path / "checkpoint-2")
    assert all(torch.isfinite(p).all() for p in saved.parameters())


def test_a_log_without_hypertoken_targets_has_no_nan(tmp_path: Path) -> None:
    tok = train_setup.tokenizer()
    run = train_setup.trainer(
        str(tmp_path), tok, train_setup.model(tok), train_setup.dataset(tok, documents=4)
    )
    # Base-target loss 6 over 3 targets, no hypertoken target, 5 ids covering 5 base tokens.
    sums = {"base_loss": 6.0, "base_targets": 3.0, "ids": 5.0, "base_tokens": 5.0}
    run._stats = torch.tensor([sums.get(name, 0.0) for name in STATS], dtype=torch.float64)
    metrics = run._metrics()
    assert {"loss_hyper_targets", "accuracy_hyper_targets"}.isdisjoint(metrics)
    assert metrics["hyper_target_share"] == 0.0
    assert metrics["loss_base_targets"] == metrics["lm_loss"] == 2.0
    assert all(math.isfinite(v) for v in metrics.values())
    run._stats = torch.zeros_like(run._stats)
    quiet = run._metrics()
    assert {"loss_base_targets", "loss_hyper_targets", "lm_loss", "compression"}.isdisjoint(quiet)
    assert all(math.isfinite(v) for v in quiet.values())

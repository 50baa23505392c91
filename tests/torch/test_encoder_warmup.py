"""``encoder_warmup_steps``: the encoders' and token-type head's learning rate gets its own linear
warm-up; every other parameter keeps the run's schedule."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import train_setup
from zip2zip_tokenizers.torch.training.arguments import RECIPE_ENCODER_LEARNING_RATE_FACTOR
from zip2zip_tokenizers.torch.training.errors import TrainingError

pytestmark = pytest.mark.usefixtures("one_thread")
STEPS, WARMUP, ENCODER_WARMUP = 5, 1, 4
LR, ENCODER_LR = 1e-3, 2e-3
MIN_RATE = 1e-5 / 3e-4  # the recipe's floor of the cosine decay (min_lr_rate)


def cosine_with_min_lr(step: int, warmup: int, total: int) -> float:
    """The factor of step ``step`` (0-based) of a linear warm-up then a cosine decay to
    ``MIN_RATE`` (the recipe's schedule), written out."""
    if step < warmup:
        return step / warmup
    progress = (step - warmup) / (total - warmup)
    return MIN_RATE + (1 - MIN_RATE) * 0.5 * (1 + math.cos(math.pi * progress))


def test_the_encoder_groups_warm_up_on_their_own(tmp_path: Path) -> None:
    tok = train_setup.tokenizer()
    trainer = train_setup.trainer(
        str(tmp_path),
        tok,
        train_setup.model(tok),
        train_setup.dataset(tok, documents=8),
        max_steps=STEPS,
        warmup_steps=WARMUP,
        learning_rate=LR,
        encoder_learning_rate=ENCODER_LR,
        encoder_warmup_steps=ENCODER_WARMUP,
    )
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert [entry["step"] for entry in logs] == list(range(1, STEPS + 1))
    for entry in logs:
        step = entry["step"] - 1  # the rate a step used is the schedule's before it steps
        model = LR * cosine_with_min_lr(step, WARMUP, STEPS)
        encoders = ENCODER_LR * cosine_with_min_lr(step, ENCODER_WARMUP, STEPS)
        assert entry["learning_rate_model"] == pytest.approx(model, rel=1e-9, abs=1e-15)
        assert entry["learning_rate_encoders"] == pytest.approx(encoders, rel=1e-9, abs=1e-15)
    # Still ramping while the rest decays.
    assert logs[2]["learning_rate_encoders"] < ENCODER_LR * logs[2]["learning_rate_model"] / LR


def scheduled_rates(tmp_path: Path, **overrides: object) -> dict[str, list[float]]:
    tok = train_setup.tokenizer()
    trainer = train_setup.trainer(
        str(tmp_path), tok, train_setup.model(tok), None, learning_rate=LR, **overrides
    )
    trainer.create_optimizer_and_scheduler(num_training_steps=STEPS)
    rates: dict[str, list[float]] = {}
    for _ in range(STEPS):
        for group in trainer.optimizer.param_groups:
            rates.setdefault(group["name"], []).append(group["lr"])
        trainer.optimizer.step()
        trainer.lr_scheduler.step()
    return rates


def test_without_an_encoder_warmup_every_group_follows_the_run_schedule(tmp_path: Path) -> None:
    rates = scheduled_rates(tmp_path, warmup_steps=2, encoder_learning_rate=ENCODER_LR)
    expected = [cosine_with_min_lr(step, 2, STEPS) for step in range(STEPS)]
    assert rates["model"] == pytest.approx([LR * f for f in expected], rel=1e-9)
    assert rates["encoders"] == pytest.approx([ENCODER_LR * f for f in expected], rel=1e-9)


def test_an_encoder_warmup_of_zero_starts_the_encoders_at_their_peak(tmp_path: Path) -> None:
    rates = scheduled_rates(tmp_path, warmup_steps=2, encoder_warmup_steps=0)
    # Their peak by default: 3 x the model's rate.
    assert rates["encoders"][0] == pytest.approx(RECIPE_ENCODER_LEARNING_RATE_FACTOR * LR)
    assert RECIPE_ENCODER_LEARNING_RATE_FACTOR == 3.0
    assert rates["model"][0] == 0.0


def test_an_encoder_learning_rate_of_zero_freezes_the_encoders(tmp_path: Path) -> None:
    rates = scheduled_rates(tmp_path, warmup_steps=0, encoder_learning_rate=0.0)
    assert rates["encoders"] == [0.0] * STEPS
    assert rates["model"][0] == pytest.approx(LR)


def test_a_schedule_without_a_warmup_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="'constant' has no warm-up"):
        scheduled_rates(tmp_path, lr_scheduler_type="constant", encoder_warmup_steps=3)

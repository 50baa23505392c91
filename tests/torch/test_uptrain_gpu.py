"""``benches/uptrain_gpu.py``, the run a GPU window makes blind: its ``--tiny`` mode runs the same
code on the CPU (train zip2zip and the control under a time budget, evaluate, save, reload,
plot), and its time-driven schedule is the recipe's."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")
pytest.importorskip("matplotlib")

BENCH = Path(__file__).parents[2] / "benches" / "uptrain_gpu.py"

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("uptrain_gpu", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["uptrain_gpu"] = module
    spec.loader.exec_module(module)
    return module


def test_the_tiny_run_trains_both_runs_evaluates_and_saves(
    bench: ModuleType, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    results = bench.main(["--tiny", "--out", str(out), "--device", "cpu", "--split-repeats"])
    assert json.loads((out / "uptrain_gpu.json").read_text()) == json.loads(json.dumps(results))
    assert (out / "uptrain_gpu.png").stat().st_size > 10_000
    runs = results["runs"]
    assert set(runs) == {"zip2zip", "control"}
    for name, run in runs.items():
        assert run["steps"] == 4, name  # --tiny's max_steps: the 2-minute budget is not reached
        assert [e["step"] for e in run["history"]] == [1, 2, 4]
        total = run["heldout"]["total"]
        bits = total["bits_per_byte"]
        assert all(math.isfinite(v) and v > 0 for v in bits.values())
        # Every segmentation of a target includes the canonical one.
        assert bits["exact"] <= bits["strict"] + 1e-9
        assert run["greedy_generation"]["ids"] > 0
    zip2zip, control = runs["zip2zip"], runs["control"]
    assert zip2zip["max_codebook_size"] == 2048 and control["max_codebook_size"] == 0
    assert "base" in zip2zip["heldout"]["total"]["bits_per_byte"]
    assert zip2zip["heldout"]["total"]["compression"] > 1.0
    assert control["heldout"]["total"]["compression"] == 1.0
    last = zip2zip["history"][-1]
    for key in ("accuracy_hyper_targets", "hyper_prediction_share", "grad_norm_encoders"):
        assert key in last, key
    assert "grad_norm_token_type_head" not in control["history"][-1]
    checkpoint = Path(zip2zip["saved"])
    assert checkpoint == out / "zip2zip_checkpoint"
    files = {p.name for p in checkpoint.iterdir()}
    assert {"zip2zip_encoders.safetensors", "adapter_model.safetensors"} <= files
    assert zip2zip["reload_generates_same_ids"] is True
    assert Path(control["saved"]) == out / "control_checkpoint"
    assert "reload_generates_same_ids" not in control
    # --split-repeats: both classes at the evaluation window, every view scored.
    rows = results["repeated_spans"]
    assert [(row["window"], row["class"]) for row in rows] == [(64, "repeated"), (64, "new")]
    assert sum(row["share"] for row in rows) == pytest.approx(1.0)
    for row in rows:
        bits = row["bits_per_base_token"]
        assert set(bits) == {"recipe", "recipe, codebook off", "base", "control"}
        assert all(math.isfinite(v) and v > 0 for v in bits.values()), row


def test_split_repeats_needs_both_runs_and_an_adapter(
    bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    for extra in (["--runs", "zip2zip"], ["--lora-r", "0"]):
        with pytest.raises(SystemExit):
            bench.parse(["--tiny", "--out", "x", "--split-repeats", *extra])
        assert "--split-repeats needs both runs" in capsys.readouterr().err


def transformers_factor(step: int, steps: int, warmup: int, min_rate: float) -> float:
    from transformers import get_cosine_with_min_lr_schedule_with_warmup

    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=1.0)
    schedule = get_cosine_with_min_lr_schedule_with_warmup(
        optimizer, warmup, steps, min_lr_rate=min_rate
    )
    return float(schedule.lr_lambdas[0](step))


@pytest.mark.parametrize("step", [0, 3, 10, 11, 40, 77, 99, 100])
def test_the_budget_schedule_is_the_recipes_at_the_same_progress(
    bench: ModuleType, step: int
) -> None:
    got = bench.recipe_factor(step / 100, 0.1, 1 / 30)
    assert got == pytest.approx(transformers_factor(step, 100, 10, 1 / 30), abs=1e-12)


def test_the_budget_stops_at_its_time_or_its_steps(
    bench: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    now = [1000.0]
    monkeypatch.setattr(bench.time, "monotonic", lambda: now[0])
    budget = bench.Budget(seconds=60.0, max_steps=10)
    assert budget.progress(0) == 0.0  # not started: the scheduler's first call
    budget.on_train_begin(None, None, None)

    def stops(step: int) -> bool:
        control = SimpleNamespace(should_training_stop=False)
        budget.on_step_end(None, SimpleNamespace(global_step=step), control)
        return bool(control.should_training_stop)

    now[0] += 15.0
    assert budget.progress(2) == pytest.approx(0.25) and not stops(2)
    assert budget.progress(5) == pytest.approx(0.5) and not stops(5)
    assert stops(10)
    now[0] += 45.0
    assert budget.progress(3) == 1.0 and stops(3)


def test_recipe_factor_warms_up_then_decays_to_the_floor(bench: ModuleType) -> None:
    factors: list[Any] = [bench.recipe_factor(p / 50, 0.1, 1 / 30) for p in range(51)]
    peak = factors.index(max(factors))
    assert factors[0] == 0.0 and peak == 5
    assert factors[peak:] == sorted(factors[peak:], reverse=True)
    assert factors[-1] == pytest.approx(1 / 30)

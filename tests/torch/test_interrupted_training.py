"""``train`` killed at any moment, a full disk, two runs on one output, and reruns (issue 17):
checkpoints and the final model appear whole or not at all, a rerun resumes from the newest intact
checkpoint and ends with the weights of an uninterrupted run, a finished run is not trained
again, and a second run on the same output stops at once.

Runs that are killed run the ``train`` command in a forked child of this process (torch and the
package are imported once), which the test kills with SIGKILL at random moments, or which kills
itself in the middle of a save, after a chosen number of files written, leaving the last one cut
in half.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import random
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

import train_setup  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from test_training_data import corpus, model_dir  # noqa: E402, F401
from transformers import TrainerState  # noqa: E402
from zip2zip_tokenizers.cli import main  # noqa: E402
from zip2zip_tokenizers.torch.training import CheckpointWriteError  # noqa: E402
from zip2zip_tokenizers.torch.training.resume import reached_the_end  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

WEIGHTS = ("zip2zip_encoders.safetensors", "adapter_model.safetensors")
# A child that has not ended by then is stuck: killed, and the test fails.
CHILD_TIMEOUT_S = 120


def command(model: Path, text: Path, out: Path, steps: int) -> list[str]:
    argv = ["train", "--model", str(model), "--data", str(text), "--output", str(out)]
    argv += ["--window", "64", "--batch-size", "2", "--lora-r", "4", "--encoder-layers", "1"]
    argv += ["--max-codebook-size", "64", "--logging-steps", "1", "--save-steps", "1"]
    return [*argv, "--max-steps", str(steps), "--report-to", "none"]


# ------------------------------------------------------------------------- forked children
def watch_writes(on_write: Callable[[str], None]) -> None:
    """Calls ``on_write(path)`` after each file a save writes (torch, safetensors, peft's copy of
    safetensors' writer, the trainer state)."""
    import peft.peft_model
    import safetensors.torch

    def watched(module: Any, name: str) -> None:
        original = getattr(module, name)

        def write(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            path = args[1] if len(args) > 1 else next(iter(kwargs.values()))
            if isinstance(path, (str, os.PathLike)):
                on_write(os.fspath(path))
            return result

        setattr(module, name, write)

    watched(torch, "save")
    watched(safetensors.torch, "save_file")
    watched(peft.peft_model, "safe_save_file")
    watched(TrainerState, "save_to_json")


def die_after_writes(count: int) -> Callable[[str], None]:
    """An ``on_write`` that, at the ``count``-th file, cuts it in half and kills the process."""
    written = [0]

    def on_write(path: str) -> None:
        written[0] += 1
        if written[0] == count:
            os.truncate(path, os.path.getsize(path) // 2)
            os.kill(os.getpid(), signal.SIGKILL)

    return on_write


def fork_train(argv: list[str], log: Path, on_write: Callable[[str], None] | None = None) -> int:
    """Runs the command ``argv`` in a forked child (its output appended to ``log``); its pid."""
    pid = os.fork()
    if pid:
        return pid
    code = 3
    try:  # the child: never returns
        stream = open(log, "a", buffering=1)  # noqa: SIM115
        os.dup2(stream.fileno(), 1)
        os.dup2(stream.fileno(), 2)
        sys.stdout = sys.stderr = stream
        if on_write is not None:
            watch_writes(on_write)
        code = main(argv)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        os._exit(code)


def wait(
    pid: int, kill_after_s: float | None = None, kill_when: Callable[[], bool] | None = None
) -> int:
    """The child's exit code (``-SIGKILL`` when killed), killing it ``kill_after_s`` seconds
    from now, or as soon as ``kill_when()`` is true, when it is still running then."""
    start = time.monotonic()
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        elapsed = time.monotonic() - start
        if (kill_after_s is not None and elapsed >= kill_after_s) or (kill_when and kill_when()):
            os.kill(pid, signal.SIGKILL)
            kill_after_s = kill_when = None
        if elapsed > CHILD_TIMEOUT_S:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError(f"the child {pid} ran more than {CHILD_TIMEOUT_S} s")
        time.sleep(0.005)


def weights(out: Path) -> dict[str, torch.Tensor]:
    return {f"{name}:{k}": v for name in WEIGHTS for k, v in load_file(str(out / name)).items()}


def checkpoints(out: Path) -> list[str]:
    return sorted((p.name for p in out.glob("checkpoint-*")), key=lambda n: int(n.split("-")[1]))


def hidden(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.startswith("."))


def snapshot(out: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(out)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(out.rglob("*"))
    }


# ---------------------------------------------------------------------------- kill anywhere
def test_a_run_killed_at_random_moments_ends_with_the_weights_of_an_uninterrupted_one(
    model_dir: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    steps = 8
    text = corpus(tmp_path)
    rng = random.Random(17)
    logs = iter(tmp_path / f"child-{i}.log" for i in range(100))

    reference = tmp_path / "reference"
    started = time.time()
    log = next(logs)
    assert wait(fork_train(command(model_dir, text, reference, steps), log)) == 0, log.read_text()
    last = reference / f"checkpoint-{steps}"
    files = sorted(p.name for p in last.iterdir())
    # The files each checkpoint save writes through the writers watch_writes follows.
    per_save = 1 + sum(p.suffix in (".safetensors", ".pt", ".pth", ".bin") for p in last.iterdir())
    # How long the start-up and each step with its save take, for the random kill times.
    ended = [
        (reference / f"checkpoint-{i}" / "trainer_state.json").stat().st_mtime
        for i in (steps - 1, steps)
    ]
    step_s = ended[1] - ended[0]
    start_s = ended[1] - started - steps * step_s

    out = tmp_path / "killed"
    argv = command(model_dir, text, out, steps)

    def newest() -> int:
        names = checkpoints(out) if out.is_dir() else []
        return int(names[-1].split("-")[1]) if names else 0

    # Kills by file count land inside a save: early in the first, at the last file of the
    # second (just before its rename), in the middle of the second, inside the final model's.
    plan: list[tuple[str, Callable[[], float]]] = [
        ("writes", lambda: 2),
        ("writes", lambda: 2 * per_save),
        ("writes", lambda: per_save + per_save // 2),
        ("time", lambda: rng.uniform(0, start_s + 2 * step_s)),
        ("time", lambda: rng.uniform(0, start_s + 2 * step_s)),
        ("writes", lambda: (steps - newest()) * per_save + 2),
    ]
    for kind, moment in plan:
        at, log = moment(), next(logs)
        if kind == "writes":
            code = wait(fork_train(argv, log, die_after_writes(int(at))))
        else:
            # A kill by time never comes after the last checkpoint but one (the next kill is
            # inside the final model's save).
            code = wait(fork_train(argv, log), at, lambda: newest() >= steps - 2)
        assert code == -signal.SIGKILL, f"{kind} {at}: {log.read_text()[-3000:]}"
        # Whatever the moment, every checkpoint in the output is whole.
        for name in checkpoints(out):
            assert sorted(p.name for p in (out / name).iterdir()) == files, name
            state = json.loads((out / name / "trainer_state.json").read_text())
            assert state["global_step"] == int(name.split("-")[1])
    assert newest() == steps  # the last kill was in the final model's save

    log = next(logs)
    assert wait(fork_train(argv, log)) == 0, log.read_text()[-3000:]
    assert hidden(out) == []  # what killed saves left is gone, and the lock
    before, log = snapshot(out), next(logs)
    assert wait(fork_train(argv, log)) == 0
    assert "already finished" in log.read_text()
    assert snapshot(out) == before
    # A resume restores the optimiser, scheduler, RNG states and the data order: bit-exact.
    got, expected = weights(out), weights(reference)
    assert got.keys() == expected.keys()
    for key, tensor in expected.items():
        assert torch.equal(got[key], tensor), key


# -------------------------------------------------------------------------- damaged resumes
@pytest.fixture(scope="module")
def two_steps(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:  # noqa: F811
    """An output of the command trained for 2 steps (a checkpoint at each)."""
    directory = tmp_path_factory.mktemp("two_steps")
    text = corpus(directory)
    assert main(command(model_dir, text, directory / "out", 2)) == 0
    yield directory


def _cut(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda c: (c / "trainer_state.json").unlink(), "no trainer_state.json"),
        (lambda c: (c / "zip2zip_encoders.safetensors").unlink(), "no zip2zip_encoders"),
        (lambda c: (c / "adapter_model.safetensors").unlink(), "no adapter_model.safetensors"),
        (lambda c: _cut(c / "adapter_model.safetensors"), "adapter_model.safetensors is unread"),
        (lambda c: _cut(c / "optimizer.pt"), "optimizer.pt is unreadable"),
    ],
    ids=["no-state", "no-encoders", "no-adapter", "adapter-cut", "optimizer-cut"],
)
def test_a_damaged_newest_checkpoint_is_skipped_with_a_warning(
    model_dir: Path,  # noqa: F811
    two_steps: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    damage: Callable[[Path], None],
    reason: str,
) -> None:
    """What an older version killed while saving left (or a checkpoint broken by hand)."""
    out = tmp_path / "out"
    shutil.copytree(two_steps / "out", out)
    third = out / "checkpoint-3"
    shutil.copytree(out / "checkpoint-2", third)
    state = json.loads((third / "trainer_state.json").read_text())
    (third / "trainer_state.json").write_text(json.dumps({**state, "global_step": 3}))
    damage(third)
    with caplog.at_level(logging.WARNING):
        assert main(command(model_dir, two_steps / "corpus.jsonl", out, 3)) == 0
    assert "trained 3 steps" in capsys.readouterr().out
    warning = next(r.getMessage() for r in caplog.records if "skipped" in r.getMessage())
    assert "checkpoint-3 is damaged or incomplete" in warning and reason in warning
    assert warning.endswith("resuming from checkpoint-2")
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    assert [entry["step"] for entry in history if "loss" in entry] == [1, 2, 3]


# ------------------------------------------------------------------------------- full disk
def _fail_writes(
    monkeypatch: pytest.MonkeyPatch, where: Callable[[str], bool], error: BaseException, writer: str
) -> None:
    """Makes ``writer`` write half of the files ``where`` picks, then raise ``error``."""
    import safetensors.torch

    module, name = (torch, "save") if writer == "torch" else (safetensors.torch, "save_file")
    original = getattr(module, name)

    def write(obj: Any, path: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(path, (str, os.PathLike)) and where(os.fspath(path)):
            original(obj, path, *args, **kwargs)
            _cut(Path(path))
            raise error
        return original(obj, path, *args, **kwargs)

    monkeypatch.setattr(module, name, write)


# What torch raises on a full device (its stream writer keeps the errno to itself), and what
# safetensors and Python raise.
FULL_DISK = [
    ("torch", RuntimeError("basic_ios::clear: iostream error"), "optimizer.pt"),
    (
        "torch",
        RuntimeError("[enforce fail at inline_container.cc:671] . unexpected pos 704 vs 598"),
        "training_args.bin",
    ),
    (
        "safetensors",
        OSError(errno.ENOSPC, "No space left on device"),
        "zip2zip_encoders.safetensors",
    ),
]


@pytest.mark.parametrize(("writer", "error", "file"), FULL_DISK, ids=["iostream", "pos", "enospc"])
def test_a_full_disk_during_a_checkpoint_says_so_and_keeps_the_last_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writer: str, error: BaseException, file: str
) -> None:
    def disk_usage(directory: str) -> SimpleNamespace:
        """A full device until what the failed save wrote is removed."""
        full = any(p.name.startswith(".checkpoint-2.") for p in tmp_path.iterdir())
        return SimpleNamespace(free=4096 if full else 1 << 30)

    monkeypatch.setattr(shutil, "disk_usage", disk_usage)
    _fail_writes(monkeypatch, lambda p: "checkpoint-2" in p and p.endswith(file), error, writer)
    tok = train_setup.tokenizer()
    data = train_setup.dataset(tok, documents=8)
    settings = {"max_steps": 3, "save_strategy": "steps", "save_steps": 1}
    run = train_setup.trainer(
        str(tmp_path), tok, train_setup.model(tok, lora_r=4), data, **settings
    )
    with pytest.raises(CheckpointWriteError) as raised:
        run.train()
    message = str(raised.value)
    assert f"could not write checkpoint-2 in {tmp_path}: no space left on device" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-1"]
    state = json.loads((tmp_path / "checkpoint-1" / "trainer_state.json").read_text())
    assert state["global_step"] == 1


def test_a_full_disk_while_saving_the_final_model_leaves_it_to_the_rerun(
    model_dir: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    argv = command(model_dir, corpus(tmp_path), out, 2)
    with monkeypatch.context() as patch:
        enospc = OSError(errno.ENOSPC, "No space left on device")
        _fail_writes(patch, lambda p: "checkpoint-" not in p, enospc, "safetensors")
        assert main(argv) == 2
    error = capsys.readouterr().err
    assert f"error: could not write the final model in {out}: no space left on device" in error
    # The checkpoints, and the run's record (written as training started).
    expected_entries = ["checkpoint-1", "checkpoint-2", "zip2zip_run.json"]
    assert sorted(p.name for p in out.iterdir()) == expected_entries
    # The checkpoint at the end is loaded and saved as the final model; nothing more is trained.
    assert main(argv) == 0
    assert "trained 2 steps" in capsys.readouterr().out
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 2
    assert checkpoints(out) == ["checkpoint-1", "checkpoint-2"]
    expected = load_file(str(out / "checkpoint-2" / WEIGHTS[0]))
    got = load_file(str(out / WEIGHTS[0]))
    assert all(torch.equal(got[key], tensor) for key, tensor in expected.items())


# ----------------------------------------------------------------------------------- reruns
def test_a_second_run_on_the_same_output_stops_at_once_and_names_the_holder(
    model_dir: Path,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    argv = command(model_dir, corpus(tmp_path), out, 2)
    saving = tmp_path / "saving"

    def hold(path: str) -> None:  # the first run stops in its first save, holding the output
        saving.touch()
        time.sleep(CHILD_TIMEOUT_S)

    pid = fork_train(argv, tmp_path / "first.log", hold)
    try:
        deadline = time.monotonic() + CHILD_TIMEOUT_S
        while not saving.exists():
            assert time.monotonic() < deadline and not os.waitpid(pid, os.WNOHANG)[0]
            time.sleep(0.01)
        before = snapshot(out)
        assert main(argv) == 2
        error = capsys.readouterr().err
        assert f"error: {out} is in use by another run (pid {pid} on " in error
        assert snapshot(out) == before
    finally:
        os.kill(pid, signal.SIGKILL)  # the lock dies with it
        os.waitpid(pid, 0)
    assert main(argv) == 0
    assert "trained 2 steps" in capsys.readouterr().out
    assert hidden(out) == []


def test_a_finished_run_is_not_trained_or_written_again(
    model_dir: Path,  # noqa: F811
    two_steps: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    shutil.copytree(two_steps / "out", out)
    before = snapshot(out)
    assert main(command(model_dir, two_steps / "corpus.jsonl", out, 2)) == 0
    said = capsys.readouterr().out
    assert f"already finished: {out} holds the model of this run, trained 2 steps" in said
    assert snapshot(out) == before


@pytest.mark.parametrize("steps", [0, -5])
def test_max_steps_must_be_positive_or_minus_one(
    model_dir: Path,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    steps: int,
) -> None:
    out = tmp_path / "out"
    assert main(command(model_dir, corpus(tmp_path), out, steps)) == 2
    error = capsys.readouterr().err
    assert (
        f"error: max_steps must be >= 1, or -1 to train num_train_epochs epochs; got {steps}"
        in error
    )
    assert not out.exists()


def test_a_resume_counting_epochs_ends_at_the_last_epoch(tmp_path: Path) -> None:
    """``max_steps`` -1: the state of a finished epoch count is at the end; more epochs are not."""
    state = TrainerState(global_step=12, max_steps=12, epoch=1.0 - 1e-9)
    args = train_setup.arguments(str(tmp_path), num_train_epochs=1)
    assert reached_the_end(state, args)
    assert not reached_the_end(state, train_setup.arguments(str(tmp_path), num_train_epochs=2))
    assert not reached_the_end(state, train_setup.arguments(str(tmp_path), max_steps=13))

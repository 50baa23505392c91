"""Every numeric flag of ``preprocess``, ``eval`` and ``train`` has a range, checked right after
parsing: a value out of it is one ``error:`` line naming the flag (exit code 2) before anything
is loaded or read, never a traceback from deep inside a run."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pytest
from zip2zip_tokenizers.cli import build_parser, main
from zip2zip_tokenizers.codec_flags import CODEC_FLAGS
from zip2zip_tokenizers.flag_ranges import RANGES, Range

#: Checked elsewhere: the codec flags by the codec settings (which name their limits),
#: ``--max-steps`` by the run's settings.
CHECKED_ELSEWHERE = {*CODEC_FLAGS, "max_steps"}


def numeric_flags(command: str) -> dict[str, type]:
    parser = build_parser()
    (commands,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {
        action.dest: action.type
        for action in commands.choices[command]._actions
        if action.type in (int, float)
    }


@pytest.mark.parametrize("command", ["preprocess", "eval", "train"])
def test_every_numeric_flag_has_a_range(command: str) -> None:
    flags = numeric_flags(command)
    assert set(flags) - CHECKED_ELSEWHERE == set(RANGES[command])


def out_of_range(allowed: Range, kind: type) -> list[str]:
    """Values just outside ``allowed``, and for a float flag the non-finite ones."""
    values = [allowed.low if allowed.open_low else allowed.low - 1]
    if allowed.below < math.inf:
        values.append(allowed.below + 1 if allowed.closed_high else allowed.below)
    if kind is float:
        values = [*(float(v) for v in values), math.nan, math.inf]
    return [str(value) for value in values]


REQUIRED = {
    "preprocess": ["--tokenizer", "{missing}", "--input", "{missing}", "--output", "{out}"],
    "eval": ["--model", "{missing}", "--data", "{missing}"],
    "train": ["--model", "{missing}", "--data", "{missing}", "--output", "{out}"],
}
CASES = [
    (command, dest, value)
    for command, flags in RANGES.items()
    for dest, allowed in flags.items()
    for value in out_of_range(allowed, numeric_flags(command)[dest])
]


@pytest.mark.parametrize(("command", "dest", "value"), CASES)
def test_a_flag_out_of_its_range_is_named_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, dest: str, value: str
) -> None:
    # A missing model / input: a run that got past the flags would fail naming that instead.
    fill = {"missing": str(tmp_path / "missing"), "out": str(tmp_path / "out")}
    flag = "--" + dest.replace("_", "-")
    argv = [command, *(part.format(**fill) for part in REQUIRED[command]), flag, value]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {flag} must be ") and err.rstrip().endswith(f"got {value}")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("allowed", "inside", "outside"),
    [
        (Range(1), [1, 10**12], [0, -1]),
        (Range(0, 1), [0.0, 0.5], [1.0, -0.1, math.nan, math.inf]),
        (Range(0, 1, closed_high=True), [0.0, 0.5, 1.0], [1.5, -0.1, math.nan, math.inf]),
        (Range(0, open_low=True), [1e-9, 3.0], [0.0, -math.inf, math.nan, math.inf]),
    ],
)
def test_a_range_holds_its_values_only(
    allowed: Range, inside: list[float], outside: list[float]
) -> None:
    assert all(allowed.holds(value) for value in inside)
    assert not any(allowed.holds(value) for value in outside)

"""benches/reproduce_small.py --quick end to end: a tiny BPE and Llama built here, the recipe and
its control uptrained and evaluated; the JSON, the table and the plots must be well-formed."""

from __future__ import annotations

import importlib
import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")
pytest.importorskip("matplotlib")
pytest.importorskip("tokenizers")

BENCHES = Path(__file__).resolve().parents[2] / "benches"


def bench() -> Any:
    if str(BENCHES) not in sys.path:  # the bench imports its sibling module ``uptraining``
        sys.path.insert(0, str(BENCHES))
    return importlib.import_module("reproduce_small")


def finite_numbers(value: Any) -> list[float]:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return []
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, dict):
        return [x for item in value.values() for x in finite_numbers(item)]
    return [x for item in value for x in finite_numbers(item)]


def test_quick_run_writes_json_table_and_plots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZIP2ZIP_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    bench().main(["--quick", "--threads", "1", "--out", str(out), "--work", str(tmp_path / "w")])

    results = json.loads((out / "reproduce_small.json").read_text(encoding="utf-8"))
    assert results["complete"] is True
    assert results["arms"] == ["recipe", "control"]
    assert set(results["reference"]) == {"base", "untrained wrapper"}
    assert set(results["runs"]) == set(results["summary"]) == {"recipe", "control"}
    numbers = finite_numbers(results["reference"]) + finite_numbers(results["summary"])
    numbers += finite_numbers([r["heldout"] for runs in results["runs"].values() for r in runs])
    assert numbers and all(math.isfinite(x) for x in numbers)
    for name, runs in results["runs"].items():
        assert len(runs) == 1 and runs[0]["train"]["steps"] == 3
        heldout = runs[0]["heldout"]
        assert set(heldout["bits_per_byte"]) == {"strict", "first", "exact"}
        # Multi-view scoring can only add probability to the canonical path.
        assert heldout["bits_per_byte"]["exact"] <= heldout["bits_per_byte"]["strict"] + 1e-9
        assert heldout["bits_per_byte"]["first"] <= heldout["bits_per_byte"]["exact"] + 1e-9
        assert runs[0]["train"]["seconds_per_step"] > 0
        assert results["summary"][name]["strict"]["n"] == 1
    assert results["runs"]["control"][0]["heldout"]["input_compression"] == 1.0
    assert results["runs"]["recipe"][0]["heldout"]["input_compression"] > 1.0
    # Same steps, same adapter: the recipe trains the encoders and token-type head on top.
    recipe, control = (results["runs"][n][0]["train"] for n in ("recipe", "control"))
    assert recipe["trainable_parameters"] > control["trainable_parameters"]

    table = (out / "reproduce_small.md").read_text(encoding="utf-8")
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    names = [row.split("|")[1].strip() for row in rows[1:]]
    assert names == ["base", "untrained wrapper", "recipe", "control"]
    assert all(row.count("|") == rows[0].count("|") for row in rows)
    for plot in ("reproduce_small_bpb.png", "reproduce_small_curves.png"):
        assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_token_control_without_the_recipe_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench().parse(["--arms", "control,token-control"])
    assert exit_info.value.code == 2
    assert "token-control needs recipe" in capsys.readouterr().err


def test_unknown_arm_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench().parse(["--arms", "recipe,lora"])
    assert exit_info.value.code == 2
    assert "'lora'" in capsys.readouterr().err

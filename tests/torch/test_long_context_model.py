"""benches/long_context_model.py --quick end to end with a codebook the training windows fill: the
capped and evicting arms train, every window length is scored for both, and the evicting arm's
codebook keeps adapting (other ids than the capped one's once it is full)."""

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
pytest.importorskip("tokenizers")

BENCHES = Path(__file__).resolve().parents[2] / "benches"


def bench() -> Any:
    if str(BENCHES) not in sys.path:  # the bench imports its sibling modules
        sys.path.insert(0, str(BENCHES))
    return importlib.import_module("long_context_model")


def test_quick_run_scores_capped_and_evicting_arms_by_window_length(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZIP2ZIP_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    argv = ["--quick", "--codebook", "8", "--windows", "6,128", "--metrics", "strict"]
    bench().main([*argv, "--out", str(out), "--work", str(tmp_path / "w")])

    results = json.loads((out / "long_context_model.json").read_text(encoding="utf-8"))
    assert results["complete"] is True and results["windows"] == [6, 128]
    assert set(results["runs"]) == {"capped", "lru"}
    by_arm = {arm: runs[0]["heldout"] for arm, runs in results["runs"].items()}
    for rows in [*by_arm.values(), results["reference"]["base"]]:
        assert set(rows) == {"6", "128"}
        assert all(math.isfinite(r["bits_per_byte"]["strict"]) for r in rows.values())
    # Until the codebook fills the two codecs are one (6 base tokens make at most 5 entries);
    # windows of 128 base tokens fill 8 slots and recycle them, so the evicting arm reads other
    # ids there (which compresses more depends on the text and on C: the committed run says).
    lru, capped = by_arm["lru"], by_arm["capped"]
    assert lru["6"]["input_compression"] == capped["6"]["input_compression"]
    assert lru["128"]["input_compression"] != capped["128"]["input_compression"]
    table = (out / "long_context_model.md").read_text(encoding="utf-8")
    assert "| 128 | lru |" in table and "| 128 | capped |" in table


def test_windows_longer_than_the_base_models_positions_are_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        bench().parse(["--quick", "--windows", "64,100000"])
    assert "at most" in capsys.readouterr().err

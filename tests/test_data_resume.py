"""Killed in the middle, a run resumes from its manifest: finished shards are not redone, no
window is written twice, and the final output is byte for byte that of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from data_corpus import deepseek_dir, read_dir_bytes, real_texts, write_jsonl
from zip2zip_tokenizers.data import preprocess, verify

ARGS = ["--window", "64", "--max-codebook-size", "128", "--shard-mb", "0.004", "--no-progress"]


def command(inputs: Path, output: Path) -> list[str]:
    return [
        sys.executable, "-m", "zip2zip_tokenizers.cli", "preprocess",
        "--tokenizer", deepseek_dir(), "--input", str(inputs), "--output", str(output),
        "--workers", "1", *ARGS,
    ]  # fmt: skip


def finished_tasks(output: Path) -> dict[str, dict[str, object]]:
    try:
        tasks: dict[str, dict[str, object]] = json.loads((output / "manifest.json").read_text())[
            "tasks"
        ]
        return tasks
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def test_resume_after_a_kill(tmp_path: Path) -> None:
    inputs = write_jsonl(tmp_path / "corpus.jsonl", real_texts(60, 4000) * 2)
    output = tmp_path / "out"
    process = subprocess.Popen(command(inputs, output), stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(finished_tasks(output)) < 3 and process.poll() is None:
        assert time.monotonic() < deadline, "the run never finished a task"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    manifest = json.loads((output / "manifest.json").read_text())
    assert not manifest["complete"], "the run finished before it could be killed"
    done = manifest["tasks"]
    assert len(done) < len(manifest["planned"])
    before = {
        shard["file"]: os.stat(output / shard["file"]).st_mtime_ns
        for entry in done.values()
        for shard in entry["shards"]
    }

    resumed = subprocess.run(command(inputs, output), capture_output=True, text=True, check=False)
    assert resumed.returncode == 0, resumed.stderr
    after = json.loads((output / "manifest.json").read_text())
    assert after["complete"]
    for name, mtime in before.items():
        assert os.stat(output / name).st_mtime_ns == mtime, f"{name} was written again"
    assert not list(output.glob(".*"))

    reference = tmp_path / "reference"
    preprocess(
        deepseek_dir(), [str(inputs)], reference, window=64, max_codebook_size=128,
        shard_bytes=4000, progress=False,
    )  # fmt: skip
    assert read_dir_bytes(output) == read_dir_bytes(reference)
    checked = verify(output, [str(inputs)])  # also fails on a document with windows twice
    report = json.loads((output / "report.json").read_text())
    assert checked["windows"] == report["totals"]["windows"]
    assert report["totals"]["documents"] == len(real_texts(60, 4000) * 2)

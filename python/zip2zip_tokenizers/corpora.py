"""Offline text for training recipes and evaluation: a fixed train / held-out split of files that
every machine with Python (and, where present, Debian's base system) has.

Domains and their sources:

- ``code``: the Python standard library's top-level modules (``*.py``);
- ``prose``: ``/usr/share/common-licenses`` (falling back to the Python reference manual's topic
  texts in ``pydoc_data`` where that directory does not exist);
- ``structured``: the package records of ``/var/lib/dpkg/status`` (Debian's key-value format),
  cut into documents of 64 records.

The split is by position in sorted order, so it is the same on every machine with the same files:
every ``HELD_OUT_EVERY``-th document of a domain is held out, the others are for training. The two
splits never share a document.
"""

from __future__ import annotations

import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Split = Literal["train", "heldout"]
DOMAINS = ("code", "prose", "structured")
HELD_OUT_EVERY = 8
LICENSES = Path("/usr/share/common-licenses")
DPKG_STATUS = Path("/var/lib/dpkg/status")
RECORDS_PER_DOCUMENT = 64


@dataclass(frozen=True)
class CorpusDocument:
    """One document: its domain, a name unique within the domain, and its text."""

    domain: str
    name: str
    text: str


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def _code() -> Iterator[tuple[str, str]]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(stdlib.glob("*.py")):
        yield path.name, _read(path)


def _prose() -> Iterator[tuple[str, str]]:
    if LICENSES.is_dir():
        for path in sorted(p for p in LICENSES.iterdir() if p.is_file()):
            yield path.name, _read(path)
        return
    from pydoc_data import topics

    for key in sorted(topics.topics):
        yield key, topics.topics[key]


def _structured() -> Iterator[tuple[str, str]]:
    if not DPKG_STATUS.is_file():
        return
    records = [r for r in _read(DPKG_STATUS).split("\n\n") if r.strip()]
    for start in range(0, len(records), RECORDS_PER_DOCUMENT):
        chunk = records[start : start + RECORDS_PER_DOCUMENT]
        yield f"dpkg-status-{start // RECORDS_PER_DOCUMENT:04d}", "\n\n".join(chunk) + "\n"


_SOURCES = {"code": _code, "prose": _prose, "structured": _structured}


def documents(
    split: Split, domains: tuple[str, ...] = DOMAINS, *, max_chars: int | None = None
) -> list[CorpusDocument]:
    """The documents of ``split`` in ``domains`` (each cut to ``max_chars`` when given); empty
    documents are left out."""
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
    unknown = sorted(set(domains) - set(_SOURCES))
    if unknown:
        raise ValueError(f"unknown domains {unknown}; known: {list(DOMAINS)}")
    chosen = []
    for domain in domains:
        for index, (name, text) in enumerate(_SOURCES[domain]()):
            held_out = index % HELD_OUT_EVERY == 0
            if held_out != (split == "heldout") or not text.strip():
                continue
            chosen.append(CorpusDocument(domain, name, text[:max_chars] if max_chars else text))
    return chosen


def write_split(
    split: Split,
    directory: str | Path,
    domains: tuple[str, ...] = DOMAINS,
    *,
    max_chars: int | None = None,
) -> list[Path]:
    """Writes ``split`` as ``directory/<domain>/<name>.txt`` (one document per file, the layout
    ``preprocess`` and ``eval`` read) and returns the paths written."""
    written = []
    for doc in documents(split, domains, max_chars=max_chars):
        path = Path(directory) / doc.domain / f"{doc.name}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(doc.text, encoding="utf-8")
        written.append(path)
    return written

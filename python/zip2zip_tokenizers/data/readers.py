"""Streaming record readers: each yields the records of one task in order, as
``(record, text)`` for usable records and ``(record, BadRecord)`` for unusable ones, so the
caller counts and locates every bad record (``BadRecords``) and never loses one silently.

A record that can not be used (not JSON, invalid Unicode, a missing or non-string field) is a
``BadRecord``; a file that can not be read on (a compressed stream that is corrupt or cut short,
an unreadable Parquet row group) raises ``InputError`` naming the file and where it stopped
(docs/data-format.md, "Bad records and bad inputs")."""

from __future__ import annotations

import io
import json
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, TypeVar, cast

from zip2zip_tokenizers.data.errors import BadRecordError, InputError
from zip2zip_tokenizers.data.formats import Task, is_text_type

T = TypeVar("T")

#: Compressed bytes read at a time (bounds what one read decompresses).
_COMPRESSED_CHUNK = 1 << 16
#: A UTF-16 surrogate on its own: JSON's ``"\ud800"`` escape can make one; UTF-8 can not hold it.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


@dataclass(frozen=True)
class BadRecord:
    """Why a record was refused, and where it is (``path:line`` or ``path:row``)."""

    location: str
    reason: str


Record = tuple[int, "str | BadRecord"]

#: Bad-record locations kept per tally (all are counted).
MAX_LOCATIONS = 20


@dataclass
class BadRecords:
    """A tally of bad records: every one counted, the first ``MAX_LOCATIONS`` kept as
    ``location: reason``; under ``strict`` the first one raises ``BadRecordError`` instead.
    ``preprocess`` keeps one per task (its report lists them), ``train`` one per dataset."""

    strict: bool = False
    count: int = 0
    locations: list[str] = field(default_factory=list)

    def add(self, bad: BadRecord) -> None:
        if self.strict:
            raise BadRecordError(bad.location, bad.reason)
        self.count += 1
        if len(self.locations) < MAX_LOCATIONS:
            self.locations.append(f"{bad.location}: {bad.reason}")

    def good(self, records: Iterable[tuple[int, T | BadRecord]]) -> Iterator[T]:
        """The usable values of ``records``; the bad ones are added here."""
        for _, value in records:
            if isinstance(value, BadRecord):
                self.add(value)
            else:
                yield value

    def counted(self) -> str:
        """``"N bad records"``."""
        return f"{self.count:,} bad record{'' if self.count == 1 else 's'}"

    def summary(self) -> str:
        """The count and the kept locations, one a line."""
        shown = f"the first {len(self.locations)}" if self.count > len(self.locations) else "all"
        heading = f"{self.counted()} skipped ({shown} below; --strict stops at the first):"
        return "\n".join([heading, *(f"  {location}" for location in self.locations)])


def read_task(task: Task, text_field: str) -> Iterator[Record]:
    """The records of ``task``. ``record`` is the 0-based line number for line-based files (so a
    location is ``path:record+1``), the row index for Parquet, 0 for a ``.txt`` file (one
    document per file). ``InputError`` when the file stops being readable."""

    def text_of(value: dict[str, Any], location: str) -> str | BadRecord:
        if text_field not in value:
            return BadRecord(location, f"missing field {text_field!r}")
        return check_text(value[text_field], text_field, location)

    try:
        if task.format == "txt":
            yield from _read_txt(task.path)
        elif task.format == "parquet":
            yield from _read_parquet(task, text_field)
        else:
            yield from _read_jsonl(task, text_of)
    except OSError as error:  # a file removed, unreadable, a directory...
        raise InputError(f"{task.path}: can not be read ({error})") from error


def read_json_objects(
    task: Task, convert: Callable[[dict[str, Any], str], T | BadRecord]
) -> Iterator[tuple[int, T | BadRecord]]:
    """The records of a JSONL task (any compression) as ``read_task`` gives them, except that
    each JSON object goes through ``convert(object, location)`` (``location`` is
    ``path:line``) instead of having its text field taken."""
    try:
        yield from _read_jsonl(task, convert)
    except OSError as error:
        raise InputError(f"{task.path}: can not be read ({error})") from error


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


class _ZstdStream(io.RawIOBase):
    """A ``.zst`` file's decompressed bytes, across concatenated frames. zstandard's own stream
    reader ends cleanly in the middle of a frame (a file cut short reads as a shorter or empty
    file); this one raises ``EOFError`` there."""

    def __init__(self, file: IO[bytes]) -> None:
        import zstandard

        self._file = file
        self._decompressor = zstandard.ZstdDecompressor()
        self._frame: Any = None  # the frame being decoded; None between frames
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = self._file.read(_COMPRESSED_CHUNK)
            if not chunk:
                if self._frame is not None:
                    raise EOFError("the file ends inside a zstd frame (cut short?)")
                return 0
            self._pending = memoryview(self._decode(chunk))
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def _decode(self, chunk: bytes) -> bytes:
        out = []
        while chunk:
            if self._frame is None:
                self._frame = self._decompressor.decompressobj()
            out.append(self._frame.decompress(chunk))
            chunk = b""
            if self._frame.eof:
                chunk, self._frame = self._frame.unused_data, None
        return b"".join(out)

    def close(self) -> None:
        self._file.close()
        super().close()


def _decompression_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [EOFError, OSError, zlib.error]
    try:
        import zstandard
    except ImportError:  # pragma: no cover (a .zst input needs it anyway)
        return tuple(errors)
    return (*errors, zstandard.ZstdError)


def _open_lines(task: Task, raw: IO[bytes]) -> IO[bytes]:
    """The task's bytes (decompressed), positioned at its start; ``raw`` is the file on disk."""
    if task.format == "jsonl.gz":
        import gzip

        return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb"))
    if task.format == "jsonl.zst":
        return io.BufferedReader(_ZstdStream(raw), buffer_size=1 << 20)
    raw.seek(task.start)
    return raw


def _read_jsonl(
    task: Task, convert: Callable[[dict[str, Any], str], T | BadRecord]
) -> Iterator[tuple[int, T | BadRecord]]:
    path = task.path
    remaining = task.end - task.start if task.end >= 0 else -1
    line = task.first_record - 1
    with open(path, "rb") as raw, _open_lines(task, raw) as file:
        lines = iter(file)
        while True:
            try:
                data = next(lines)
            except StopIteration:
                return
            except _decompression_errors() as error:
                raise InputError(
                    f"{path}: {task.format} data broken after line {line + 1} (near "
                    f"compressed byte {raw.tell()}): {error}"
                ) from error
            line += 1
            if remaining >= 0:
                if remaining <= 0:
                    return
                remaining -= len(data)
            if not data.strip():
                continue
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as error:
                yield line, _bad_utf8(path, data, error, line)
                continue
            location = f"{path}:{line + 1}"
            value = _parse_object(text, location)
            yield line, value if isinstance(value, BadRecord) else convert(value, location)


def _parse_object(text: str, location: str) -> dict[str, Any] | BadRecord:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        return BadRecord(location, f"not JSON ({error.msg} at column {error.colno})")
    except (ValueError, RecursionError) as error:  # a 5000-digit integer, nesting too deep
        return BadRecord(location, f"not usable JSON ({error})")
    if not isinstance(value, dict):
        return BadRecord(location, f"not a JSON object (got {type(value).__name__})")
    return value


def check_text(value: object, text_field: str, location: str) -> str | BadRecord:
    """``value`` when it is a string of valid Unicode, else a ``BadRecord`` naming the field."""
    if not isinstance(value, str):
        return BadRecord(location, f"field {text_field!r} is not a string")
    if not value.isascii() and (surrogate := _SURROGATE.search(value)):
        return BadRecord(
            location,
            f"field {text_field!r} is not valid Unicode (lone surrogate "
            f"\\u{ord(surrogate.group()):04x} at character {surrogate.start()})",
        )
    return value


def _read_parquet(task: Task, text_field: str) -> Iterator[Record]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    row = task.first_record
    try:
        file = pq.ParquetFile(task.path)
    except (pa.ArrowException, OSError) as error:
        raise InputError(f"{task.path}: not a readable Parquet file ({error})") from error
    for group in range(task.start, task.end):
        batches = file.iter_batches(batch_size=4096, row_groups=[group], columns=[text_field])
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                break
            except (pa.ArrowException, OSError) as error:
                raise InputError(
                    f"{task.path}: row group {group} can not be read at row {row} ({error})"
                ) from error
            values, strings = _text_values(batch.column(0))
            for value in values:
                location = f"{task.path}:row {row}"
                if value is None:
                    yield row, BadRecord(location, f"field {text_field!r} is null")
                elif not strings:
                    yield (
                        row,
                        BadRecord(
                            location,
                            f"field {text_field!r} is not a string ({batch.column(0).type})",
                        ),
                    )
                else:
                    yield row, check_text(value, text_field, location)
                row += 1


def _text_values(column: Any) -> tuple[list[Any], bool]:
    """The column's values, and whether they are strings (a dictionary-encoded string column,
    such as a pandas categorical, is one)."""
    import pyarrow as pa

    strings = is_text_type(column.type)
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    values: list[Any] = column.to_pylist()
    return values, strings

"""One task, start to finish: read its records, window them in native code, write its shards.
Every engine (in process, worker processes, Ray actors) runs exactly this, so they all write
the same bytes."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from zip2zip_tokenizers.data.errors import BadRecordError
from zip2zip_tokenizers.data.formats import Task
from zip2zip_tokenizers.data.readers import BadRecord, read_task
from zip2zip_tokenizers.data.shards import build_table, shard_stats, write_shard
from zip2zip_tokenizers.data.windowing import Hypertokenizer, WindowColumns

#: Bad-record locations kept per task (all are counted).
MAX_LOCATIONS = 20


@dataclass(frozen=True)
class TaskSettings:
    """What a task needs besides its own range, shared by every task of a run."""

    output: str
    text_field: str = "text"
    shard_bytes: int = 16_000_000
    batch_bytes: int = 1 << 20
    strict: bool = False


def shard_name(task: Task, chunk: int) -> str:
    return f"shard-{task.task_id}-{chunk:05d}.parquet"


class _Chunk:
    """The records of one shard being built: windowed a batch at a time, so only the compact
    id arrays (never the token lists of a whole shard) are held."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.parts: list[WindowColumns] = []
        self.shifts: list[int] = []
        self.records: list[int] = []
        self.texts: list[str] = []
        self.batch_bytes = 0
        self.bytes = 0
        self.base_tokens = 0

    def add(self, record: int, text: str, size: int) -> None:
        self.records.append(record)
        self.texts.append(text)
        self.batch_bytes += size
        self.bytes += size

    def take_batch(self) -> tuple[list[str], int]:
        """The texts not windowed yet, and the index of the first of them in the chunk."""
        texts, self.texts, self.batch_bytes = self.texts, [], 0
        return texts, len(self.records) - len(texts)


class _Windower:
    """Tokenizes one batch on a helper thread (the tokenizer's Rust code releases the GIL)
    while this thread reads the next batch and windows the previous one, so the tokenizer —
    nearly all of the work — never waits on Python."""

    def __init__(self, hypertokenizer: Hypertokenizer) -> None:
        self.hypertokenizer = hypertokenizer
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zip2zip-tokenize")
        self.pending: tuple[Future[list[list[int]]], _Chunk, int] | None = None

    def submit(self, chunk: _Chunk) -> None:
        texts, shift = chunk.take_batch()
        if not texts:
            return
        future = self.thread.submit(self.hypertokenizer.base_ids, texts)
        previous, self.pending = self.pending, (future, chunk, shift)
        if previous is not None:
            self._finish(*previous)

    def drain(self) -> None:
        if self.pending is not None:
            previous, self.pending = self.pending, None
            self._finish(*previous)

    def _finish(self, future: Future[list[list[int]]], chunk: _Chunk, shift: int) -> None:
        columns, base_tokens = self.hypertokenizer.windows_of_ids(future.result())
        chunk.parts.append(columns)
        chunk.shifts.append(shift)
        chunk.base_tokens += base_tokens

    def close(self) -> None:
        self.thread.shutdown(wait=True)


def run_task(task: Task, hypertokenizer: Hypertokenizer, settings: TaskSettings) -> dict[str, Any]:
    """Runs ``task`` and returns its manifest entry. A shard already on disk (a previous run
    that stopped inside this task) is not rebuilt: its records are read again only to find
    where the next shard starts."""
    started = time.perf_counter()
    shards: list[dict[str, Any]] = []
    bad = 0
    locations: list[str] = []
    chunk = _Chunk(0)
    windower = _Windower(hypertokenizer)
    # Shards are assembled and written on a third thread (Arrow and Parquet release the GIL)
    # while the next one is read and tokenized; at most one write is in flight.
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zip2zip-shard-writer")
    writing: Future[None] | None = None

    def write(columns: WindowColumns, records: np.ndarray[Any, Any], entry: dict[str, Any]) -> None:
        table = build_table(columns, [task.path] * len(records), records)
        entry.update(write_shard(table, os.path.join(settings.output, entry["file"])))

    def shard_done(index: int) -> bool:
        """Whether an interrupted run left this shard: its records need no windowing."""
        return os.path.exists(os.path.join(settings.output, shard_name(task, index)))

    def batch() -> None:
        if shard_done(chunk.index):
            chunk.take_batch()
        else:
            windower.submit(chunk)

    def flush() -> None:
        nonlocal chunk, writing
        done = shard_done(chunk.index)
        batch()
        windower.drain()
        entry: dict[str, Any] = {
            "file": shard_name(task, chunk.index),
            "documents": len(chunk.records),
            "bytes": chunk.bytes,
        }
        shards.append(entry)
        if writing is not None:
            writing.result()
        if done:
            entry.update(shard_stats(os.path.join(settings.output, entry["file"])))
            writing = None
        else:
            columns = WindowColumns.concat(chunk.parts, chunk.shifts)
            records = np.asarray(chunk.records, dtype=np.int64)
            writing = writer.submit(write, columns, records, entry)
        chunk = _Chunk(len(shards))

    try:
        bad, locations = _read_into(task, settings, batch, flush, lambda: chunk)
        if chunk.records:
            flush()
        if writing is not None:
            writing.result()
    finally:
        windower.close()
        writer.shutdown(wait=True)
    return {
        "task": task.to_dict(),
        "shards": shards,
        "bad_records": bad,
        "bad_locations": locations,
        "seconds": time.perf_counter() - started,
    }


def _read_into(
    task: Task,
    settings: TaskSettings,
    batch: Callable[[], None],
    flush: Callable[[], None],
    current: Callable[[], _Chunk],
) -> tuple[int, list[str]]:
    """Feeds the task's records into the current chunk, handing on a batch at a time and
    flushing full shards; returns the bad-record count and the first locations."""
    bad = 0
    locations: list[str] = []
    for record, value in read_task(task, settings.text_field):
        if isinstance(value, BadRecord):
            if settings.strict:
                raise BadRecordError(value.location, value.reason)
            bad += 1
            if len(locations) < MAX_LOCATIONS:
                locations.append(f"{value.location}: {value.reason}")
            continue
        chunk = current()
        chunk.add(record, value, len(value.encode("utf-8")))
        if chunk.bytes >= settings.shard_bytes:
            flush()
        elif chunk.batch_bytes >= settings.batch_bytes:
            batch()
    return bad, locations

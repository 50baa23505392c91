"""One task, start to finish. Every engine (in process, worker processes, Ray actors) runs
exactly this, so they all write the same bytes. The work is four stages, each on its own thread,
joined by bounded pipes (``pipe.py``)::

    ReadStage ─Batch/ShardEnd─▶ TokenizeStage ─Batch/ShardEnd─▶ WindowStage ─Shard─▶ WriteStage

- ``ReadStage``: the task's records in order; counts bad records (or raises under ``strict``);
  cuts good ones into batches of about ``batch_bytes`` of text, and marks the end of each shard
  (about ``shard_bytes``) with a ``ShardEnd``. A shard that a stopped run already wrote is
  *kept*: its records are read only to find where the next shard starts, and never sent on.
- ``TokenizeStage``: each batch's windows in one native call (``TextTokenizer`` + the codec,
  GIL released) when the tokenizer is supported exactly, else its base ids (the Hugging Face
  tokenizer's Rust code): nearly all of the work, so it must never wait on Python.
- ``WindowStage``: each batch's lossless windows when not made yet (native code); at a
  ``ShardEnd``, the shard's windows joined into one ``Shard``.
- ``WriteStage``: each shard as a Parquet file (Arrow releases the GIL); the manifest entry of
  each shard.

Pipe capacities keep at most three batches and two shards (one being written, one waiting) in
memory, whatever the input size.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from zip2zip_tokenizers.data.errors import ResumeError
from zip2zip_tokenizers.data.formats import Task
from zip2zip_tokenizers.data.output_dir import new_run_id
from zip2zip_tokenizers.data.pipe import Pipe, run_stages
from zip2zip_tokenizers.data.readers import BadRecord, BadRecords, read_task
from zip2zip_tokenizers.data.shards import build_table, shard_stats, write_shard
from zip2zip_tokenizers.data.windowing import Hypertokenizer, WindowColumns

# Text per shard and per task (about 16 MB of UTF-8).
DEFAULT_SHARD_BYTES = 16_000_000


def settings_digest(settings: dict[str, Any]) -> str:
    """A digest of a run's settings, part of every shard's origin."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TaskSettings:
    """What a task needs besides its own range, shared by every task of a run: where to write,
    how to cut, the run id that marks its temporary files, and the digest of the run's settings
    that marks its shards."""

    output: str
    text_field: str = "text"
    shard_bytes: int = DEFAULT_SHARD_BYTES
    batch_bytes: int = 1 << 20
    strict: bool = False
    run: str = field(default_factory=new_run_id)
    settings_digest: str = ""

    def shard_path(self, task: Task, chunk: int) -> str:
        return os.path.join(self.output, shard_name(task, chunk))

    def origin(self, task: Task, chunk: int) -> str:
        """What the footer of the task's shard ``chunk`` says about where it comes from."""
        mark = {"settings": self.settings_digest, "task": task.to_dict(), "chunk": chunk}
        return json.dumps(mark, sort_keys=True)


def shard_name(task: Task, chunk: int) -> str:
    return f"shard-{task.task_id}-{chunk:05d}.parquet"


@dataclass
class Batch:
    """Texts of one shard on their way: ``records`` and ``texts`` from the reader; from the
    tokenizer, which drops the texts, either ``columns`` (the windows, when the native text
    encoder does both in one call) or ``ids`` (base ids of each text, windowed next)."""

    shard: int
    records: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    ids: list[list[int]] = field(default_factory=list)
    columns: WindowColumns | None = None
    text_bytes: int = 0


@dataclass(frozen=True)
class ShardEnd:
    """Shard ``index`` has no more batches: ``documents`` and ``text_bytes`` in all; ``kept``
    when a previous run's file of it is kept (no batch of it was sent)."""

    index: int
    documents: int
    text_bytes: int
    kept: bool


@dataclass
class Shard:
    """A shard's windows, ready to write (``columns`` is ``None`` for a kept shard)."""

    end: ShardEnd
    columns: WindowColumns | None
    records: npt.NDArray[np.int64]


class ReadStage:
    """Records of ``task`` → ``Batch``es and ``ShardEnd``s into ``out``."""

    def __init__(self, task: Task, settings: TaskSettings, out: Pipe[Batch | ShardEnd]) -> None:
        self.task, self.settings, self.out = task, settings, out
        self.bad = BadRecords(settings.strict)

    def _kept(self, shard: int) -> bool:
        """Whether a stopped run left this shard (the driver checked its origin)."""
        return os.path.exists(self.settings.shard_path(self.task, shard))

    def __call__(self) -> None:
        settings = self.settings
        shard, kept = 0, self._kept(0)
        batch = Batch(shard)
        documents = text_bytes = 0
        for record, value in read_task(self.task, settings.text_field):
            if isinstance(value, BadRecord):
                self.bad.add(value)
                continue
            size = len(value.encode("utf-8"))
            documents += 1
            text_bytes += size
            if not kept:
                batch.records.append(record)
                batch.texts.append(value)
                batch.text_bytes += size
            if text_bytes >= settings.shard_bytes:
                self._send(batch)
                self.out.put(ShardEnd(shard, documents, text_bytes, kept))
                shard += 1
                kept, batch, documents, text_bytes = self._kept(shard), Batch(shard), 0, 0
            elif batch.text_bytes >= settings.batch_bytes:
                self._send(batch)
                batch = Batch(shard)
        if documents:
            self._send(batch)
            self.out.put(ShardEnd(shard, documents, text_bytes, kept))
        self.out.close()

    def _send(self, batch: Batch) -> None:
        if batch.texts:
            self.out.put(batch)


class TokenizeStage:
    """``Batch``es of texts → the same batches with base ids instead (``ShardEnd``s pass)."""

    def __init__(
        self,
        hypertokenizer: Hypertokenizer,
        inbox: Pipe[Batch | ShardEnd],
        out: Pipe[Batch | ShardEnd],
    ) -> None:
        self.hypertokenizer, self.inbox, self.out = hypertokenizer, inbox, out

    def __call__(self) -> None:
        for item in self.inbox:
            if isinstance(item, Batch):
                if self.hypertokenizer.native is not None:
                    item.columns, _ = self.hypertokenizer.windows(item.texts)
                else:
                    item.ids = self.hypertokenizer.base_ids(item.texts)
                item.texts = []
            self.out.put(item)
        self.out.close()


class WindowStage:
    """Tokenized ``Batch``es → one ``Shard`` of windows per ``ShardEnd``."""

    def __init__(
        self, hypertokenizer: Hypertokenizer, inbox: Pipe[Batch | ShardEnd], out: Pipe[Shard]
    ) -> None:
        self.hypertokenizer, self.inbox, self.out = hypertokenizer, inbox, out

    def __call__(self) -> None:
        parts: list[WindowColumns] = []
        shifts: list[int] = []  # index of each part's first document in the shard
        records: list[int] = []
        for item in self.inbox:
            if isinstance(item, Batch):
                columns = item.columns
                if columns is None:
                    columns, _ = self.hypertokenizer.windows_of_ids(item.ids)
                parts.append(columns)
                shifts.append(len(records))
                records.extend(item.records)
                continue
            joined = None if item.kept else WindowColumns.concat(parts, shifts)
            self.out.put(Shard(item, joined, np.asarray(records, dtype=np.int64)))
            parts, shifts, records = [], [], []
        self.out.close()


class WriteStage:
    """``Shard``s → shard files, and the manifest entry of each in ``entries``."""

    def __init__(self, task: Task, settings: TaskSettings, inbox: Pipe[Shard]) -> None:
        self.task, self.settings, self.inbox = task, settings, inbox
        self.entries: list[dict[str, Any]] = []

    def __call__(self) -> None:
        for shard in self.inbox:
            index = shard.end.index
            path = self.settings.shard_path(self.task, index)
            entry: dict[str, Any] = {
                "file": os.path.basename(path),
                "documents": shard.end.documents,
                "bytes": shard.end.text_bytes,
            }
            if shard.columns is None:
                try:
                    entry.update(shard_stats(path))
                except ValueError as error:
                    raise ResumeError(f"{path}: {error}") from error
            else:
                table = build_table(
                    shard.columns, [self.task.path] * len(shard.records), shard.records
                )
                origin = self.settings.origin(self.task, index)
                entry.update(write_shard(table, path, origin=origin, run=self.settings.run))
            self.entries.append(entry)


def run_task(task: Task, hypertokenizer: Hypertokenizer, settings: TaskSettings) -> dict[str, Any]:
    """Runs ``task`` through the four stages and returns its manifest entry."""
    started = time.perf_counter()
    # Two slots before the tokenizer (the batch it works on and the next, ready when it comes
    # back); one after it: windowing is faster than tokenizing, and each slot there holds a
    # batch's windows (int32 arrays, about 1 MB per MB of text, from the native text encoder) or,
    # on the Hugging Face path, its ids as Python lists (about 9 MB per MB of text). One shard
    # waits while the previous one is written.
    texts: Pipe[Batch | ShardEnd] = Pipe(2)
    tokenized: Pipe[Batch | ShardEnd] = Pipe(1)
    shards: Pipe[Shard] = Pipe(1)
    read = ReadStage(task, settings, texts)
    write = WriteStage(task, settings, shards)
    run_stages(
        [
            read,
            TokenizeStage(hypertokenizer, texts, tokenized),
            WindowStage(hypertokenizer, tokenized, shards),
            write,
        ],
        [texts, tokenized, shards],
    )
    return {
        "task": task.to_dict(),
        "shards": write.entries,
        "bad_records": read.bad.count,
        "bad_locations": read.bad.locations,
        "seconds": time.perf_counter() - started,
    }

"""Parquet shards of training windows: the schema, building a table from window columns, and
deterministic atomic writes (same rows ⇒ same bytes, whichever engine wrote them).

Columns, one row per window:

- ``input_ids`` (list<int32>): the window's hypertoken ids. The window's codebook is not
  stored: LZW decoding of these ids rebuilds it exactly (``LZWCompressor.decode_with_codebook``),
  and with it the base ids.
- ``loss_mask`` (list<int8>): 1 where the position counts in the loss (every position of plain
  text; kept so that masked data, such as chat prompts, travel in the same format).
- ``num_base_tokens`` (int32): base tokens the window covers.
- ``base_start`` (int64): offset of the window's first base token in its document.
- ``window_index`` (int32): the window's rank within its document (0, 1, ...).
- ``source_file`` (string): the input file; ``source_record`` (int64): the record's 0-based
  line number (line-based files), row index (Parquet) or 0 (``.txt``, one document per file).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from zip2zip_tokenizers.data.windowing import WindowColumns

if TYPE_CHECKING:
    import pyarrow as pa

COLUMNS = (
    "input_ids",
    "loss_mask",
    "num_base_tokens",
    "base_start",
    "window_index",
    "source_file",
    "source_record",
)
METADATA_KEY = b"zip2zip"
#: Footer key of the shard's origin: a digest of the run settings and task that wrote it, and
#: its place in the task (see output_dir.py); absent from shards written by ``write_shard``
#: outside a run.
ORIGIN_KEY = b"zip2zip.origin"
ROW_GROUP_SIZE = 1024
# Fixed writer settings: part of the promise that equal rows give equal bytes.
WRITE_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": ["source_file"],
    "write_statistics": False,
    "row_group_size": ROW_GROUP_SIZE,
}


def schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("input_ids", pa.list_(pa.int32())),
            ("loss_mask", pa.list_(pa.int8())),
            ("num_base_tokens", pa.int32()),
            ("base_start", pa.int64()),
            ("window_index", pa.int32()),
            ("source_file", pa.string()),
            ("source_record", pa.int64()),
        ]
    )


def window_indices(documents: npt.NDArray[np.int64]) -> npt.NDArray[np.int32]:
    """Rank of each window within its document (windows of a document are consecutive)."""
    if len(documents) == 0:
        return np.zeros(0, np.int32)
    starts = np.flatnonzero(np.r_[True, documents[1:] != documents[:-1]])
    first = np.repeat(starts, np.diff(np.r_[starts, len(documents)]))
    return (np.arange(len(documents)) - first).astype(np.int32)


def build_table(
    columns: WindowColumns, source_files: Sequence[str], source_records: npt.NDArray[np.int64]
) -> pa.Table:
    """The shard table of ``columns``; document ``i`` came from ``source_files[i]``, record
    ``source_records[i]``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    offsets = pa.array(columns.offsets.astype(np.int32))
    ids = pa.ListArray.from_arrays(offsets, pa.array(columns.ids, pa.int32()))
    mask = pa.ListArray.from_arrays(offsets, pa.array(np.ones(len(columns.ids), np.int8)))
    names, index = np.unique(np.asarray(source_files, dtype=object), return_inverse=True)
    files = pc.take(pa.array(names.tolist(), pa.string()), pa.array(index[columns.documents]))
    return pa.Table.from_arrays(
        [
            ids,
            mask,
            pa.array(columns.base_lengths.astype(np.int32)),
            pa.array(columns.base_starts),
            pa.array(window_indices(columns.documents)),
            files,
            pa.array(np.asarray(source_records, dtype=np.int64)[columns.documents]),
        ],
        schema=schema(),
    )


def table_stats(table: pa.Table) -> dict[str, int]:
    """Rows (windows), hypertokens and base tokens of a shard table."""
    import pyarrow.compute as pc

    base = pc.sum(table.column("num_base_tokens")).as_py() or 0
    return {
        "windows": table.num_rows,
        "hypertokens": int(pc.sum(pc.list_value_length(table.column("input_ids"))).as_py() or 0),
        "base_tokens": int(base),
    }


def write_shard(
    table: pa.Table,
    path: str | os.PathLike[str],
    *,
    origin: str | None = None,
    run: str | None = None,
) -> dict[str, int]:
    """Writes ``table`` to ``path`` through a temporary name (marked with the run id ``run``,
    a fresh one if ``None``) and an atomic rename, with fixed settings (equal rows and origin
    give equal bytes). Returns the table's stats, also stored in the file's metadata, with
    ``origin`` when given."""
    import pyarrow.parquet as pq

    from zip2zip_tokenizers.data.output_dir import new_run_id, temporary_path

    table = table.cast(schema()).combine_chunks()
    stats = table_stats(table)
    metadata = {METADATA_KEY: json.dumps(stats, sort_keys=True).encode("utf-8")}
    if origin is not None:
        metadata[ORIGIN_KEY] = origin.encode("utf-8")
    table = table.replace_schema_metadata(metadata)
    path = os.fspath(path)
    temporary = temporary_path(path, run or new_run_id())
    try:
        pq.write_table(table, temporary, **WRITE_OPTIONS)
        with open(temporary, "rb") as file:
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return stats


def _footer(path: str | os.PathLike[str]) -> dict[bytes, bytes]:
    """The shard's key-value metadata; ``ValueError`` naming what is wrong when the file is not
    a readable Parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return dict(pq.read_schema(path).metadata or {})
    except (pa.ArrowException, OSError) as error:
        raise ValueError(f"not a readable Parquet file: {error}") from error


def shard_stats(path: str | os.PathLike[str]) -> dict[str, int]:
    """The stats stored in a shard's metadata (read from its footer only); ``ValueError`` when
    they are missing or malformed."""
    raw = _footer(path).get(METADATA_KEY)
    if raw is None:
        raise ValueError("no zip2zip counts in its footer (not a shard)")
    try:
        stats = json.loads(raw)
    except ValueError as error:
        raise ValueError(f"unreadable zip2zip counts in its footer ({error})") from error
    keys = ("windows", "hypertokens", "base_tokens")
    if not isinstance(stats, dict) or sorted(stats) != sorted(keys):
        raise ValueError(f"its footer counts {stats!r} are not {keys}")
    if not all(type(stats[key]) is int and stats[key] >= 0 for key in keys):
        raise ValueError(f"its footer counts {stats!r} are not counts")
    return {key: stats[key] for key in keys}


def shard_origin(path: str | os.PathLike[str]) -> str | None:
    """The origin stored in a shard's footer (``None`` when it has none); ``ValueError`` when
    the file is not a readable Parquet file."""
    raw = _footer(path).get(ORIGIN_KEY)
    return None if raw is None else raw.decode("utf-8", errors="replace")

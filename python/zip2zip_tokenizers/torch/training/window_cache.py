"""The windows of a ``preprocess`` output as flat memory-mapped columns, so that training on a
corpus larger than memory works, and every rank of a multi-process run shares one copy in the
page cache instead of holding its own.

The first use streams the shards (one row group at a time) into four raw files under
``$ZIP2ZIP_CACHE/windows/<key>/`` (default ``~/.cache/zip2zip-tokenizers``): ``ids.bin``
(int32), ``loss_mask.bin`` (int8), ``offsets.bin`` and ``num_base_tokens.bin`` (int64). The key
hashes the manifest and every shard's path, size and modification time, so a re-run of
``preprocess`` gets a cache of its own. The directory is built under a temporary name and renamed
into place, so a run killed while building leaves no half-written cache behind, and processes
that build it at the same time each finish with a whole one.

The cache does not trust its bytes: the ``complete`` marker records each file's size and CRC-32,
and every open checks them. That reads the whole cache once per process (it is then in the page
cache, where training reads it anyway): 2.1 s for a 1 GB cache on a shared, loaded 2-core
machine (blake2b was 4 times slower there). A file that differs (cut, zeroed, a byte changed,
missing) is named in a warning and the cache rebuilt from the shards; ``WindowCacheError`` names
it when the rebuild fails. An unreadable shard is a ``VerifyError`` naming the shard.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
import zlib
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from zip2zip_tokenizers.data.errors import VerifyError
from zip2zip_tokenizers.torch.bundled import cache_dir
from zip2zip_tokenizers.torch.training.errors import WindowCacheError

logger = logging.getLogger(__name__)

COLUMNS = {
    "ids": np.int32,
    "loss_mask": np.int8,
    "offsets": np.int64,
    "num_base_tokens": np.int64,
}
#: Written last, with every file's size and CRC-32: a cache without it was never finished.
MARKER = "complete"
#: Bytes checksummed at a time.
_CHUNK = 1 << 24


@dataclass(frozen=True)
class WindowColumns:
    """Window ``i`` is ``ids[offsets[i]:offsets[i + 1]]`` with its ``loss_mask``, covering
    ``num_base_tokens[i]`` base tokens."""

    ids: npt.NDArray[np.int32]
    loss_mask: npt.NDArray[np.int8]
    offsets: npt.NDArray[np.int64]
    num_base_tokens: npt.NDArray[np.int64]
    directory: Path


def cache_root() -> Path:
    return cache_dir() / "windows"


def cache_key(manifest_path: str, shards: list[str]) -> str:
    digest = hashlib.sha256(Path(manifest_path).read_bytes())
    for shard in shards:
        stat = os.stat(shard)
        digest.update(json.dumps([os.path.abspath(shard), stat.st_size, stat.st_mtime_ns]).encode())
    return digest.hexdigest()[:32]


def window_columns(manifest_path: str, shards: list[str]) -> WindowColumns:
    """The shards' windows, memory-mapped from the cache: built first if missing, rebuilt with
    a warning naming the damaged file if a file differs from what was recorded when it was
    built (see the module doc)."""
    directory = cache_root() / cache_key(manifest_path, shards)
    if not (directory / MARKER).is_file():
        _build(directory, shards)
    elif (damage := _damage(directory)) is not None:
        path, why = damage
        logger.warning("window cache file %s is damaged (%s); rebuilding the cache", path, why)
        try:
            _build(directory, shards)
        except OSError as error:
            raise WindowCacheError(
                f"{path}: damaged window cache file ({why}), and the cache could not be "
                f"rebuilt ({error})"
            ) from error
    return _columns(directory)


def _checksum(path: Path) -> int:
    crc = 0
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK):
            crc = zlib.crc32(chunk, crc)
    return crc


def _record(directory: Path) -> dict[str, dict[str, int]]:
    """What the marker records of each file: its size in bytes and its CRC-32."""
    record = {}
    for name in COLUMNS:
        path = directory / f"{name}.bin"
        record[path.name] = {"bytes": path.stat().st_size, "crc32": _checksum(path)}
    return record


def _damage(directory: Path) -> tuple[Path, str] | None:
    """The first file of the cache that differs from the marker's record, and how."""
    marker = directory / MARKER
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))["files"]
        sizes = {name: recorded[f"{name}.bin"]["bytes"] for name in COLUMNS}
        sums = {name: recorded[f"{name}.bin"]["crc32"] for name in COLUMNS}
    except (OSError, ValueError, KeyError, TypeError):
        return marker, "no record of the files' checksums (damaged, or an older version's)"
    for name in COLUMNS:
        path = directory / f"{name}.bin"
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return path, "missing"
        if size != sizes[name]:
            return path, f"{size} bytes, {sizes[name]} when it was built"
        if _checksum(path) != sums[name]:
            return path, "its CRC-32 differs from the one recorded when it was built"
    return None


def _columns(directory: Path) -> WindowColumns:
    """The cache's columns; ``WindowCacheError`` unless they fit together."""
    columns = WindowColumns(
        **{name: mapped(directory, name) for name in COLUMNS}, directory=directory
    )
    offsets = columns.offsets
    fits = (
        len(offsets) >= 1
        and offsets[0] == 0
        and offsets[-1] == len(columns.ids) == len(columns.loss_mask)
        and len(columns.num_base_tokens) == len(offsets) - 1
        and bool(np.all(np.diff(offsets) >= 0))
    )
    if not fits:
        raise WindowCacheError(f"{directory}: the window cache's files do not fit together")
    return columns


def mapped(directory: Path, name: str) -> Any:
    path = directory / f"{name}.bin"
    dtype = np.dtype(COLUMNS[name])
    if path.stat().st_size == 0:
        return np.zeros(0, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r")


def _batches(shard: str) -> Iterator[Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        reader = pq.ParquetFile(shard)
        yield from reader.iter_batches(columns=["input_ids", "loss_mask", "num_base_tokens"])
    except (pa.ArrowException, OSError) as error:
        raise VerifyError(f"{shard}: not a readable shard ({error})") from None


def _write_columns(directory: Path, shards: list[str]) -> None:
    with ExitStack() as stack:
        files = {
            name: stack.enter_context(open(directory / f"{name}.bin", "wb")) for name in COLUMNS
        }
        total = 0
        files["offsets"].write(np.zeros(1, dtype=np.int64).tobytes())
        for shard in shards:
            for batch in _batches(shard):
                ids = batch.column("input_ids")
                relative = np.asarray(ids.offsets, dtype=np.int64)
                files["offsets"].write((relative[1:] - relative[0] + total).tobytes())
                total += int(relative[-1] - relative[0])
                files["ids"].write(np.asarray(ids.flatten(), dtype=np.int32).tobytes())
                mask = np.asarray(batch.column("loss_mask").flatten(), dtype=np.int8)
                files["loss_mask"].write(mask.tobytes())
                base = np.asarray(batch.column("num_base_tokens"), dtype=np.int64)
                files["num_base_tokens"].write(base.tobytes())


def _build(directory: Path, shards: list[str]) -> None:
    directory.parent.mkdir(parents=True, exist_ok=True)
    if directory.exists():
        shutil.rmtree(directory)  # no marker (so not renamed into place by a build), or damaged
    building = directory.with_name(f"{directory.name}.building-{uuid.uuid4().hex}")
    building.mkdir()
    try:
        _write_columns(building, shards)
        marker = {"files": _record(building)}
        (building / MARKER).write_text(json.dumps(marker), encoding="utf-8")
        try:
            os.rename(building, directory)
        except OSError:
            if not (directory / MARKER).is_file():
                raise
            shutil.rmtree(building, ignore_errors=True)  # another process finished first
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise

"""``verify``: decode every shard and check it against its manifest (and, given the inputs,
against a fresh tokenization of the original text, base id for base id)."""

from __future__ import annotations

import os
from collections import defaultdict
from typing import Any

import numpy as np

from zip2zip_tokenizers._core import CompressionConfig, LZWCompressor, Zip2ZipError
from zip2zip_tokenizers.data.errors import VerifyError
from zip2zip_tokenizers.data.formats import expand_inputs
from zip2zip_tokenizers.data.manifest import Manifest
from zip2zip_tokenizers.data.readers import BadRecord, read_task
from zip2zip_tokenizers.data.shards import schema, shard_stats

Documents = dict[tuple[str, int], list[Any]]


def _check_shard(
    path: str, entry: dict[str, Any], compressor: LZWCompressor, window: int
) -> tuple[Documents, int]:
    """Decodes one shard; returns each document's decoded base ids (as a list of windows)."""
    name = path
    table = _read_shard(path)
    try:
        stats = shard_stats(path)
    except ValueError as error:
        raise VerifyError(f"{path}: {error}") from error
    expected = {key: entry[key] for key in ("windows", "hypertokens", "base_tokens")}
    if stats != expected:
        raise VerifyError(f"{name}: footer counts {stats} differ from the manifest's {expected}")
    ids = table.column("input_ids").to_pylist()
    masks = table.column("loss_mask").to_pylist()
    lengths = table.column("num_base_tokens").to_pylist()
    starts = table.column("base_start").to_pylist()
    ranks = table.column("window_index").to_pylist()
    files = table.column("source_file").to_pylist()
    records = table.column("source_record").to_pylist()
    try:
        decoded = compressor.batch_decode([np.asarray(row, dtype=np.int64) for row in ids])
    except (Zip2ZipError, ValueError, OverflowError) as error:
        raise VerifyError(f"{path}: its windows do not decode ({error})") from error
    documents: Documents = defaultdict(list)
    hypertokens = base_tokens = 0
    for row in range(table.num_rows):
        where = f"{name} row {row} ({files[row]}:{records[row] + 1} window {ranks[row]})"
        if not 0 < len(ids[row]) <= window:
            raise VerifyError(f"{where}: {len(ids[row])} hypertokens (window is {window})")
        if len(masks[row]) != len(ids[row]):
            raise VerifyError(f"{where}: loss mask length differs from the ids'")
        if len(decoded[row]) != lengths[row]:
            raise VerifyError(
                f"{where}: decodes to {len(decoded[row])} base tokens, "
                f"num_base_tokens says {lengths[row]}"
            )
        windows = documents[(files[row], records[row])]
        covered = sum(len(part) for part in windows)
        if ranks[row] != len(windows) or starts[row] != covered:
            raise VerifyError(
                f"{where}: starts at base token {starts[row]} as window {ranks[row]}, but the "
                f"document's previous windows cover {covered} tokens in {len(windows)} windows"
            )
        windows.append(decoded[row])
        hypertokens += len(ids[row])
        base_tokens += lengths[row]
    if (hypertokens, base_tokens) != (expected["hypertokens"], expected["base_tokens"]):
        raise VerifyError(f"{name}: token counts differ from its footer")
    return documents, len(documents)


def _read_shard(path: str) -> Any:
    """The shard's table; ``VerifyError`` naming the file when it is missing, unreadable (cut
    short, not Parquet) or not of the shard schema, or holds nulls."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if not os.path.exists(path):
        raise VerifyError(f"{path}: listed in the manifest but missing")
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as error:
        raise VerifyError(f"{path}: not a readable shard ({error})") from error
    if not table.schema.remove_metadata().equals(schema()):
        raise VerifyError(
            f"{path}: columns {table.schema.remove_metadata()} are not the shard schema"
        )
    for name in table.column_names:
        column = table.column(name)
        nulls = column.null_count
        if pa.types.is_list(column.type):
            nulls += pc.list_flatten(column).null_count
        if nulls:
            raise VerifyError(f"{path}: column {name!r} holds {nulls} null value(s)")
    return table


def verify(
    output: str | os.PathLike[str],
    inputs: list[str] | None = None,
    tokenizer: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Checks every shard of a preprocessed output; raises ``VerifyError`` at the first
    problem. With ``inputs``, re-reads and re-tokenizes them (with the HF tokenizer itself, not
    the pipeline's fast path) and checks that each document's windows decode to exactly its base
    ids. Returns what was checked."""
    output = os.path.abspath(os.fspath(output))
    manifest = Manifest.load(output)
    settings = manifest.settings
    try:
        compressor = LZWCompressor(CompressionConfig.from_dict(settings["config"]))
    except (Zip2ZipError, ValueError, TypeError, OverflowError) as error:
        raise VerifyError(
            f"{manifest.path}: settings.config is not a codec config ({error})"
        ) from error
    window = int(settings["window"])
    reference = None
    if inputs is not None:
        paths = expand_inputs(inputs)
        recorded = [item["path"] for item in manifest.inputs]
        if paths != recorded:
            raise VerifyError(f"the inputs {paths} are not the ones preprocessed: {recorded}")
        reference = _reference_tokenizer(tokenizer or settings["tokenizer"])
    seen: set[tuple[str, int]] = set()
    totals = {
        "shards": 0,
        "windows": 0,
        "documents_with_windows": 0,
        "hypertokens": 0,
        "base_tokens": 0,
    }
    for task_id in sorted(manifest.tasks):
        entry = manifest.tasks[task_id]
        task_documents: Documents = {}
        for shard in entry["shards"]:
            documents, count = _check_shard(
                os.path.join(output, shard["file"]), shard, compressor, window
            )
            duplicated = seen.intersection(documents)
            if duplicated:
                file, record = min(duplicated)
                raise VerifyError(f"{file}:{record + 1} has windows in more than one shard")
            seen.update(documents)
            task_documents.update(documents)
            totals["shards"] += 1
            totals["documents_with_windows"] += count
            for key in ("windows", "hypertokens", "base_tokens"):
                totals[key] += shard[key]
        if reference is not None:
            _check_against_input(entry, task_documents, reference, settings)
    totals["complete"] = manifest.complete
    totals["checked_against_input"] = reference is not None
    return totals


def _reference_tokenizer(path: str | os.PathLike[str] | None) -> Any:
    if path is None:
        raise VerifyError("the manifest names no tokenizer directory; pass one to check inputs")
    from zip2zip_tokenizers.tokenizer import import_transformers_quietly

    import_transformers_quietly()
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(os.fspath(path))


def _check_against_input(
    entry: dict[str, Any], documents: Documents, tokenizer: Any, settings: dict[str, Any]
) -> None:
    from zip2zip_tokenizers.data.formats import Task

    task = Task.from_dict(entry["task"])
    suffix = list(settings["suffix"])
    records: list[int] = []
    texts: list[str] = []
    for record, value in read_task(task, settings["text_field"]):
        if not isinstance(value, BadRecord):
            records.append(record)
            texts.append(value)
    expected = tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
    for record, ids in zip(records, expected, strict=True):
        key = (task.path, record)
        want = list(ids) + suffix if ids else []
        got = [int(i) for part in documents.pop(key, []) for i in part]
        if got != want:
            first = next(
                (i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b),
                min(len(got), len(want)),
            )
            raise VerifyError(
                f"{task.path}:{record + 1}: windows decode to {len(got)} base ids, the input "
                f"tokenizes to {len(want)}; first difference at base token {first}"
            )
    if documents:
        file, record = min(documents)
        raise VerifyError(f"{file}:{record + 1} has windows but is not a record of the input")

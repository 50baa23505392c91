"""``preprocess``: inputs → planned tasks → an engine runs them → shards, manifest, report."""

from __future__ import annotations

import os
import time
from typing import Any, Literal

from zip2zip_tokenizers.data.errors import DataError
from zip2zip_tokenizers.data.formats import Task, expand_inputs, plan_tasks
from zip2zip_tokenizers.data.manifest import Manifest, input_identity
from zip2zip_tokenizers.data.memory import limit_malloc_arenas, use_system_arrow_allocator
from zip2zip_tokenizers.data.output_dir import (
    SHARD_PATTERN,
    check_leftover_shards,
    remove_stale_temporaries,
)
from zip2zip_tokenizers.data.report import build_report, format_report, write_report
from zip2zip_tokenizers.data.windowing import DEFAULT_WINDOW, Hypertokenizer
from zip2zip_tokenizers.data.worker import DEFAULT_SHARD_BYTES, TaskSettings, settings_digest
from zip2zip_tokenizers.output_lock import output_lock

Engine = Literal["local", "ray"]


def default_workers() -> int:
    """One worker per core: what ``preprocess`` and the CLI's ``--workers`` run when not told."""
    return os.cpu_count() or 1


def _task_size(task: Task) -> int:
    if task.format == "jsonl":
        end = task.end if task.end >= 0 else os.path.getsize(task.path)
        return end - task.start
    if task.format == "parquet":
        import pyarrow.parquet as pq

        metadata = pq.ParquetFile(task.path).metadata
        return sum(metadata.row_group(g).total_byte_size for g in range(task.start, task.end))
    return os.path.getsize(task.path)


def preprocess(
    tokenizer: str | os.PathLike[str] | Hypertokenizer,
    inputs: list[str],
    output: str | os.PathLike[str],
    *,
    text_field: str = "text",
    window: int | None = None,
    max_codebook_size: int | None = None,
    max_subtokens: int | None = None,
    disable_digits: bool | None = None,
    eviction: str | None = None,
    append_eos: bool = True,
    workers: int | None = None,
    engine: Engine = "local",
    ray_address: str | None = None,
    strict: bool = False,
    shard_bytes: int = DEFAULT_SHARD_BYTES,
    progress: bool = True,
) -> dict[str, Any]:
    """Preprocesses ``inputs`` (files, directories or globs of ``.txt``, ``.jsonl[.gz|.zst]``
    and ``.parquet``) into Parquet shards of lossless training windows under ``output``, with a
    manifest and a report (returned). Runs again on the same output resume where it stopped.

    ``tokenizer`` is a local HF tokenizer directory (its saved ``zip2zip_config.json`` gives the
    codec settings; ``max_codebook_size``, ``max_subtokens``, ``disable_digits`` and
    ``eviction`` left ``None`` mean "as saved", then the package defaults; ``window`` ``None``
    means 1024) or a ready ``Hypertokenizer``, which fixes them all (giving one that differs is
    a ``DataError``).
    ``workers`` processes share the cores (``None``: one per core, ``default_workers()``; 1: this
    process, native code on every core; more: processes forked after the tokenizer is loaded,
    so they share it); ``engine="ray"`` runs the same tasks as a Ray Data pipeline. See
    docs/data-format.md for the output directory, resuming, bad records and temporary files.
    """
    if workers is None:
        workers = default_workers()
    if workers < 1:
        raise DataError(f"workers must be at least 1, got {workers}")
    if shard_bytes < 1:
        raise DataError(f"shard_bytes must be at least 1, got {shard_bytes}")
    if engine not in ("local", "ray"):
        raise DataError(f"engine must be 'local' or 'ray', got {engine!r}")
    output = os.path.abspath(os.fspath(output))
    limit_malloc_arenas()
    use_system_arrow_allocator()
    if isinstance(tokenizer, Hypertokenizer):
        hypertokenizer, tokenizer_path = tokenizer, None
        codec = {
            "max_codebook_size": max_codebook_size,
            "max_subtokens": max_subtokens,
            "eviction": eviction,
        }
        given = [name for name, value in codec.items() if value is not None]
        given += ["disable_digits"] if disable_digits is not None else []
        given += ["window"] if window not in (None, tokenizer.window) else []
        if given:
            raise DataError(
                f"{', '.join(given)} can not be changed for a ready Hypertokenizer (window "
                f"{tokenizer.window}); pass them to Hypertokenizer.from_pretrained instead"
            )
    else:
        tokenizer_path = os.path.abspath(os.fspath(tokenizer))
        hypertokenizer = Hypertokenizer.from_pretrained(
            tokenizer_path,
            window=DEFAULT_WINDOW if window is None else window,
            append_eos=append_eos,
            max_codebook_size=max_codebook_size,
            max_subtokens=max_subtokens,
            disable_digits=disable_digits,
            eviction=eviction,
        )
    paths = expand_inputs(list(inputs), exclude=output)
    tasks = plan_tasks(paths, shard_bytes, text_field)
    with output_lock(output):
        return _run(
            hypertokenizer, tokenizer_path, paths, tasks, output,
            text_field=text_field, shard_bytes=shard_bytes, strict=strict, workers=workers,
            engine=engine, ray_address=ray_address, progress=progress,
        )  # fmt: skip


def _run(
    hypertokenizer: Hypertokenizer,
    tokenizer_path: str | None,
    paths: list[str],
    tasks: list[Task],
    output: str,
    *,
    text_field: str,
    shard_bytes: int,
    strict: bool,
    workers: int,
    engine: Engine,
    ray_address: str | None,
    progress: bool,
) -> dict[str, Any]:
    """``preprocess`` once it holds the output directory's lock."""
    settings = {
        "tokenizer": tokenizer_path,
        "fingerprint": hypertokenizer.fingerprint(),
        "config": hypertokenizer.config.to_dict(),
        "window": hypertokenizer.window,
        "suffix": hypertokenizer.suffix,
        "text_field": text_field,
        "shard_bytes": shard_bytes,
    }
    resumed = Manifest.exists(output)
    manifest = Manifest.open(
        output, settings, [input_identity(p) for p in paths], [t.task_id for t in tasks]
    )
    todo = [task for task in tasks if task.task_id not in manifest.tasks]
    task_settings = TaskSettings(
        output, text_field, shard_bytes, strict=strict, run=manifest.run,
        settings_digest=settings_digest(settings),
    )  # fmt: skip
    unfinished = {task.task_id: task for task in todo}

    def expected_origin(name: str) -> str | None:
        """The origin a shard file named ``name`` must carry to be adopted (``None``: none
        may be; without a manifest, no shard in the directory is this run's)."""
        match = SHARD_PATTERN.fullmatch(name)
        task = unfinished.get(match["task"]) if match is not None and resumed else None
        if match is None or task is None:
            return None
        return task_settings.origin(task, int(match["chunk"]))

    # Nothing in the directory is touched before these checks pass.
    recorded = {os.path.basename(path) for path in manifest.shard_files()}
    check_leftover_shards(output, recorded, expected_origin, resumed)
    earlier_runs = list(manifest.runs)
    manifest.start_run()
    remove_stale_temporaries(output, earlier_runs)  # those of a run killed while writing

    sizes = {task.task_id: _task_size(task) for task in todo}
    local = None
    if engine == "local":
        from zip2zip_tokenizers.data.local import LocalEngine

        # Built before the progress bar: its workers are forked while this process has one
        # thread.
        local = LocalEngine(hypertokenizer, task_settings, workers if len(todo) > 1 else 1)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=sum(sizes.values()), unit="B", unit_scale=True, desc="preprocess")
    started = time.perf_counter()
    run = {"bytes": 0, "base_tokens": 0}

    def on_done(entry: dict[str, Any]) -> None:
        manifest.record(entry)
        run["bytes"] += sum(shard["bytes"] for shard in entry["shards"])
        run["base_tokens"] += sum(shard["base_tokens"] for shard in entry["shards"])
        if bar is not None:
            bar.update(sizes[entry["task"]["task_id"]])
            elapsed = max(time.perf_counter() - started, 1e-9)
            bar.set_postfix(tokens_per_s=f"{run['base_tokens'] / elapsed:,.0f}", refresh=False)

    try:
        if local is not None:
            local.run(todo, on_done)
        else:
            from zip2zip_tokenizers.data.ray_engine import run_ray

            run_ray(todo, hypertokenizer, task_settings, workers, ray_address, on_done)
    except BaseException:
        if local is not None:
            local.close(cancel=True)
        raise
    finally:
        if local is not None:
            local.close()
        if bar is not None:
            bar.close()
        report = build_report(
            manifest, time.perf_counter() - started, run["bytes"], run["base_tokens"]
        )
        write_report(output, report, manifest.run)
    return report


__all__ = ["default_workers", "format_report", "preprocess"]

"""The local engine: tasks in this process (native code on every core), or spread over worker
processes, each with its native thread pools sized to its share of the cores."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from zip2zip_tokenizers.data.formats import Task
from zip2zip_tokenizers.data.windowing import Hypertokenizer
from zip2zip_tokenizers.data.worker import TaskSettings, run_task

_STATE: dict[str, Any] = {}


def native_thread_env(threads: int) -> dict[str, str]:
    """Environment that caps the base tokenizer's and the codec's thread pools."""
    parallel = "true" if threads > 1 else "false"
    return {
        "RAYON_NUM_THREADS": str(threads),
        "ZIP2ZIP_NUM_THREADS": str(threads),
        "TOKENIZERS_PARALLELISM": parallel,
        "ZIP2ZIP_PARALLELISM": "1" if threads > 1 else "0",
    }


def _start_worker(hypertokenizer: bytes, settings: TaskSettings, threads: int) -> None:
    import pickle

    from zip2zip_tokenizers.data.memory import limit_malloc_arenas

    limit_malloc_arenas()
    os.environ.update(native_thread_env(threads))
    _STATE["hypertokenizer"] = pickle.loads(hypertokenizer)
    _STATE["settings"] = settings


def _run_in_worker(task: Task) -> dict[str, Any]:
    return run_task(task, _STATE["hypertokenizer"], _STATE["settings"])


def run_local(
    tasks: Sequence[Task],
    hypertokenizer: Hypertokenizer,
    settings: TaskSettings,
    workers: int,
    on_done: Callable[[dict[str, Any]], None],
) -> None:
    """Runs every task, calling ``on_done`` with each task's entry as it finishes (in any
    order). At most ``2 * workers`` tasks are queued at a time, so memory stays bounded."""
    if workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            on_done(run_task(task, hypertokenizer, settings))
        return
    import pickle

    cores = os.cpu_count() or 1
    threads = max(1, cores // workers)
    context = multiprocessing.get_context("spawn")
    executor = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_start_worker,
        initargs=(pickle.dumps(hypertokenizer), settings, threads),
    )
    pending: set[Future[dict[str, Any]]] = set()
    queue: Iterator[Task] = iter(tasks)
    try:
        for task in queue:
            pending.add(executor.submit(_run_in_worker, task))
            if len(pending) >= 2 * workers:
                break
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                on_done(future.result())
                task_or_none = next(queue, None)
                if task_or_none is not None:
                    pending.add(executor.submit(_run_in_worker, task_or_none))
    except BaseException:
        executor.shutdown(wait=True, cancel_futures=True)
        raise
    executor.shutdown(wait=True)

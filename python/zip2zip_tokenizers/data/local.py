"""The local engine: tasks in this process (native code on every core), or spread over worker
processes, each with its native thread pools sized to its share of the cores.

Worker processes share one tokenizer: on Linux the driver loads it and then forks the workers,
so its memory (about 85 MB for a 129k-token vocabulary), and that of the imported modules, is
shared copy-on-write instead of copied into each worker. The workers are forked before the
driver starts any thread (``LocalEngine`` is built before the progress bar), and they exit when
the driver dies, even by ``kill -9`` (``parent_watch.py``)."""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, TypeVar

from zip2zip_tokenizers.data.formats import Task
from zip2zip_tokenizers.data.memory import return_free_memory
from zip2zip_tokenizers.data.windowing import Hypertokenizer
from zip2zip_tokenizers.data.worker import TaskSettings, run_task

_STATE: dict[str, Any] = {}
T = TypeVar("T")
R = TypeVar("R")


def native_thread_env(threads: int) -> dict[str, str]:
    """Environment that caps the base tokenizer's and the codec's thread pools."""
    parallel = "true" if threads > 1 else "false"
    return {
        "RAYON_NUM_THREADS": str(threads),
        "ZIP2ZIP_NUM_THREADS": str(threads),
        "TOKENIZERS_PARALLELISM": parallel,
        "ZIP2ZIP_PARALLELISM": "1" if threads > 1 else "0",
    }


def _start_worker(
    hypertokenizer: Hypertokenizer | bytes, settings: TaskSettings, threads: int, parent: int
) -> None:
    from zip2zip_tokenizers.data.memory import set_up_worker_memory
    from zip2zip_tokenizers.data.parent_watch import exit_with_parent

    exit_with_parent(parent)
    set_up_worker_memory()
    os.environ.update(native_thread_env(threads))
    if isinstance(hypertokenizer, bytes):  # spawned: sent pickled
        hypertokenizer = pickle.loads(hypertokenizer)
    _STATE["hypertokenizer"] = hypertokenizer
    _STATE["settings"] = settings


def _run_in_worker(task: Task) -> dict[str, Any]:
    return run_task(task, _STATE["hypertokenizer"], _STATE["settings"])


def _ready() -> int:
    return os.getpid()


class LocalEngine:
    """Runs tasks in this process (``workers == 1``) or in ``workers`` processes, started (and,
    on Linux, forked with the tokenizer already loaded) when the engine is built."""

    def __init__(self, hypertokenizer: Hypertokenizer, settings: TaskSettings, workers: int):
        self.hypertokenizer = hypertokenizer
        self.settings = settings
        self.workers = workers
        self.executor: ProcessPoolExecutor | None = None
        if workers <= 1:
            return
        threads = max(1, (os.cpu_count() or 1) // workers)
        shared: Hypertokenizer | bytes
        if sys.platform.startswith("linux"):
            context = multiprocessing.get_context("fork")
            shared = hypertokenizer.load()  # before the fork: one copy for every worker
            return_free_memory()
        else:  # fork is unsafe on macOS and absent on Windows
            context = multiprocessing.get_context("spawn")
            shared = pickle.dumps(hypertokenizer)
        self.executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_start_worker,
            initargs=(shared, settings, threads, os.getpid()),
        )
        # Objects frozen before the fork are never visited by the workers' garbage collector,
        # which would otherwise write to (and so copy) every page of the shared heap.
        gc.freeze()
        try:
            # The first task starts every worker (a forking pool starts them all at once).
            self.executor.submit(_ready).result()
        finally:
            gc.unfreeze()

    def run(self, tasks: Sequence[Task], on_done: Callable[[dict[str, Any]], None]) -> None:
        """Runs every task, calling ``on_done`` with each task's entry as it finishes (in any
        order). At most ``2 * workers`` tasks are queued at a time. When tasks fail, the error
        raised is that of the earliest one in ``tasks`` (under ``strict``, the first bad record
        in input order), whichever worker met its error first."""
        if self.executor is None:
            for task in tasks:
                on_done(run_task(task, self.hypertokenizer, self.settings))
            return
        executor = self.executor
        run_in_input_order_of_failure(
            lambda task: executor.submit(_run_in_worker, task), tasks, on_done, 2 * self.workers
        )

    def close(self, cancel: bool = False) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=cancel)
            self.executor = None


def run_in_input_order_of_failure(
    submit: Callable[[T], Future[R]],
    tasks: Sequence[T],
    on_done: Callable[[R], None],
    queued: int,
) -> None:
    """Runs ``tasks`` through ``submit`` with at most ``queued`` in flight, calling ``on_done``
    with each result as it finishes. Once one fails, nothing new starts and the queued tasks
    after it are cancelled; those before it run out, and the error of the earliest failed task
    is raised."""
    pending: dict[Future[R], int] = {}
    failures: dict[int, BaseException] = {}
    upcoming = iter(enumerate(tasks))

    def submit_next() -> None:
        if not failures:
            for index, task in upcoming:
                pending[submit(task)] = index
                return

    for _ in range(queued):
        submit_next()
    while pending:
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:  # failures first: once one is known, nothing new starts
            error = future.exception()
            if error is not None:
                failures[pending[future]] = error
        for future in done:
            if pending.pop(future) not in failures:
                on_done(future.result())
                submit_next()
        if failures:
            first = min(failures)
            for future in [f for f, index in pending.items() if index > first]:
                if future.cancel():
                    del pending[future]
    if failures:
        raise failures[min(failures)]

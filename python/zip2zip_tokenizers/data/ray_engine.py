"""The Ray engine: the same tasks as the local engine, as a Ray Data pipeline over a cluster.

``ray.data.from_items(tasks)`` → ``map_batches`` on a pool of actors, each holding one
``Hypertokenizer`` (loaded once per actor, not per task), that read their task's records,
window them and write the task's shards → the driver streams the finished tasks' entries into
the manifest as they arrive. The actors write the shards themselves, with the same deterministic
atomic writer as the local engine, so the output is byte-identical to a local run and resumes
the same way (``Dataset.write_parquet`` would name files by block and could not resume).

On a real cluster, start Ray on every node (``ray start --head`` / ``ray start
--address=HEAD:6379``), put inputs and output on storage every node sees at the same path (NFS,
a mounted bucket), and run ``zip2zip-tokenizers preprocess ... --engine ray --ray-address
HEAD:6379 --workers TOTAL_CORES``. Ray is imported only here (the ``[ray]`` extra).
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from zip2zip_tokenizers.data.errors import DataError
from zip2zip_tokenizers.data.formats import Task
from zip2zip_tokenizers.data.windowing import Hypertokenizer
from zip2zip_tokenizers.data.worker import TaskSettings, run_task


class TaskActor:
    """A Ray actor running tasks with a tokenizer it loads once."""

    def __init__(self, hypertokenizer: bytes, settings: TaskSettings) -> None:
        import os

        from zip2zip_tokenizers.data.local import native_thread_env
        from zip2zip_tokenizers.data.memory import set_up_worker_memory

        set_up_worker_memory()
        os.environ.update(native_thread_env(1))  # one CPU per actor
        self.hypertokenizer: Hypertokenizer = pickle.loads(hypertokenizer)
        self.settings = settings

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        entries = []
        for item in batch["task"]:
            task = Task.from_dict(json.loads(str(item)))
            try:
                entry = run_task(task, self.hypertokenizer, self.settings)
            except DataError as error:
                # Ray hands the driver a traceback, not the exception: send it as data.
                entry = {"error": pickle.dumps(error).hex()}
            entries.append(json.dumps(entry))
        return {"entry": np.asarray(entries, dtype=object)}


def run_ray(
    tasks: Sequence[Task],
    hypertokenizer: Hypertokenizer,
    settings: TaskSettings,
    workers: int,
    address: str | None,
    on_done: Callable[[dict[str, Any]], None],
) -> None:
    """Runs the tasks on Ray (joining ``address``, or the cluster this process is already
    connected to, or a new local one) with ``workers`` actors of one CPU each."""
    try:
        import ray
        import ray.data
    except ImportError as error:
        raise DataError("engine 'ray' needs Ray: pip install 'zip2zip-tokenizers[ray]'") from error
    if not tasks:
        return
    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    # Under strict, rows in input order: the error raised is the corpus's first bad record.
    context.execution_options.preserve_order = settings.strict
    items = [{"task": json.dumps(task.to_dict())} for task in tasks]
    dataset = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
        TaskActor,
        fn_constructor_args=(pickle.dumps(hypertokenizer), settings),
        batch_size=1,
        compute=ray.data.ActorPoolStrategy(size=min(workers, len(items))),
        num_cpus=1,
        batch_format="numpy",
    )
    for row in dataset.iter_rows():
        entry = json.loads(str(row["entry"]))
        if "error" in entry:
            failure: BaseException = pickle.loads(bytes.fromhex(entry["error"]))
            raise failure
        on_done(entry)

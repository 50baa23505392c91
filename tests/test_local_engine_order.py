"""Worker processes finish tasks in any order, but a failed run reports the error of the
earliest task in input order (under ``--strict``, the first bad record of the corpus)."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
from zip2zip_tokenizers.data.local import run_in_input_order_of_failure


class TaskFailed(Exception):
    pass


def test_the_earliest_failed_task_is_reported_even_when_a_later_one_fails_first() -> None:
    futures: dict[int, Future[int]] = {}
    all_queued = threading.Event()

    def submit(index: int) -> Future[int]:
        future: Future[int] = Future()
        future.set_running_or_notify_cancel()  # running: like a worker's, it can't be cancelled
        futures[index] = future
        if len(futures) == 4:
            all_queued.set()
        return future

    def finish_out_of_order() -> None:
        assert all_queued.wait(10)
        futures[2].set_exception(TaskFailed(2))
        futures[1].set_result(1)
        futures[3].set_result(3)
        futures[0].set_exception(TaskFailed(0))

    done: list[int] = []
    driver = threading.Thread(target=finish_out_of_order)
    driver.start()
    with pytest.raises(TaskFailed) as error:
        run_in_input_order_of_failure(submit, list(range(8)), done.append, 4)
    driver.join()
    assert error.value.args == (0,)
    assert sorted(done) == [1, 3]
    assert sorted(futures) == [0, 1, 2, 3]  # nothing new starts after a failure


def test_queued_tasks_after_the_failed_one_are_cancelled_and_earlier_ones_run_out() -> None:
    futures: dict[int, Future[int]] = {}

    def submit(index: int) -> Future[int]:
        future: Future[int] = Future()  # pending: queued, not yet taken by a worker
        futures[index] = future
        if index == 1:
            future.set_running_or_notify_cancel()
            future.set_exception(TaskFailed(1))
        elif index == 0:
            threading.Timer(0.05, future.set_result, (0,)).start()
        return future

    done: list[int] = []
    with pytest.raises(TaskFailed) as error:
        run_in_input_order_of_failure(submit, list(range(6)), done.append, 3)
    assert error.value.args == (1,)
    assert done == [0] and futures[2].cancelled()


def test_every_result_arrives_when_nothing_fails() -> None:
    done: list[int] = []
    with ThreadPoolExecutor(max_workers=2) as executor:
        run_in_input_order_of_failure(
            lambda index: executor.submit(lambda: index * 10), list(range(9)), done.append, 3
        )
    assert sorted(done) == [i * 10 for i in range(9)]

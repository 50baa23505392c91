"""A bounded hand-off between two pipeline stages running on their own threads, and a runner
that starts the stages and stops them all when one fails.

Contract of a ``Pipe``: its one producer ``put``s items in order and then ``close``s it; its one
consumer iterates over it. An item keeps its slot until the consumer comes back for the next
one, so ``capacity`` bounds the items waiting *and* the one being worked on: memory stays
bounded whatever the speed of each stage. ``abort`` (a stage failed) makes every waiting or
later ``put`` and ``next`` raise ``PipeAborted``, so no stage waits forever on a dead one.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class PipeAborted(Exception):
    """Another stage failed; this one stops (the runner raises that stage's error)."""


class Pipe(Generic[T]):
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"a pipe holds at least one item, not {capacity}")
        self._capacity = capacity
        self._items: deque[T] = deque()
        self._in_hand = 0
        self._closed = False
        self._aborted = False
        self._changed = threading.Condition()

    def put(self, item: T) -> None:
        """Waits for a free slot, then hands ``item`` on."""
        with self._changed:
            while len(self._items) + self._in_hand >= self._capacity and not self._aborted:
                self._changed.wait()
            if self._aborted:
                raise PipeAborted
            self._items.append(item)
            self._changed.notify_all()

    def close(self) -> None:
        """No more items: the consumer's loop ends after the last one."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def abort(self) -> None:
        with self._changed:
            self._aborted = True
            self._changed.notify_all()

    def __iter__(self) -> Iterator[T]:
        while True:
            with self._changed:
                self._in_hand = 0  # the previous item is done with: its slot is free
                self._changed.notify_all()
                while not self._items and not self._closed and not self._aborted:
                    self._changed.wait()
                if self._aborted:
                    raise PipeAborted
                if not self._items:
                    return
                item = self._items.popleft()
                self._in_hand = 1
            yield item


def run_stages(stages: Sequence[Callable[[], None]], pipes: Sequence[Pipe[Any]]) -> None:
    """Runs each stage on its own thread and waits for all of them. When one raises, every pipe
    is aborted (so the others stop instead of waiting on it) and, once all have stopped, its
    error is raised here; the first failure wins."""
    errors: list[BaseException] = []
    lock = threading.Lock()

    def guarded(stage: Callable[[], None]) -> None:
        try:
            stage()
        except PipeAborted:
            pass
        except BaseException as error:
            with lock:
                errors.append(error)
            for pipe in pipes:
                pipe.abort()

    threads = [
        threading.Thread(target=guarded, args=(stage,), name=f"zip2zip-{type(stage).__name__}")
        for stage in stages
    ]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except BaseException:  # KeyboardInterrupt in the waiting thread: stop the stages too
        for pipe in pipes:
            pipe.abort()
        for thread in threads:
            thread.join()
        raise
    if errors:
        raise errors[0]

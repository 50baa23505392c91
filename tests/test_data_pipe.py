"""The pipes between the pipeline's stages: order, bounded memory, and a failing stage that
stops the others instead of leaving them waiting."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from zip2zip_tokenizers.data.pipe import Pipe, PipeAborted, run_stages


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(), max_size=50), st.integers(1, 4), st.integers(1, 4))
def test_items_pass_in_order_through_two_pipes(items: list[int], first: int, second: int) -> None:
    a: Pipe[int] = Pipe(first)
    b: Pipe[int] = Pipe(second)
    out: list[int] = []

    def produce() -> None:
        for item in items:
            a.put(item)
        a.close()

    def double() -> None:
        for item in a:
            b.put(2 * item)
        b.close()

    def consume() -> None:
        out.extend(b)

    run_stages([produce, double, consume], [a, b])
    assert out == [2 * item for item in items]


def test_an_item_holds_its_slot_until_the_consumer_comes_back() -> None:
    pipe: Pipe[int] = Pipe(1)
    pipe.put(1)
    items = iter(pipe)
    assert next(items) == 1  # in hand: the slot is still taken
    put = threading.Thread(target=pipe.put, args=(2,))
    put.start()
    put.join(0.2)
    assert put.is_alive()
    assert next(items) == 2  # asking for the next one freed the slot
    put.join(1)
    assert not put.is_alive()
    pipe.close()
    assert list(items) == []


def test_a_failing_stage_stops_the_others_and_its_error_is_raised() -> None:
    a: Pipe[int] = Pipe(1)

    def produce() -> None:
        for item in range(1000):
            a.put(item)  # blocks on the full pipe until the consumer's failure aborts it
        a.close()

    def consume() -> None:
        for item in a:
            if item == 3:
                raise KeyError("stage failed at item 3")

    done = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            run_stages([produce, consume], [a])
        except BaseException as error:
            errors.append(error)
        done.set()

    threading.Thread(target=run, daemon=True).start()
    assert done.wait(10), "the stages hung after a failure"
    assert len(errors) == 1 and isinstance(errors[0], KeyError)
    with pytest.raises(PipeAborted):
        a.put(0)
    with pytest.raises(ValueError, match="at least one"):
        Pipe(0)

"""The threaded pipeline with slow and failing stages injected."""

from __future__ import annotations

import threading
import time

import pytest

from rtmatte.run.pipeline import Pipeline


def test_order_is_kept_with_a_slow_stage() -> None:
    out: list[int] = []

    def slow(item: int) -> int:
        time.sleep(0.002 * (item % 3))
        return item * 10

    stats = Pipeline(range(50), [("slow", slow), ("fast", lambda x: x + 1)], out.append).run()
    assert out == [i * 10 + 1 for i in range(50)]
    assert stats.items == 50
    assert stats.stages["slow"].items == 50


def test_queues_bound_the_items_in_flight() -> None:
    produced = 0
    consumed = 0
    peak = 0
    lock = threading.Lock()

    def source():
        nonlocal produced, peak
        for i in range(40):
            with lock:
                produced += 1
                peak = max(peak, produced - consumed)
            yield i

    def consumer(_item: int) -> None:
        nonlocal consumed
        time.sleep(0.005)
        with lock:
            consumed += 1

    Pipeline(source(), [("a", lambda x: x)], consumer, queue_size=2).run()
    # 2 queues of 2, plus one item held by each of the 3 threads
    assert peak <= 2 * 2 + 3


def test_a_failing_stage_stops_everything_and_raises_its_error() -> None:
    seen: list[int] = []

    def source():
        yield from range(10_000)

    def explode(item: int) -> int:
        if item == 5:
            raise ValueError("stage broke at 5")
        return item

    with pytest.raises(ValueError, match="stage broke at 5"):
        Pipeline(source(), [("boom", explode)], seen.append).run()
    assert seen == [0, 1, 2, 3, 4]


def test_a_producer_error_drains_what_was_made_then_raises() -> None:
    seen: list[int] = []

    def source():
        yield from range(7)
        raise OSError("corrupt input")

    with pytest.raises(OSError, match="corrupt input"):
        Pipeline(source(), [("x", lambda x: x)], seen.append).run()
    assert seen == list(range(7))

"""Threads and bounded queues that run the stages of a job side by side.

Each stage runs in its own thread and hands items to the next through a bounded queue, so decode,
inference, compositing and encode overlap (PyAV, ONNX Runtime, OpenCV and NumPy release the GIL
in their heavy parts), order is kept, and memory stays flat however long the input is: a full
queue blocks the stage before it (back-pressure).

Errors: when a stage raises, every thread stops and :meth:`Pipeline.run` raises that error. When
the producer raises (a stream corrupt mid-file), the items it already produced still flow to the
end before the error is raised, so the caller can keep what was made.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

_END = object()
_POLL = 0.1


@dataclass
class StageTiming:
    """Seconds a stage spent working (not waiting on its neighbours), and items it handled."""

    busy_s: float = 0.0
    items: int = 0

    def as_dict(self) -> dict[str, float]:
        per_item = 1000.0 * self.busy_s / self.items if self.items else 0.0
        return {"busy_s": round(self.busy_s, 4), "items": self.items,
                "ms_per_item": round(per_item, 3)}


@dataclass
class PipelineStats:
    items: int = 0
    seconds: float = 0.0
    stages: dict[str, StageTiming] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else 0.0



class Pipeline:
    """producer → stages… → consumer, one thread each, joined by bounded queues."""

    def __init__(
        self,
        producer: Iterable[Any],
        stages: Sequence[tuple[str, Callable[[Any], Any]]],
        consumer: Callable[[Any], None],
        *,
        producer_name: str = "decode",
        consumer_name: str = "encode",
        queue_size: int = 4,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        self._producer = producer
        self._stages = list(stages)
        self._consumer = consumer
        self._names = [producer_name, *(n for n, _ in self._stages), consumer_name]
        self._queues: list[queue.Queue] = [
            queue.Queue(maxsize=queue_size) for _ in range(len(self._stages) + 1)
        ]
        self._stop = threading.Event()
        self._errors: list[tuple[int, BaseException]] = []
        self._lock = threading.Lock()
        self._on_progress = on_progress
        self.stats = PipelineStats(stages={name: StageTiming() for name in self._names})

    def run(self) -> PipelineStats:
        """Run to completion; raises the first stage error (the producer's last)."""
        threads = [threading.Thread(target=self._produce, name=self._names[0], daemon=True)]
        for position, (name, work) in enumerate(self._stages):
            threads.append(threading.Thread(target=self._transform, args=(position, work),
                                            name=name, daemon=True))
        threads.append(threading.Thread(target=self._consume, name=self._names[-1], daemon=True))
        started = time.perf_counter()
        try:
            for thread in threads:
                thread.start()
            while any(t.is_alive() for t in threads):
                threads[-1].join(_POLL)
                if self._on_progress is not None:
                    self._on_progress(self.stats.items)
        except BaseException:
            # Ctrl-C or SIGTERM (even while the threads start): every started thread is stopped
            # and joined before the error goes on, so none is still inside the model's native
            # code when the interpreter exits (a daemon thread there is ended by force, which
            # C++ code answers with "terminate called without an active exception")
            self._stop.set()
            for thread in threads:
                if thread.ident is not None:
                    thread.join()
            raise
        finally:
            self.stats.seconds = time.perf_counter() - started
        for thread in threads:
            thread.join()
        if self._errors:
            self._errors.sort(key=lambda entry: entry[0] == 0)  # stage errors before producer's
            raise self._errors[0][1]
        return self.stats

    def _fail(self, position: int, error: BaseException, stop_all: bool = True) -> None:
        with self._lock:
            self._errors.append((position, error))
        if stop_all:
            self._stop.set()

    def _put(self, out: queue.Queue, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                out.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def _get(self, source: queue.Queue) -> Any:
        while not self._stop.is_set():
            try:
                return source.get(timeout=_POLL)
            except queue.Empty:
                continue
        return _END

    def _produce(self) -> None:
        timing = self.stats.stages[self._names[0]]
        out = self._queues[0]
        iterator = iter(self._producer)
        try:
            while not self._stop.is_set():
                began = time.perf_counter()
                item = next(iterator, _END)
                timing.busy_s += time.perf_counter() - began
                if item is _END or not self._put(out, item):
                    break
                timing.items += 1
        except BaseException as error:  # the producer's error drains, it does not abort
            self._fail(0, error, stop_all=False)
        finally:
            self._put(out, _END)

    def _transform(self, position: int, work: Callable[[Any], Any]) -> None:
        name = self._stages[position][0]
        timing = self.stats.stages[name]
        source, out = self._queues[position], self._queues[position + 1]
        try:
            while True:
                item = self._get(source)
                if item is _END:
                    break
                began = time.perf_counter()
                result = work(item)
                timing.busy_s += time.perf_counter() - began
                timing.items += 1
                if not self._put(out, result):
                    return
        except BaseException as error:
            self._fail(position + 1, error)
            return
        self._put(out, _END)

    def _consume(self) -> None:
        timing = self.stats.stages[self._names[-1]]
        source = self._queues[-1]
        try:
            while True:
                item = self._get(source)
                if item is _END:
                    return
                began = time.perf_counter()
                self._consumer(item)
                timing.busy_s += time.perf_counter() - began
                timing.items += 1
                self.stats.items += 1
        except BaseException as error:
            self._fail(len(self._names) - 1, error)

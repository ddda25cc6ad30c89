"""The live path's hand-overs between threads, in place of queues: a leaf module that sources,
sinks and drivers all use (it imports nothing of rtmatte).

A queue between a camera and a model that cannot keep up grows without bound, and every frame in
it adds its age to the latency of the frames behind it. A one-slot :class:`Mailbox` keeps only
the newest item: a late consumer skips straight to the present, and what it skipped is counted
as dropped. A :class:`Timetable` is the same promise for an output that runs a fixed delay
behind the camera.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Closed(Exception):
    """The producer finished and everything it posted was taken."""


class _HandOver:
    """What both hand-overs share: a condition to wait on, the producer's end-of-stream, and
    counts of items posted and dropped (the live path's drop figures)."""

    def __init__(self) -> None:
        self._closed = False
        self._cond = threading.Condition()
        self.posted = 0
        self.dropped = 0

    def close(self) -> None:
        """No more items will come; a consumer gets :class:`Closed` once it took the rest."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class Mailbox(_HandOver, Generic[T]):
    def __init__(self) -> None:
        super().__init__()
        self._item: T | None = None
        self._full = False

    def put(self, item: T) -> None:
        """Leave ``item`` for the consumer, replacing (and counting) one it has not taken yet."""
        with self._cond:
            if self._full:
                self.dropped += 1
            self._item, self._full = item, True
            self.posted += 1
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> T | None:
        """The newest item, waiting up to ``timeout`` seconds; None on timeout.

        Raises :class:`Closed` once the producer closed the box and its last item was taken, so
        the final frame of a file is never lost to the end-of-stream signal.
        """
        with self._cond:
            if not self._full and not self._closed:
                self._cond.wait(timeout)
            if self._full:
                item, self._item, self._full = self._item, None, False
                return item
            if self._closed:
                raise Closed
            return None

    def nudge(self) -> None:
        """Wake a consumer waiting in :meth:`get` now (it gets None): another thread has news
        for it."""
        with self._cond:
            self._cond.notify_all()


class Timetable(_HandOver, Generic[T]):
    """A hand-over that releases items in order, each at its due time: the live path's output
    when it runs a fixed delay behind the camera (``--delay``).

    A fixed delay is what a user can match the sound to, so items are held until due rather
    than passed on when ready. A consumer that falls behind does not build a backlog: an item
    more than ``stale_s`` past due is dropped (and counted) when a later one is also due.
    """

    def __init__(self, stale_s: float) -> None:
        super().__init__()
        self.stale_s = stale_s
        self._items: deque[tuple[float, T]] = deque()

    def put(self, item: T, due: float) -> None:
        """Leave ``item`` to be taken at ``due`` (``time.perf_counter()`` seconds)."""
        with self._cond:
            self._items.append((due, item))
            self.posted += 1
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> T | None:
        """The next item once it is due, waiting up to ``timeout`` seconds; None on timeout.
        Raises :class:`Closed` once the box is closed and empty."""
        until = None if timeout is None else time.perf_counter() + timeout
        with self._cond:
            while True:
                now = time.perf_counter()
                while (len(self._items) > 1 and self._items[1][0] <= now
                       and self._items[0][0] < now - self.stale_s):
                    self._items.popleft()
                    self.dropped += 1
                if self._items and self._items[0][0] <= now:
                    return self._items.popleft()[1]
                if not self._items and self._closed:
                    raise Closed
                if until is not None and now >= until:
                    return None
                # wake for the head's due time, the timeout, or a new item, whichever is first
                wake = min(self._items[0][0] if self._items else math.inf,
                           math.inf if until is None else until)
                self._cond.wait(None if wake == math.inf else wake - now)

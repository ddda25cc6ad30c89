"""A one-slot hand-over where the newest item wins: the live path's replacement for a queue.

A queue between a camera and a model that cannot keep up grows without bound, and every frame in
it adds its age to the latency of the frames behind it. A one-slot mailbox keeps only the newest
item: a late consumer skips straight to the present, and what it skipped is counted as dropped.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class Closed(Exception):
    """The producer finished and everything it posted was taken."""


class Mailbox(Generic[T]):
    def __init__(self) -> None:
        self._item: T | None = None
        self._full = False
        self._closed = False
        self._cond = threading.Condition()
        self.posted = 0
        self.dropped = 0

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

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

"""The one contract every live source meets, as :mod:`rtmatte.sinks.base` is for outputs: a
camera and a file played in real time alike give frames at their own pace to the capture thread
(:class:`~rtmatte.sources.realtime.Grabber`)."""

from __future__ import annotations

import threading
from fractions import Fraction
from typing import Protocol

from rtmatte.types import Frame


class LiveReader(Protocol):
    """Something that produces frames at its own pace, like a camera."""

    #: (width, height) of the frames it gives
    size: tuple[int, int]
    fps: float
    time_base: Fraction
    #: what was opened, in words, for the log
    description: str
    #: seconds spent decoding or converting (not waiting for the next frame to be due)
    busy_s: float

    def read(self, stop: threading.Event) -> Frame | None:
        """The next frame with ``captured`` set; None once the stream ended or ``stop`` is set."""

    def release(self) -> None:
        """Let go of the source while nobody needs pictures; the next :meth:`read` resumes."""

    def close(self) -> None: ...

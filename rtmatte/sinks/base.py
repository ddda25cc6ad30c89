"""The one contract every output meets, in the file path and the live path alike.

A sink is told about each delivered frame (its composite picture, the frame it came from with
its timestamp, and its matte, None when the effect is off), then closed once: ``close``
finalizes what was written (a file renamed into place, a camera released), ``abort`` drops it
(nothing left under the output's name). Any list of sinks can serve one run, so a recording,
a matte sequence, a virtual camera and a preview combine freely.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from rtmatte.types import Frame, Matte


@runtime_checkable
class Sink(Protocol):
    def write(self, picture: np.ndarray, frame: Frame, matte: Matte | None) -> None:
        """Take one delivered frame: uint8 RGB (or RGBA) ``picture`` of ``frame``."""

    def close(self) -> Path | None:
        """Finalize; returns the file written, if the sink writes one and anything came."""

    def abort(self) -> None:
        """Drop what was written so far; an existing output is left as it was."""


@runtime_checkable
class Watched(Protocol):
    """A sink that knows whether anyone looks at it (a virtual camera with ``--on-demand``):
    while none of a run's watched sinks is, the live loop lets the camera go and idles."""

    @property
    def watched(self) -> bool:
        """False only while nobody reads the output."""


@runtime_checkable
class Pumped(Protocol):
    """A sink with a window the live loop must draw and read keys from on the main thread (some
    platforms draw windows there only)."""

    def pump(self, wait_ms: int = 10) -> str | None:
        """Draw the newest picture, waiting up to ``wait_ms``; the key pressed, or None."""


class SinkGroup:
    """Several sinks as one: written in order, closed all or aborted all."""

    def __init__(self, sinks: Sequence[Sink]) -> None:
        self.sinks = list(sinks)

    def write(self, picture: np.ndarray, frame: Frame, matte: Matte | None) -> None:
        for sink in self.sinks:
            sink.write(picture, frame, matte)

    def close(self) -> list[Path]:
        """Close each; when one fails the ones not yet closed are aborted and the error raised."""
        written: list[Path] = []
        for position, sink in enumerate(self.sinks):
            try:
                path = sink.close()
            except BaseException:
                SinkGroup(self.sinks[position + 1:]).abort()
                raise
            if path is not None:
                written.append(path)
        return written

    def abort(self) -> None:
        """Abort every sink, even when one of them fails; the first failure is raised."""
        failures: list[BaseException] = []
        for sink in self.sinks:
            try:
                sink.abort()
            except Exception as error:
                failures.append(error)
        if failures:
            raise failures[0]

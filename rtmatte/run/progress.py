"""Progress on a terminal: one status line redrawn in place, and the file run's bar drawn on it.

:class:`StatusLine` is the drawing both bars share (the file run's here, the cluster batch's in
:mod:`rtmatte.cluster.progress`): silent when the stream is not a terminal, redrawn at most once
per interval so a fast run spends nothing on it, and wiped so a message can take the line.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

_INTERVAL = 0.25
_BAR_CELLS = 24


class StatusLine:
    """One line on ``stream`` (default stderr), drawn when due and wiped by :meth:`clear`."""

    def __init__(self, interval: float, enabled: bool | None = None,
                 stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._interval = interval
        self._shown = 0.0
        self._width = 0

    def due(self, now: float) -> bool:
        """Whether a line is to be drawn at ``now`` (a perf_counter reading); if so, it counts
        as drawn then."""
        if not self.enabled or now - self._shown < self._interval:
            return False
        self._shown = now
        return True

    def show(self, text: str) -> None:
        """Draw ``text`` over the previous line, blanking what a longer one left."""
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)

    def clear(self) -> None:
        """Wipe the line, so a message can be said on a line of its own."""
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0
            self._shown = 0.0


def bar(share: float) -> str:
    """``share`` (0 to 1) of the bar's cells filled."""
    filled = int(share * _BAR_CELLS)
    return "#" * filled + "-" * (_BAR_CELLS - filled)


class Progress(StatusLine):
    """One file's frames, fps and ETA (or the time so far when the frame count is unknown)."""

    def __init__(self, label: str, total: int = 0, enabled: bool | None = None,
                 stream: TextIO | None = None) -> None:
        super().__init__(_INTERVAL, enabled, stream)
        self.label = label
        self.total = total
        self._started = time.perf_counter()

    def update(self, done: int) -> None:
        now = time.perf_counter()
        if not self.due(now):
            return
        elapsed = now - self._started
        fps = done / elapsed if elapsed > 0 else 0.0
        if self.total:
            eta = (self.total - done) / fps if fps > 0 else 0.0
            text = (f"{self.label} [{bar(min(done / self.total, 1.0))}] {done}/{self.total} "
                    f"frames  {fps:5.1f} fps  ETA {_clock(eta)}")
        else:
            text = f"{self.label} {done} frames  {fps:5.1f} fps  {_clock(elapsed)}"
        self.show(text)

    def finish(self) -> None:
        self.clear()


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60:d}:{seconds % 60:02d}"

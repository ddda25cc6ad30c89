"""One progress line for a whole batch: files, frames, rate and time left, on a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO

_INTERVAL = 0.5


class BatchProgress:
    """Redrawn in place at most twice a second; silent when not on a terminal (or disabled).

    The time left is the batch's own pace so far (units of work finished per second of wall
    clock, a unit being a file or a chunk) applied to what remains, so it accounts for however
    many workers the cluster gives.
    """

    def __init__(self, files: int, units: int, enabled: bool | None = None,
                 stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.files = files
        self.units = units
        self.started = time.perf_counter()
        self._shown = 0.0
        self._width = 0

    def update(self, files_done: int, failed: int, units_done: int, frames: int) -> None:
        now = time.perf_counter()
        if not self.enabled or now - self._shown < _INTERVAL:
            return
        self._shown = now
        elapsed = max(now - self.started, 1e-9)
        share = units_done / self.units if self.units else 1.0
        bar = "#" * int(share * 24) + "-" * (24 - int(share * 24))
        left = elapsed / units_done * (self.units - units_done) if units_done else 0.0
        failures = f" ({failed} failed)" if failed else ""
        text = (f"batch [{bar}] {files_done}/{self.files} files{failures}  {frames} frames  "
                f"{frames / elapsed:5.1f} fps  {60 * files_done / elapsed:.1f} files/min  "
                f"ETA {_clock(left) if units_done else '?'}")
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


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"

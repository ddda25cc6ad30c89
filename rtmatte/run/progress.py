"""A one-line progress bar on a terminal (frames, fps, ETA); silent elsewhere."""

from __future__ import annotations

import sys
import time
from typing import TextIO

_INTERVAL = 0.25


class Progress:
    def __init__(self, label: str, total: int = 0, enabled: bool | None = None,
                 stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.label = label
        self.total = total
        self._started = time.perf_counter()
        self._shown = 0.0
        self._width = 0

    def update(self, done: int) -> None:
        now = time.perf_counter()
        if not self.enabled or now - self._shown < _INTERVAL:
            return
        self._shown = now
        elapsed = now - self._started
        fps = done / elapsed if elapsed > 0 else 0.0
        if self.total:
            share = min(done / self.total, 1.0)
            filled = int(share * 24)
            bar = "#" * filled + "-" * (24 - filled)
            eta = (self.total - done) / fps if fps > 0 else 0.0
            text = (f"{self.label} [{bar}] {done}/{self.total} frames  {fps:5.1f} fps  "
                    f"ETA {_clock(eta)}")
        else:
            text = f"{self.label} {done} frames  {fps:5.1f} fps  {_clock(elapsed)}"
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)

    def finish(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60:d}:{seconds % 60:02d}"

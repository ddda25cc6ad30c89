"""One progress line for a whole batch: files, frames, rate and time left, on a terminal."""

from __future__ import annotations

import time
from typing import TextIO

from rtmatte.run.progress import StatusLine, bar

_INTERVAL = 0.5


class BatchProgress(StatusLine):
    """Redrawn in place at most twice a second; silent when not on a terminal (or disabled).

    The time left is the batch's own pace so far (units of work finished per second of wall
    clock, a unit being a file or a chunk) applied to what remains, so it accounts for however
    many workers the cluster gives.
    """

    def __init__(self, files: int, units: int, enabled: bool | None = None,
                 stream: TextIO | None = None) -> None:
        super().__init__(_INTERVAL, enabled, stream)
        self.files = files
        self.units = units
        self.started = time.perf_counter()

    def update(self, files_done: int, failed: int, units_done: int, frames: int) -> None:
        now = time.perf_counter()
        if not self.due(now):
            return
        elapsed = max(now - self.started, 1e-9)
        share = units_done / self.units if self.units else 1.0
        left = elapsed / units_done * (self.units - units_done) if units_done else 0.0
        failures = f" ({failed} failed)" if failed else ""
        text = (f"batch [{bar(share)}] {files_done}/{self.files} files{failures}  {frames} frames  "
                f"{frames / elapsed:5.1f} fps  {60 * files_done / elapsed:.1f} files/min  "
                f"ETA {_clock(left) if units_done else '?'}")
        self.show(text)


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"

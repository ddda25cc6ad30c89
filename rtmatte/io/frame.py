"""The unit that travels through the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np


@dataclass
class Frame:
    """One picture: uint8 RGB pixels (H, W, 3) with the timestamp it had in its source.

    ``pts`` and ``time_base`` are kept exactly as the source gave them so a file keeps its timing
    (variable frame rate too) instead of being re-timed from an fps float. ``captured`` is a
    ``time.perf_counter()`` reading for live sources, used to measure glass-to-output latency.
    """

    rgb: np.ndarray
    index: int
    pts: int | None = None
    time_base: Fraction | None = None
    captured: float | None = None
    extras: dict = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        """Presentation time in seconds (0 when the source has no timestamps)."""
        if self.pts is None or self.time_base is None:
            return 0.0
        return float(self.pts * self.time_base)

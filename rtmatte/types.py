"""The data every stage passes on, in one neutral module that imports no stage.

Sources make :class:`Frame`; the matting stage makes :class:`Matte`; post-processing changes a
Matte; the compositor makes a picture from both; sinks take all three. Keeping the types here
lets each stage package be read and tested alone, and none import another for a type.
"""

from __future__ import annotations

from dataclasses import dataclass
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

    @property
    def seconds(self) -> float:
        """Presentation time in seconds (0 when the source has no timestamps)."""
        if self.pts is None or self.time_base is None:
            return 0.0
        return float(self.pts * self.time_base)


@dataclass
class Matte:
    """What the model says about one frame: alpha (H, W) float32 in [0, 1], and foreground
    colours (H, W, 3): float32 in [0, 1], or uint8 where a step already had them as 8-bit
    pixels (the live path enlarges a small matte's colours as uint8: a quarter of the bytes).
    The compositor takes either; every other step keeps the dtype it was given."""

    alpha: np.ndarray
    fgr: np.ndarray

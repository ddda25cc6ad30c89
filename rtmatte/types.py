"""The data every stage passes on, in one neutral module that imports no stage.

Sources make :class:`Frame`; the matting stage makes :class:`Matte`; post-processing changes a
Matte; the compositor makes a picture from both; sinks take all three. Keeping the types here
lets each stage package be read and tested alone, and none import another for a type.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

#: how a stage says something to the person running it (the CLI prints it; a server logs it)
Notify = Callable[[str], None]


#: FFmpeg's code for a colour property nobody stated (primaries, transfer and matrix alike)
UNSPECIFIED = 2


@dataclass(frozen=True)
class Display:
    """How a source's pictures are meant to be shown, so a copy is shown the same way: the shape
    of one pixel (width / height, not 1 in anamorphic video) and the colour space of the RGB
    values, as FFmpeg's codes for primaries and transfer, and the Y'CbCr matrix they were
    decoded with (a sink writes with the same one, so colours go back where they came from)."""

    pixel_aspect: Fraction = Fraction(1)
    primaries: int = UNSPECIFIED
    transfer: int = UNSPECIFIED
    matrix: int = UNSPECIFIED


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
    display: Display = Display()

    @property
    def seconds(self) -> float:
        """Presentation time in seconds (0 when the source has no timestamps)."""
        if self.pts is None or self.time_base is None:
            return 0.0
        return float(self.pts * self.time_base)


@dataclass
class Matte:
    """What the model says about one frame: alpha (H, W) float32 in [0, 1], and the foreground
    colours (H, W, 3) uint8, the person's own colours with the old background taken out of
    their edges.

    Colours are 8-bit from the moment the model has given them: the compositor blends 8-bit
    pictures, the live path enlarges a small matte's colours at a quarter of float's bytes, and
    no step after the model changes them. Alpha stays float: post steps work on it."""

    alpha: np.ndarray
    fgr: np.ndarray

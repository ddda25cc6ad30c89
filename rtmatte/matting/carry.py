"""Carrying a matte to a frame the model skipped, along the motion between the two frames.

Holding the last alpha on a skipped frame puts the edge where the person *was*: on a moving
person every held frame is wrong by the motion of one frame interval, and the edge jumps twice
as far on the next model frame, which doubles the temporal error (dtSSD) against running the
model on every frame (docs/live-cpu.md). Dense optical flow between small grey copies of the two
frames costs well under a millisecond (OpenCV's DIS, ultrafast preset, 256 px long side), so the
matte can follow the motion instead for a few milliseconds more than holding it.

The flow is computed from the new frame to the model's frame (backward), so every pixel of the
new frame looks up where it came from: no holes, no overlaps, one ``remap`` per picture.
"""

from __future__ import annotations

import cv2
import numpy as np

from rtmatte.types import Matte

#: long side (px) of the grey pictures the flow is computed on: past this the flow costs more
#: and the matte gains nothing measurable (docs/live-cpu.md)
FLOW_LONG_SIDE = 256


def _grey(rgb: np.ndarray, long_side: int) -> np.ndarray:
    height, width = rgb.shape[:2]
    scale = min(1.0, long_side / max(height, width))
    small = cv2.resize(rgb, (max(8, round(width * scale)), max(8, round(height * scale))),
                       interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)


class MotionCarry:
    """Keeps the model's last frame and matte, and moves that matte onto later frames."""

    def __init__(self, long_side: int = FLOW_LONG_SIDE) -> None:
        self.long_side = long_side
        self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._key: np.ndarray | None = None
        self._matte: Matte | None = None
        self._grid: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def ready(self) -> bool:
        return self._matte is not None

    def reset(self) -> None:
        self._key = None
        self._matte = None

    def keep(self, rgb: np.ndarray, matte: Matte) -> None:
        """Remember the frame the model just matted, and its matte."""
        self._key = _grey(rgb, self.long_side)
        self._matte = matte

    def __call__(self, rgb: np.ndarray) -> Matte:
        """The kept matte moved onto ``rgb`` (a later frame of the same size)."""
        assert self._key is not None and self._matte is not None
        flow = self._flow.calc(_grey(rgb, self.long_side), self._key, None)
        height, width = rgb.shape[:2]
        map_x, map_y = self._maps(flow, height, width)
        alpha = cv2.remap(self._matte.alpha, map_x, map_y, cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
        fgr = cv2.remap(self._matte.fgr, map_x, map_y, cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE)
        return Matte(alpha=alpha, fgr=fgr)

    def _maps(self, flow: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-pixel source coordinates at full size from the small flow field."""
        if self._grid is None or self._grid[0].shape != (height, width):
            self._grid = (np.tile(np.arange(width, dtype=np.float32), (height, 1)),
                          np.tile(np.arange(height, dtype=np.float32)[:, None], (1, width)))
        flow_x, flow_y = cv2.split(cv2.resize(flow, (width, height),
                                              interpolation=cv2.INTER_LINEAR))
        map_x = cv2.scaleAdd(flow_x, width / flow.shape[1], self._grid[0])
        map_y = cv2.scaleAdd(flow_y, height / flow.shape[0], self._grid[1])
        return map_x, map_y

"""Carrying a matte to a frame the model skipped, along the motion between the two frames.

Holding the last alpha on a skipped frame puts the edge where the person *was*: on a moving
person every held frame is wrong by the motion of one frame interval, and the edge jumps twice
as far on the next model frame, which doubles the temporal error (dtSSD) against running the
model on every frame (docs/live-cpu.md). Dense optical flow between small grey copies of the two
frames costs well under a millisecond (OpenCV's DIS, ultrafast preset, 256 px long side), so the
matte can follow the motion instead for a few milliseconds more than holding it.

The flow is computed from the new frame to the model's frame (backward), so every pixel of the
new frame looks up where it came from: no holes, no overlaps, one ``remap`` per picture.

When the output may wait a few frames (``--delay``), a skipped frame also has the model's *next*
frame: its matte is then carried from both sides and blended by nearness in time, which halves
what either flow gets wrong (docs/live-cpu.md, "--delay").
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from rtmatte.types import Matte

#: long side (px) of the grey pictures the flow is computed on: past this the flow costs more
#: and the matte gains nothing measurable (docs/live-cpu.md)
FLOW_LONG_SIDE = 256


@dataclass(frozen=True)
class Keyframe:
    """A frame the model matted: its small grey copy (what the flow is computed on) and its
    matte."""

    grey: np.ndarray
    matte: Matte


class MotionCarry:
    """Moves the model's mattes onto the frames it skipped.

    The DIS flow object keeps scratch buffers between calls, so one MotionCarry belongs to one
    thread.
    """

    def __init__(self, long_side: int = FLOW_LONG_SIDE) -> None:
        self.long_side = long_side
        self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._key: Keyframe | None = None

    def grey(self, rgb: np.ndarray) -> np.ndarray:
        """The small grey copy of ``rgb`` that flows are computed on. Grey first, then shrunk:
        both are averages, so the order changes only rounding, and one channel to shrink instead
        of three halves the cost (1.2 ms against 2.4 ms at 960x540)."""
        height, width = rgb.shape[:2]
        scale = min(1.0, self.long_side / max(height, width))
        return cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY),
                          (max(8, round(width * scale)), max(8, round(height * scale))),
                          interpolation=cv2.INTER_AREA)

    def keyframe(self, rgb: np.ndarray, matte: Matte) -> Keyframe:
        return Keyframe(self.grey(rgb), matte)

    def keep(self, rgb: np.ndarray, matte: Matte) -> None:
        """Remember the frame the model just matted, and its matte."""
        self._key = self.keyframe(rgb, matte)

    def __call__(self, rgb: np.ndarray) -> Matte:
        """The kept matte moved onto ``rgb`` (a later frame of the same size)."""
        assert self._key is not None
        return self.carry(self.grey(rgb), self._key)

    def carry(self, grey: np.ndarray, key: Keyframe) -> Matte:
        """``key``'s matte moved onto the frame whose grey copy is ``grey``."""
        where = self._sources(grey, key)
        return Matte(alpha=_warp(key.matte.alpha, where), fgr=_warp(key.matte.fgr, where))

    def between(self, grey: np.ndarray, before: Keyframe, after: Keyframe,
                weight: float) -> Matte:
        """The matte of a frame between two model frames, ``weight`` of the way from ``before``
        (0) to ``after`` (1): both alphas carried onto it and blended by nearness in time. The
        colours come from the nearer one alone; a second warp of them (a third of the cost)
        would change only what the alpha already hides."""
        from_before, from_after = self._sources(grey, before), self._sources(grey, after)
        alpha = cv2.addWeighted(_warp(before.matte.alpha, from_before), 1.0 - weight,
                                _warp(after.matte.alpha, from_after), weight, 0.0)
        near, where = (before, from_before) if weight <= 0.5 else (after, from_after)
        return Matte(alpha=alpha, fgr=_warp(near.matte.fgr, where))

    def _sources(self, grey: np.ndarray, key: Keyframe) -> np.ndarray:
        """For every full-size pixel of the frame whose grey copy is ``grey``, where it was in
        ``key``'s frame (x, y), as one two-channel map for ``cv2.remap``."""
        flow = self._flow.calc(grey, key.grey, None)
        height, width = key.matte.alpha.shape[:2]
        return _source_map(flow, height, width)


def _source_map(flow: np.ndarray, height: int, width: int) -> np.ndarray:
    """Full-size absolute source coordinates from a small backward flow field.

    The small field is turned into absolute coordinates first and enlarged once: bilinear
    enlarging reproduces the pixel grid exactly, so this is the same map as enlarging the flow
    and adding the grid, in one resize instead of three full-size passes (1 ms against 8 ms at
    960x540). Only the outermost pixel or two, where the enlarging clamps, point up to
    1.4 px inwards (960x540 from 256x144).
    """
    small_h, small_w = flow.shape[:2]
    scale_x, scale_y = width / small_w, height / small_h
    # pixel centres line up as cv2.resize aligns them: small (u + 0.5) * scale - 0.5 = full x
    grid_x = (np.arange(small_w, dtype=np.float32) + 0.5) * scale_x - 0.5
    grid_y = (np.arange(small_h, dtype=np.float32) + 0.5) * scale_y - 0.5
    where = np.empty_like(flow)
    where[..., 0] = flow[..., 0] * np.float32(scale_x) + grid_x
    where[..., 1] = flow[..., 1] * np.float32(scale_y) + grid_y[:, None]
    return cv2.resize(where, (width, height), interpolation=cv2.INTER_LINEAR)


def _warp(picture: np.ndarray, where: np.ndarray) -> np.ndarray:
    return cv2.remap(picture, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

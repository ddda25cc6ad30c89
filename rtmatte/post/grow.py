"""``--grow`` / ``--shrink``: move the matte's edge out or in by a distance, keeping it soft.

A grey-level dilation (``--erode -N``) pushes every soft value outwards by N pixels, so a hair
strand of alpha 0.3 becomes a 0.3-alpha band N pixels wide and the body's edge is as hard or
soft as it was; a binary dilation would cut the edge square. Here the edge is moved by distance
instead: the body (alpha at least 0.5) is grown or shrunk by the distance transform, and the
new edge is a smooth ramp ``softness`` pixels wide around the moved contour. Growing takes the
larger of that ramp and the model's alpha, so strands beyond the new edge stay as they were;
shrinking takes the smaller, so the old edge's soft values never come back inside.
"""

from __future__ import annotations

import cv2
import numpy as np

from rtmatte.types import Matte


def _ramp(distance: np.ndarray, at: float, width: float) -> np.ndarray:
    """Smoothstep from 1 (``distance`` ≤ at - width/2) to 0 (≥ at + width/2), float32."""
    t = np.clip((at + width / 2 - distance) / width, 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


class EdgeMover:
    """``pixels`` > 0 grows the kept area outwards, < 0 shrinks it inwards."""

    def __init__(self, pixels: float, softness: float | None = None) -> None:
        self.pixels = float(pixels)
        self.softness = float(softness) if softness else max(2.0, abs(self.pixels))

    def reset(self) -> None:
        """Stateless."""

    def __call__(self, rgb: np.ndarray, matte: Matte) -> Matte:
        alpha = matte.alpha
        body = (alpha >= 0.5).astype(np.uint8)
        if self.pixels > 0:
            outside = cv2.distanceTransform(1 - body, cv2.DIST_L2, cv2.DIST_MASK_5)
            moved = np.maximum(alpha, _ramp(outside, self.pixels, self.softness))
        else:
            inside = cv2.distanceTransform(body, cv2.DIST_L2, cv2.DIST_MASK_5)
            moved = np.minimum(alpha, 1.0 - _ramp(inside, -self.pixels, self.softness))
        return Matte(alpha=moved, fgr=matte.fgr)

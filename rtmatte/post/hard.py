"""A crisp cut: alpha made binary by hysteresis thresholding.

A single threshold makes a ragged edge and lets faint background blotches through; hysteresis
keeps a pixel only when it is fairly sure (``low``) *and* connected to a region that is very
sure (``high``), so faint islands away from the person vanish while the person's edge stays
continuous.
"""

from __future__ import annotations

import cv2
import numpy as np

from rtmatte.types import Matte


def hysteresis(alpha: np.ndarray, low: float, high: float) -> np.ndarray:
    """float32 0/1 mask: pixels ≥ ``low`` in an 8-connected region holding a pixel ≥ ``high``."""
    weak = (alpha >= low).astype(np.uint8)
    count, labels = cv2.connectedComponents(weak, connectivity=8)
    if count <= 1:
        return np.zeros(alpha.shape, dtype=np.float32)
    keep = np.zeros(count, dtype=np.float32)
    keep[np.unique(labels[alpha >= high])] = 1.0
    keep[0] = 0.0
    return keep[labels]


class HardCut:
    def __init__(self, low: float = 0.35, high: float = 0.75) -> None:
        self.low = float(low)
        self.high = float(high)

    def reset(self) -> None:
        """Stateless."""

    def __call__(self, rgb: np.ndarray, matte: Matte) -> Matte:
        return Matte(alpha=hysteresis(matte.alpha, self.low, self.high), fgr=matte.fgr)

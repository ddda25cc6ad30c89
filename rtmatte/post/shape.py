"""Shrinking, growing and softening the matte's edge: the manual controls a user reaches for
when a subject keeps a rim of old background (erode), loses a fringe of hair (dilate) or looks
cut out with scissors (feather)."""

from __future__ import annotations

import cv2
import numpy as np

from rtmatte.types import Matte


class EdgeShaper:
    """``erode`` px > 0 shrinks the subject, < 0 grows it; ``feather`` is a Gaussian sigma in px.

    Grey-level erosion (a local minimum) moves the whole soft edge inwards instead of thinning
    it, so the edge keeps the softness the model gave it.
    """

    def __init__(self, erode: int = 0, feather: float = 0.0) -> None:
        self.erode = int(erode)
        self.feather = float(feather)
        size = 2 * abs(self.erode) + 1
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))

    def reset(self) -> None:
        """Stateless."""

    def __call__(self, rgb: np.ndarray, matte: Matte) -> Matte:
        alpha = matte.alpha
        if self.erode > 0:
            alpha = cv2.erode(alpha, self._kernel, borderType=cv2.BORDER_REPLICATE)
        elif self.erode < 0:
            alpha = cv2.dilate(alpha, self._kernel, borderType=cv2.BORDER_REPLICATE)
        if self.feather > 0:
            alpha = cv2.GaussianBlur(alpha, (0, 0), self.feather,
                                     borderType=cv2.BORDER_REPLICATE)
        return Matte(alpha=alpha, fgr=matte.fgr)

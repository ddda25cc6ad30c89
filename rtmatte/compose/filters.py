"""Blurs shared by the backgrounds and the edge treatments.

Both work on quarter-size copies: their results are smooth anyway, and a quarter of the size is a
sixteenth of the work on every frame at up to 1080p on a couple of CPU cores.
"""

from __future__ import annotations

import cv2
import numpy as np

SCALE = 4


def quarter(image: np.ndarray) -> np.ndarray:
    """``image`` shrunk by :data:`SCALE` on each side (area-averaged)."""
    height, width = image.shape[:2]
    size = (max(1, width // SCALE), max(1, height // SCALE))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def weighted_blur(image: np.ndarray, weight: np.ndarray,
                  sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Local average of ``image`` (float32, H x W x C) counting each pixel by ``weight`` (H x W).

    This is normalised convolution: blur(image * weight) / blur(weight). Pixels with no weight
    nearby (the second result, the blurred weight, is about 0 there) get an arbitrary value, so
    callers check it.
    """
    return premultiplied_blur(image * weight[..., None], weight, sigma)


def premultiplied_blur(weighted: np.ndarray, weight: np.ndarray,
                       sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`weighted_blur` of an image already multiplied by its weight. Shrinking both
    (``cv2.pyrDown``) before the blur keeps the result a weighted average, which lets a wide
    blur be taken on a much smaller copy."""
    support = cv2.GaussianBlur(weight, (0, 0), sigma)
    mean = cv2.GaussianBlur(weighted, (0, 0), sigma)
    mean /= np.maximum(support, 1e-4)[..., None]
    return mean, support

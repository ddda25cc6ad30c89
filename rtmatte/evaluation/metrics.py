"""Alpha-matte error measures, with the definitions and scalings of the RVM paper's evaluation.

All inputs are float alpha in [0, 1]. The paper prints MAD and MSE ×1e3, Grad and Conn ×1e-3 and
dtSSD ×1e2; the functions here return those scaled values so tables line up with the paper's.
Grad and Conn are sums over pixels, so they grow with the frame size: compare them only between
runs at the same resolution.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

import cv2
import numpy as np

SCALES = {"mad": 1e3, "mse": 1e3, "grad": 1e-3, "conn": 1e-3, "dtssd": 1e2, "flicker": 1e3}
_GRAD_SIGMA = 1.4
_CONN_STEP = 0.1
_CONN_MIN_DIFF = 0.15


def mad(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean absolute difference, ×1e3."""
    return float(np.abs(pred - true).mean()) * SCALES["mad"]


def mse(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean squared error, ×1e3."""
    return float(np.square(pred - true).mean()) * SCALES["mse"]


def _gaussian_derivative_kernel(sigma: float, epsilon: float = 1e-2) -> np.ndarray:
    """The x-derivative-of-Gaussian filter of Rhemann et al.'s gradient error, unit L2 norm.

    Its half width is where the Gaussian falls to ``epsilon`` of its peak-normalised value, the
    same truncation the reference evaluation uses, so the scores agree with published ones.
    """
    half = int(np.ceil(sigma * np.sqrt(-2.0 * np.log(np.sqrt(2.0 * np.pi) * sigma * epsilon))))
    offsets = np.arange(-half, half + 1, dtype=np.float64)
    gauss = np.exp(-offsets**2 / (2.0 * sigma**2)) / (sigma * np.sqrt(2.0 * np.pi))
    dgauss = -offsets * gauss / sigma**2
    kernel = np.outer(gauss, dgauss)  # rows vary along y (smoothing), columns along x (derivative)
    return (kernel / np.sqrt(np.square(kernel).sum())).astype(np.float32)


_KERNEL_X = _gaussian_derivative_kernel(_GRAD_SIGMA)


def _gradient_magnitude(alpha: np.ndarray) -> np.ndarray:
    normed = cv2.normalize(alpha.astype(np.float32), None, 1.0, 0.0, cv2.NORM_MINMAX)
    gx = cv2.filter2D(normed, -1, _KERNEL_X, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.filter2D(normed, -1, _KERNEL_X.T, borderType=cv2.BORDER_REPLICATE)
    return np.sqrt(gx * gx + gy * gy)


def grad(pred: np.ndarray, true: np.ndarray) -> float:
    """Gradient error: summed squared difference of Gaussian-derivative magnitudes, ×1e-3.

    Each matte is min-max normalised first, as in the reference evaluation, so a uniformly dim
    matte is not punished twice (MAD already counts it).
    """
    diff = _gradient_magnitude(pred) - _gradient_magnitude(true)
    return float(np.square(diff).sum()) * SCALES["grad"]


def _largest_component(mask: np.ndarray) -> np.ndarray:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8),
                                                                connectivity=4)
    if count <= 1:
        return np.zeros(mask.shape, dtype=bool)
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == biggest


def conn(pred: np.ndarray, true: np.ndarray) -> float:
    """Connectivity error of Rhemann et al., ×1e-3.

    A pixel's level ``l`` is the last threshold at which it still belonged to the largest region
    that both mattes agree is solid; alpha above ``l`` by at least 0.15 counts as connected. The
    error is what a viewer sees as islands and holes, which MAD hardly registers.
    """
    level = np.full(true.shape, -1.0, dtype=np.float32)
    thresholds = np.arange(0.0, 1.0 + _CONN_STEP, _CONN_STEP)
    for previous, threshold in pairwise(thresholds):
        omega = _largest_component((true >= threshold) & (pred >= threshold))
        level[(level == -1.0) & ~omega] = previous
    level[level == -1.0] = 1.0
    true_d, pred_d = true - level, pred - level
    true_phi = 1.0 - true_d * (true_d >= _CONN_MIN_DIFF)
    pred_phi = 1.0 - pred_d * (pred_d >= _CONN_MIN_DIFF)
    return float(np.abs(true_phi - pred_phi).sum()) * SCALES["conn"]


def dtssd(pred: np.ndarray, pred_prev: np.ndarray, true: np.ndarray,
          true_prev: np.ndarray) -> float:
    """Temporal coherence: RMS of the difference between predicted and true frame-to-frame
    change, ×1e2. A matte can be right on average and still shimmer; this sees the shimmer."""
    change = (pred - pred_prev) - (true - true_prev)
    return float(np.sqrt(np.square(change).mean())) * SCALES["dtssd"]


def flicker(pred: np.ndarray, pred_prev: np.ndarray, static: np.ndarray) -> float | None:
    """Mean |Δalpha| between consecutive frames over pixels whose input did not change, ×1e3.

    In those pixels the right answer cannot have changed either, so any change is flicker. None
    when no pixel is static (nothing to measure).
    """
    if not static.any():
        return None
    return float(np.abs(pred[static] - pred_prev[static]).mean()) * SCALES["flicker"]


def image_scores(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """The four single-image scores of one matte."""
    return {"mad": mad(pred, true), "mse": mse(pred, true), "grad": grad(pred, true),
            "conn": conn(pred, true)}


@dataclass
class ClipScores:
    """Running per-frame scores of one clip; ``summary`` averages each over the frames that had
    it (dtSSD and flicker need a previous frame, so they start at the second)."""

    values: dict[str, list[float]] = field(default_factory=dict)
    _previous: tuple[np.ndarray, np.ndarray] | None = None

    def add(self, pred: np.ndarray, true: np.ndarray, static: np.ndarray | None = None,
            spatial: bool = True) -> None:
        """Score one frame; ``spatial=False`` skips Grad and Conn (the slow ones)."""
        scores = image_scores(pred, true) if spatial else {"mad": mad(pred, true),
                                                           "mse": mse(pred, true)}
        if self._previous is not None:
            pred_prev, true_prev = self._previous
            scores["dtssd"] = dtssd(pred, pred_prev, true, true_prev)
            if static is not None:
                value = flicker(pred, pred_prev, static)
                if value is not None:
                    scores["flicker"] = value
        self._previous = (pred, true)
        for name, value in scores.items():
            self.values.setdefault(name, []).append(value)

    def summary(self) -> dict[str, float]:
        return {name: float(np.mean(vals)) for name, vals in self.values.items()}

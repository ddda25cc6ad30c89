"""Edge refinement with a colour guided filter (He, Sun and Tang), guided by the full frame.

The model decides alpha on a downscaled copy of the frame; its upsampled edges follow the
person only roughly. A guided filter fits alpha locally as a linear function of the frame's
colours, so the edge snaps to where the colours actually change, hair strands included. The
fit is done at reduced size and its coefficients are applied at full size ("fast guided
filter"), and the result only replaces alpha in the uncertain band around the edge, so the
solid inside and the clean outside stay exactly as the model said.
"""

from __future__ import annotations

import cv2
import numpy as np

from rtmatte.types import Matte

#: the fit is computed at this long side at most
_FIT_LONG_SIDE = 640
_SOLID = 0.98
_CLEAR = 0.02


def _box(image: np.ndarray, radius: int) -> np.ndarray:
    return cv2.blur(image, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)


def guided_coefficients(guide: np.ndarray, target: np.ndarray, radius: int,
                        eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel (a, b), averaged over windows, with target ≈ a·guide + b locally.

    ``guide`` is float32 (H, W, 3) in [0, 1]; ``target`` float32 (H, W). The 3×3 covariance is
    inverted in closed form (adjugate / determinant), so nothing is looped in Python.
    """
    mean_i = _box(guide, radius)
    mean_p = _box(target, radius)
    cov_ip = _box(guide * target[..., None], radius) - mean_i * mean_p[..., None]
    pairs = {}
    for i in range(3):
        for j in range(i, 3):
            pairs[i, j] = (_box(guide[..., i] * guide[..., j], radius)
                           - mean_i[..., i] * mean_i[..., j])
    rr, rg, rb = pairs[0, 0] + eps, pairs[0, 1], pairs[0, 2]
    gg, gb, bb = pairs[1, 1] + eps, pairs[1, 2], pairs[2, 2] + eps
    inv = [[gg * bb - gb * gb, rb * gb - rg * bb, rg * gb - rb * gg],
           [0, rr * bb - rb * rb, rb * rg - rr * gb],
           [0, 0, rr * gg - rg * rg]]
    inv[1][0], inv[2][0], inv[2][1] = inv[0][1], inv[0][2], inv[1][2]
    det = rr * inv[0][0] + rg * inv[1][0] + rb * inv[2][0]
    a = np.stack([sum(inv[k][c] * cov_ip[..., c] for c in range(3)) / det for k in range(3)],
                 axis=-1)
    b = mean_p - (a * mean_i).sum(axis=-1)
    return _box(a, radius), _box(b, radius)


class GuidedRefiner:
    """Refines the edge band of alpha; ``radius`` is in full-resolution pixels."""

    def __init__(self, radius: int = 8, eps: float = 1e-3) -> None:
        self.radius = int(radius)
        self.eps = float(eps)

    def reset(self) -> None:
        """Stateless: every frame is refined on its own."""

    def __call__(self, rgb: np.ndarray, matte: Matte) -> Matte:
        alpha = matte.alpha
        height, width = alpha.shape
        band = ((alpha > _CLEAR) & (alpha < _SOLID)).astype(np.uint8)
        if not band.any() or self.radius < 1:
            return matte
        scale = min(1.0, _FIT_LONG_SIDE / max(height, width))
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small_rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        small_guide = small_rgb.astype(np.float32) * np.float32(1.0 / 255.0)
        small_alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
        radius = max(1, round(self.radius * scale))
        a, b = guided_coefficients(small_guide, small_alpha, radius, self.eps)
        a = cv2.resize(a, (width, height), interpolation=cv2.INTER_LINEAR)
        b = cv2.resize(b, (width, height), interpolation=cv2.INTER_LINEAR)
        guide = rgb.astype(np.float32)
        guide *= np.float32(1.0 / 255.0)
        guide *= a
        refined = guide.sum(axis=2)
        refined += b
        np.clip(refined, 0.0, 1.0, out=refined)
        reach = cv2.dilate(band, np.ones((2 * self.radius + 1,) * 2, np.uint8)) > 0
        out = np.where(reach, refined, alpha)
        return Matte(alpha=out.astype(np.float32, copy=False), fgr=matte.fgr)

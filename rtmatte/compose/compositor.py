"""Putting the matted subject onto its new background."""

from __future__ import annotations

import cv2
import numpy as np

from rtmatte.compose.backgrounds import Background
from rtmatte.compose.edges import decontaminate, light_wrap
from rtmatte.io.frame import Frame
from rtmatte.matting.matter import Matte
from rtmatte.post.chain import PostSettings


class Compositor:
    """Blends the model's foreground colours over a background, or emits RGBA when transparent.

    The model's ``fgr`` is used rather than the camera pixels: at hair and other soft edges the
    camera pixels still hold the old background's colour, which would show as a fringe. The
    post settings add edge decontamination (what the model's ``fgr`` still holds of the old
    background) and light wrap; neither changes alpha.
    """

    def __init__(self, background: Background | None, post: PostSettings | None = None) -> None:
        self.background = background
        self.post = post or PostSettings()

    @property
    def transparent(self) -> bool:
        return self.background is None

    def __call__(self, frame: Frame, matte: Matte) -> np.ndarray:
        alpha = np.ascontiguousarray(matte.alpha, dtype=np.float32)
        fgr = matte.fgr
        if self.post.decontaminate:
            fgr = np.array(fgr, dtype=np.float32, order="C")  # the caller's matte stays as it was
            decontaminate(fgr, alpha)
        if self.background is None:
            return to_rgba(fgr, alpha)
        backdrop = self.background.render(frame, alpha)
        # fgr * alpha + backdrop * (1 - alpha) in one OpenCV pass over uint8 pictures: about 3x
        # faster than the same sum in float32 NumPy at 720p, and this runs on every frame
        foreground = cv2.convertScaleAbs(np.ascontiguousarray(fgr), alpha=255.0)
        picture = cv2.blendLinear(foreground, backdrop, alpha, 1.0 - alpha)
        if self.post.light_wrap > 0:
            lit = picture.astype(np.float32)
            light_wrap(lit, backdrop, alpha, self.post.light_wrap)
            picture = np.clip(lit + 0.5, 0, 255).astype(np.uint8)
        return picture


def to_rgba(fgr: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Straight (not premultiplied) uint8 RGBA from float foreground and alpha in [0, 1]."""
    height, width = alpha.shape
    rgba = np.empty((height, width, 4), dtype=np.uint8)
    rgba[..., :3] = np.clip(fgr * 255.0 + 0.5, 0, 255)
    rgba[..., 3] = np.clip(alpha * 255.0 + 0.5, 0, 255)
    return rgba

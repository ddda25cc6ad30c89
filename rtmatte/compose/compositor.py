"""Putting the matted subject onto its new background."""

from __future__ import annotations

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
        alpha = matte.alpha
        if self.background is None:
            fgr = matte.fgr
            if self.post.decontaminate:
                fgr = fgr.copy()
                decontaminate(fgr, alpha)
            return to_rgba(fgr, alpha)
        backdrop_u8 = self.background.render(frame, alpha)
        backdrop = backdrop_u8.astype(np.float32)
        weight = alpha[..., np.newaxis]
        # backdrop + (fgr - backdrop) * alpha, in place to keep full-frame temporaries to one
        blended = matte.fgr * np.float32(255.0)
        if self.post.decontaminate:
            decontaminate(blended, alpha)
        blended -= backdrop
        blended *= weight
        blended += backdrop
        light_wrap(blended, backdrop_u8, alpha, self.post.light_wrap)
        blended += np.float32(0.5)
        return np.clip(blended, 0, 255, out=blended).astype(np.uint8)


def to_rgba(fgr: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Straight (not premultiplied) uint8 RGBA from float foreground and alpha in [0, 1]."""
    height, width = alpha.shape
    rgba = np.empty((height, width, 4), dtype=np.uint8)
    rgba[..., :3] = np.clip(fgr * 255.0 + 0.5, 0, 255)
    rgba[..., 3] = np.clip(alpha * 255.0 + 0.5, 0, 255)
    return rgba

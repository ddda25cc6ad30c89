"""Motion-adaptive temporal smoothing of alpha.

RVM's recurrent state already carries memory, but its output still shimmers by a few percent
where nothing moves: sensor noise changes the input a little every frame, and the matte follows.
A plain running average would cure that and add lag to every real movement. Here each pixel's
blend with the previous output is weighted by how still that pixel is, judged twice: the picture
must not have changed there (beyond noise) and the model's alpha must not have jumped. Moving
edges therefore take the new matte as it is, and only still regions are averaged.
"""

from __future__ import annotations

import cv2
import numpy as np

from rtmatte.types import Matte

#: motion is judged on a grey copy with this long side: averaging pixels there removes most of
#: the sensor noise, and it is far cheaper than full resolution
_MOTION_LONG_SIDE = 320
#: a change of alpha this large is taken as the subject really moving, not as flicker
_ALPHA_JUMP = 0.3


class TemporalSmoother:
    """Exponential smoothing whose per-pixel weight fades out with motion.

    ``strength`` is the weight of the previous output in a perfectly still pixel (0 switches the
    step off, 0.8 averages about five frames); ``motion`` is the grey-level change (0-255) of
    the downscaled frame at which that weight has fallen to 1/e of its value.
    """

    def __init__(self, strength: float = 0.8, motion: float = 8.0) -> None:
        self.strength = float(strength)
        self.motion = float(motion)
        self.reset()

    def reset(self) -> None:
        self._grey: np.ndarray | None = None
        self._alpha: np.ndarray | None = None

    def _small_grey(self, rgb: np.ndarray) -> np.ndarray:
        height, width = rgb.shape[:2]
        scale = min(1.0, _MOTION_LONG_SIDE / max(height, width))
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        return cv2.resize(grey, size, interpolation=cv2.INTER_AREA).astype(np.float32)

    def __call__(self, rgb: np.ndarray, matte: Matte) -> Matte:
        grey = self._small_grey(rgb)
        previous_grey, previous_alpha = self._grey, self._alpha
        self._grey = grey
        if (previous_grey is None or previous_alpha is None
                or previous_alpha.shape != matte.alpha.shape):
            self._alpha = matte.alpha
            return matte
        change = cv2.absdiff(grey, previous_grey)
        # a moving object's flat interior barely changes; spreading the change a few pixels
        # keeps the smoothing off the whole neighbourhood of a moving edge
        change = cv2.dilate(change, np.ones((3, 3), np.uint8))
        ratio = change * np.float32(1.0 / self.motion)
        weight = np.exp(-(ratio * ratio)) * np.float32(self.strength)
        height, width = matte.alpha.shape
        weight = cv2.resize(weight, (width, height), interpolation=cv2.INTER_LINEAR)
        delta = previous_alpha - matte.alpha
        weight *= np.clip(1.0 - np.abs(delta) * np.float32(1.0 / _ALPHA_JUMP), 0.0, 1.0)
        delta *= weight
        delta += matte.alpha
        self._alpha = delta
        return Matte(alpha=delta, fgr=matte.fgr)

"""``--harmonize S``: a light colour transfer that sits the subject into the new background.

A person lit by a warm room pasted onto a cool beach looks pasted. Each colour channel of the
subject is moved towards the background's statistics by the share ``S`` (0-1): its mean by S
of the difference, its spread by the ratio of spreads to the power S (held within 2/3-3/2, so
a flat background cannot wash the subject out). The statistics come from quarter-size copies
(the subject's solid pixels, the whole background) and are smoothed over frames so the colour
does not pump as people move; the transfer itself is one lookup table over the 8-bit colours.
"""

from __future__ import annotations

import cv2
import numpy as np

from rtmatte.compose.filters import quarter

_SPREAD_LIMITS = (2.0 / 3.0, 1.5)
#: weight of the previous frame's transfer: the colour settles over about ten frames
_SETTLE = 0.9


class Harmonizer:
    def __init__(self, strength: float) -> None:
        self.strength = float(strength)
        self._gain: np.ndarray | None = None
        self._offset: np.ndarray | None = None

    def reset(self) -> None:
        self._gain = self._offset = None

    def __call__(self, foreground: np.ndarray, alpha: np.ndarray,
                 backdrop: np.ndarray) -> np.ndarray:
        """``foreground`` (uint8 RGB) moved towards ``backdrop``'s colours."""
        solid = quarter(alpha) > 0.9
        if self.strength <= 0 or solid.sum() < 16:
            return foreground
        subject = quarter(foreground)[solid].astype(np.float32)
        scene = quarter(backdrop).reshape(-1, 3).astype(np.float32)
        mean_f, spread_f = subject.mean(axis=0), subject.std(axis=0) + 1.0
        mean_b, spread_b = scene.mean(axis=0), scene.std(axis=0) + 1.0
        gain = np.clip(spread_b / spread_f, *_SPREAD_LIMITS) ** self.strength
        target = mean_f + self.strength * (mean_b - mean_f)
        offset = target - gain * mean_f
        if self._gain is not None:
            gain = _SETTLE * self._gain + (1 - _SETTLE) * gain
            offset = _SETTLE * self._offset + (1 - _SETTLE) * offset
        self._gain, self._offset = gain, offset
        levels = np.arange(256, dtype=np.float32)[:, None]
        table = np.clip(levels * gain + offset + 0.5, 0, 255).astype(np.uint8)
        return cv2.LUT(foreground, table.reshape(256, 1, 3))

"""The frame-level matting object: a backend plus the recurrent state it carries between frames."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from rtmatte.matting.backends import Backend
from rtmatte.types import Matte

#: RVM works best when the frame it sees internally has a long side of 256-512 px; 480 is the
#: figure behind its own recommendations (0.25 for 1080p, 0.125 for 2160p).
AUTO_LONG_SIDE = 480
_MIN_LONG_SIDE = 256
#: mean absolute difference (0-255) of 32x32 grey thumbnails above which a frame starts a new shot
_CUT_THRESHOLD = 40.0


def auto_downsample_ratio(height: int, width: int, target: int = AUTO_LONG_SIDE) -> float:
    """The ratio that brings the long side to about ``target`` px (480), never upsampling."""
    long_side = max(height, width)
    ratio = min(1.0, target / long_side)
    return max(ratio, min(1.0, _MIN_LONG_SIDE / long_side))


class Matter:
    """Takes RGB frames in order and returns their mattes, carrying RVM's recurrent state.

    The state is dropped (so the next frame is treated as the first of a clip) on :meth:`reset`,
    when the frame size changes, and on a hard scene cut, where carrying the old shot's memory
    would smear it into the new one.
    """

    def __init__(
        self, backend: Backend, downsample_ratio: float | None = None, detect_cuts: bool = True,
        auto_long_side: int = AUTO_LONG_SIDE,
    ) -> None:
        """``auto_long_side``: the working size's long side when no ratio is given or fixed."""
        self.backend = backend
        self.auto_long_side = auto_long_side
        #: read once: a graph's baked ratio is fixed when it loads
        self.baked_ratio: float | None = getattr(backend, "baked_ratio", None)
        self.fixed_ratio = downsample_ratio
        self.detect_cuts = detect_cuts
        self.cuts = 0
        self._state: Any = None
        self._shape: tuple[int, ...] | None = None
        self._thumb: np.ndarray | None = None

    def reset(self) -> None:
        self._state = None
        self._shape = None
        self._thumb = None

    def snapshot(self) -> tuple[Any, ...]:
        """All the next matte depends on besides the next frame (recurrent state, frame shape,
        the cut detector's last thumbnail): a cluster worker hands it over so the worker doing
        the next chunk of a video carries on exactly as one unsplit run would."""
        return (self._state, self._shape, self._thumb)

    def resume(self, snapshot: tuple[Any, ...]) -> None:
        """Carry on from a :meth:`snapshot`, taken here or by another Matter of the same model."""
        self._state, self._shape, self._thumb = snapshot

    def ratio_for(self, height: int, width: int, ratio: float | None = None) -> float:
        """The downsample ratio a frame of this size runs at: the one baked into the model
        file, else ``ratio`` (the live path's working size, given per call), else the one the
        settings fixed, else the automatic one."""
        if self.baked_ratio:
            return self.baked_ratio
        ratio = ratio or self.fixed_ratio
        return ratio if ratio else auto_downsample_ratio(height, width, self.auto_long_side)

    def __call__(self, rgb: np.ndarray, ratio: float | None = None) -> Matte:
        if rgb.shape != self._shape:
            self.reset()
            self._shape = rgb.shape
        if self.detect_cuts and self._is_cut(rgb):
            self.cuts += 1
            self._state = None
        if self._state is None:
            self._state = self.backend.initial_state()
        ratio = self.ratio_for(rgb.shape[0], rgb.shape[1], ratio)
        alpha, fgr, self._state = self.backend.infer(rgb, self._state, ratio)
        return Matte(alpha=alpha, fgr=cv2.convertScaleAbs(np.ascontiguousarray(fgr), alpha=255.0))

    def _is_cut(self, rgb: np.ndarray) -> bool:
        thumb = cv2.resize(
            cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (32, 32), interpolation=cv2.INTER_AREA
        ).astype(np.float32)
        previous, self._thumb = self._thumb, thumb
        if previous is None:
            return False
        return float(np.abs(thumb - previous).mean()) > _CUT_THRESHOLD

"""Matting that keeps pace with a live source: the model's working size and how often it runs
adapt to the time it takes, and the frames it skips get its matte carried along the motion.

RVM's cost grows with the square of the size it works at, plus a fixed part at the frame's full
size (the guided-filter refiner and the float conversions). A CPU that cannot run it at the
automatic ratio is better served by a smaller, on-time matte than by a sharp one that makes the
output drop most frames; when the machine has headroom again (another program stopped), the size
goes back up.

Which trade comes first is decided by the matte, not by the time alone: against exact ground
truth (docs/live-cpu.md) the model every other frame at 384 px with the matte carried by optical
flow beats every frame at 320 px, and costs less; every third frame at 320 px beats every other
frame at 256 px. So the ladder is ordered by measured quality, and a rung that was both slower
and worse than another was left out.
"""

from __future__ import annotations

import time

import cv2
import numpy as np

from rtmatte.matting.carry import MotionCarry
from rtmatte.matting.ladder import AdaptiveResolution, Rung, ladder_for
from rtmatte.matting.matter import Matter
from rtmatte.post import PostChain
from rtmatte.types import Matte


class LivePacer:
    """The engine's live mode: its Matter and post chain run at the adaptive size, on every
    ``every``-th frame (None: as the rung says).

    On the frames in between, the last model matte is carried along the optical flow to the
    current frame (:class:`~rtmatte.matting.carry.MotionCarry`), so the edge stays on the
    moving person. ``carry=False`` holds the last alpha instead, with the current frame's own
    pixels as foreground: the edge then lags by one frame (kept to measure what carrying buys).
    """

    def __init__(self, matter: Matter, post: PostChain, budget_s: float, adapt: bool = True,
                 every: int | None = None, carry: bool = True, delay: int = 0) -> None:
        self.matter = matter
        self.carry = MotionCarry() if carry else None
        self.post = post
        self.budget_s = budget_s
        self.adapt = adapt
        self.fixed_every = every
        #: frames the output waits behind the camera (``--delay``); 0: the model is in the
        #: frame's path (see :class:`~rtmatte.run.lookahead.Lookahead` for the other way)
        self.delay = delay
        self._fixed_ratio = matter.fixed_ratio  # a ratio the user chose is kept, not adapted
        self.controller: AdaptiveResolution | None = None
        self._shape: tuple[int, ...] | None = None
        self._last_alpha: np.ndarray | None = None
        self._count = 0
        self._dropped = 0

    def ladder(self, height: int, width: int) -> list[Rung]:
        """The working sizes for frames of this size, best first."""
        return ladder_for(height, width, self._fixed_ratio, self.fixed_every, self.delay)

    @property
    def ratio(self) -> float:
        """The downsample ratio relative to the full frame at the current rung."""
        if self.controller is None or self._shape is None:
            return 0.0
        return round(self.controller.rung.effective_ratio(max(self._shape[:2])), 4)

    @property
    def every(self) -> int:
        """Run the model on every this-many frames, now."""
        if self.controller is None:
            return self.fixed_every or 1
        return self.controller.rung.every

    @property
    def changes(self) -> int:
        return self.controller.changes if self.controller else 0

    def prepare(self, width: int, height: int, runs: int = 6) -> None:
        """Run the model on a few grey frames of the coming size before the first real one.

        ONNX Runtime's first run plans its memory (hundreds of ms), and the controller needs a
        few timings to pick the working size; done here, before capture starts, neither shows
        up as a burst of dropped frames and late pictures at the start of the stream.
        """
        grey = np.full((height, width, 3), 128, np.uint8)
        self(grey)  # builds the ladder for this size
        self._warm_every_size(grey)
        for _ in range(runs):
            self._last_alpha = None  # so that every run reaches the model
            self(grey)
        self._last_alpha = None
        self._count = 0
        self.matter.reset()
        self.post.reset()

    def _warm_every_size(self, grey: np.ndarray) -> None:
        """Run each working size of the ladder once. An engine's first run at a new shape is
        slow (ONNX Runtime plans its memory; OpenVINO compiles a model for the shape, 0.2-0.5 s):
        paid here, a later step down the ladder is not a frozen picture mid-call."""
        assert self.controller is not None
        start = self.controller.index
        seen = set()
        for index, rung in enumerate(self.controller.rungs):
            if (rung.input_long, rung.ratio) in seen:
                continue
            seen.add((rung.input_long, rung.ratio))
            self.controller.index = index
            self.matter.reset()
            self._infer(grey)
        self.controller.index = start
        self.matter.reset()

    def __call__(self, rgb: np.ndarray, dropped: int = 0) -> Matte:
        """The matte of ``rgb``, with the model in the frame's path on every ``every``-th frame
        and carried on the others; ``dropped``: frames the live path lost since the last
        call."""
        self.start(rgb.shape)
        self._count += 1
        if self._last_alpha is not None and (self._count - 1) % self.every:
            self._dropped += dropped
            if self.carry is not None:
                return self.carry(rgb)
            return Matte(alpha=self._last_alpha, fgr=rgb)
        matte = self.fresh_matte(rgb, dropped)
        self._last_alpha = matte.alpha
        if self.carry is not None and self.every > 1:
            self.carry.keep(rgb, matte)
        return matte

    def start(self, shape: tuple[int, ...]) -> None:
        """Build the ladder for frames of ``shape``, unless it is already theirs."""
        if shape == self._shape:
            return
        self._shape = shape
        self.controller = AdaptiveResolution(
            self.ladder(shape[0], shape[1]), self.budget_s,
            enabled=self.adapt and not self._fixed_ratio, delay=self.delay)
        self._last_alpha = None
        self.matter.reset()
        self.post.reset()

    def fresh_matte(self, rgb: np.ndarray, dropped: int = 0) -> Matte:
        """One model run on ``rgb`` at the current rung, post chain included; its time (and the
        frames lost since the last run, ``dropped``) may move the rung. :meth:`start` first."""
        assert self.controller is not None
        began = time.perf_counter()
        every = self.every
        matte = self.post(rgb, self._infer(rgb))
        before = self.controller.rung
        dropped, self._dropped = self._dropped + dropped, 0
        if self.controller.observe((time.perf_counter() - began) / every, dropped):
            after = self.controller.rung
            if (after.input_long, after.ratio) != (before.input_long, before.ratio):
                self.matter.reset()  # the recurrent state has the old size
        return matte

    def _infer(self, rgb: np.ndarray) -> Matte:
        assert self.controller is not None
        rung = self.controller.rung
        height, width = rgb.shape[:2]
        long_side = max(height, width)
        if rung.input_long >= long_side:
            return self.matter(rgb, rung.ratio)
        scale = rung.input_long / long_side
        small = cv2.resize(rgb, (round(width * scale), round(height * scale)),
                           interpolation=cv2.INTER_AREA)
        matte = self.matter(small, rung.ratio)
        alpha = cv2.resize(np.ascontiguousarray(matte.alpha), (width, height),
                           interpolation=cv2.INTER_LINEAR)
        fgr = cv2.resize(matte.fgr, (width, height), interpolation=cv2.INTER_LINEAR)
        return Matte(alpha=alpha, fgr=fgr)

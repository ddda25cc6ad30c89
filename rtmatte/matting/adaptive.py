"""Matting that keeps pace with a live source: the model's working size adapts to the time it
takes, and below a certain size the model runs on every other frame with the alpha carried.

RVM's cost grows with the square of the size it works at, plus a fixed part at the frame's full
size (the guided-filter refiner and the float conversions). A CPU that cannot run it at the
automatic ratio is better served by a smaller, on-time matte than by a sharp one that makes the
output drop most frames; when the machine has headroom again (another program stopped), the size
goes back up.

Below 192 px the matte loses detail fast (tools/live_bench.py, 640x480: mean alpha error 0.007
to 0.017 at 192 px every other frame, 0.029 at 160 px and 0.050 at 128 px on every frame), so
the ladder's last rungs keep 192 px and skip frames before they shrink further.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import cv2
import numpy as np

from rtmatte.matting.matter import Matter, auto_downsample_ratio
from rtmatte.post import PostChain
from rtmatte.types import Matte

#: long sides (px) of the internal picture the model may be given, best first below the full one
LADDER = (384, 320, 256, 224, 192, 160, 128)
#: from this internal size down, the model runs on every other frame
SKIP_FROM = 192
#: below this share of the frame budget the model is on time; above it, frames get dropped
_SLOW = 0.9
#: at or below this share there is room for the next rung up
_ROOM = 0.55
#: losing more than this share of frames anywhere on the way (the compositor, other programs)
#: also means the size is too big, even when the model alone would fit its budget
_DROPPING = 0.08
_SETTLE_FRAMES = 2  # the first runs at a new size include ONNX Runtime's re-planning
_UP_AFTER_S = 2.0
_RETRY_SLOW_RUNG_S = 20.0
_EMA = 0.25
#: drops are averaged over a longer window than timings: one late frame (a hiccup elsewhere on
#: the machine) must not cost a rung, a steady loss of a few percent must
_DROP_EMA = 0.05


@dataclass(frozen=True)
class Rung:
    """One working size: the frame is shrunk to ``input_long`` px, the model works at ``ratio``."""

    internal: int
    input_long: int
    ratio: float
    every: int = 1

    def effective_ratio(self, frame_long: int) -> float:
        return self.internal / frame_long


def ladder_for(height: int, width: int, fixed_ratio: float | None = None,
               skip: bool = True) -> list[Rung]:
    """Rung 0 is what the offline path would do; lower rungs shrink the internal size and feed
    the model a picture only twice that size, which cuts the refiner's full-frame cost too.
    With ``skip``, the rungs from :data:`SKIP_FROM` down run the model on every other frame."""
    long_side = max(height, width)
    ratio = fixed_ratio or auto_downsample_ratio(height, width)
    top = Rung(round(long_side * ratio), long_side, ratio)
    sizes = [internal for internal in LADDER if internal < top.internal]
    plan = [(internal, 1) for internal in sizes if not skip or internal >= SKIP_FROM]
    if skip:
        plan += [(internal, 2) for internal in sizes if internal <= SKIP_FROM]
    rungs = [top]
    for internal, every in plan:
        input_long = min(long_side, 2 * internal)
        rungs.append(Rung(internal, input_long, internal / input_long, every))
    return rungs


class AdaptiveResolution:
    """Picks the rung whose measured inference time fits the frame budget.

    Going down jumps straight to the rung that the square-law estimate says fits (so a slow
    start settles in a few frames, not seconds); going up is one rung at a time, after a
    couple of seconds of clear headroom, and not back to a rung that was too slow moments ago.
    """

    def __init__(self, rungs: list[Rung], budget_s: float, enabled: bool = True) -> None:
        self.rungs = rungs
        self.budget_s = budget_s
        self.enabled = enabled and len(rungs) > 1
        self.index = 0
        self.changes = 0
        self._ema: float | None = None
        self._drops = 0.0
        self._seen = 0
        self._changed_at = time.perf_counter()
        self._too_slow_at: dict[int, float] = {}

    @property
    def rung(self) -> Rung:
        return self.rungs[self.index]

    def observe(self, seconds: float, dropped: int = 0) -> bool:
        """Record one model run's time per frame, and the frames lost since the last run.

        Returns True when the rung changed.
        """
        if not self.enabled:
            return False
        self._seen += 1
        if self._seen <= _SETTLE_FRAMES:
            return False
        self._ema = seconds if self._ema is None else self._ema + _EMA * (seconds - self._ema)
        lost = dropped / (dropped + self.rung.every)
        self._drops += _DROP_EMA * (lost - self._drops)
        now = time.perf_counter()
        share = self._ema / self.budget_s
        slow = share > _SLOW or self._drops > _DROPPING
        if slow and self.index < len(self.rungs) - 1:
            self._too_slow_at[self.index] = now
            lower = next((i for i in range(self.index + 1, len(self.rungs))
                          if share * self._cost(i) <= _SLOW * 0.9), len(self.rungs) - 1)
            return self._move(lower, now)
        room = share < _ROOM and self._drops < _DROPPING / 4
        if room and self.index > 0 and now - self._changed_at > _UP_AFTER_S:
            upper = self.index - 1
            if now - self._too_slow_at.get(upper, -math.inf) > _RETRY_SLOW_RUNG_S:
                return self._move(upper, now)
        return False

    def _cost(self, index: int) -> float:
        """Rung ``index``'s per-frame cost relative to the current rung's (square law)."""
        rung, current = self.rungs[index], self.rung
        return (rung.internal / current.internal) ** 2 * current.every / rung.every

    def _move(self, index: int, now: float) -> bool:
        self.index = index
        self.changes += 1
        self._ema = None
        self._drops = 0.0
        self._seen = 0
        self._changed_at = now
        return True


class LiveMatter:
    """A Matter and post chain run at the adaptive size, on every ``every``-th frame (None: as
    the rung says).

    On the frames in between, the last alpha is reused with the current frame's own pixels as
    foreground: the subject stays sharp and in place, and only the edge lags by one frame.
    """

    def __init__(self, matter: Matter, post: PostChain, budget_s: float, adapt: bool = True,
                 every: int | None = None) -> None:
        self.matter = matter
        self.post = post
        self.budget_s = budget_s
        self.adapt = adapt
        self.fixed_every = every
        self._fixed_ratio = matter.fixed_ratio  # a ratio the user chose is kept, not adapted
        self.controller: AdaptiveResolution | None = None
        self._shape: tuple[int, ...] | None = None
        self._last_alpha: np.ndarray | None = None
        self._count = 0
        self._dropped = 0

    @property
    def ratio(self) -> float:
        """The downsample ratio relative to the full frame at the current rung."""
        if self.controller is None or self._shape is None:
            return 0.0
        return round(self.controller.rung.effective_ratio(max(self._shape[:2])), 4)

    @property
    def every(self) -> int:
        """Run the model on every this-many frames, now."""
        if self.fixed_every:
            return self.fixed_every
        return self.controller.rung.every if self.controller else 1

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
        """The matte of ``rgb``; ``dropped``: frames the live path lost since the last call."""
        if rgb.shape != self._shape:
            self._shape = rgb.shape
            self.controller = AdaptiveResolution(
                ladder_for(rgb.shape[0], rgb.shape[1], self._fixed_ratio,
                           skip=self.fixed_every is None),
                self.budget_s, enabled=self.adapt and not self._fixed_ratio)
            self._last_alpha = None
            self.matter.reset()
            self.post.reset()
        self._count += 1
        self._dropped += dropped
        if self._last_alpha is not None and (self._count - 1) % self.every:
            return Matte(alpha=self._last_alpha, fgr=rgb)
        began = time.perf_counter()
        every = self.every
        matte = self.post(rgb, self._infer(rgb))
        assert self.controller is not None
        before = self.controller.rung
        dropped, self._dropped = self._dropped, 0
        if self.controller.observe((time.perf_counter() - began) / every, dropped):
            after = self.controller.rung
            if (after.input_long, after.ratio) != (before.input_long, before.ratio):
                self.matter.reset()  # the recurrent state has the old size
        self._last_alpha = matte.alpha
        return matte

    def _infer(self, rgb: np.ndarray) -> Matte:
        assert self.controller is not None
        rung = self.controller.rung
        self.matter.fixed_ratio = rung.ratio
        height, width = rgb.shape[:2]
        long_side = max(height, width)
        if rung.input_long >= long_side:
            return self.matter(rgb)
        scale = rung.input_long / long_side
        small = cv2.resize(rgb, (round(width * scale), round(height * scale)),
                           interpolation=cv2.INTER_AREA)
        matte = self.matter(small)
        alpha = cv2.resize(np.ascontiguousarray(matte.alpha), (width, height),
                           interpolation=cv2.INTER_LINEAR)
        fgr = cv2.resize(matte.fgr, (width, height), interpolation=cv2.INTER_LINEAR)
        return Matte(alpha=alpha, fgr=fgr)

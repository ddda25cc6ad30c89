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

import math
import time
from dataclasses import dataclass

import cv2
import numpy as np

from rtmatte.matting.carry import MotionCarry
from rtmatte.matting.matter import Matter, auto_downsample_ratio
from rtmatte.post import PostChain
from rtmatte.types import Matte

#: long sides (px) of the internal picture the model may be given with a fixed cadence, best
#: first below the full one
LADDER = (384, 320, 256, 224, 192, 160, 128)
#: (internal long side px, model on every Nth frame) below the full size, best matte first, as
#: measured at 640x480 and 960x540 (docs/live-cpu.md); None: the full working size
CARRIED_LADDER = ((384, 1), (None, 2), (384, 2), (320, 2), (320, 3), (256, 2), (256, 3),
                  (192, 2), (160, 2), (128, 2))
#: with ``--delay``, frames between two model runs are carried from both sides; measured so
#: (docs/live-cpu.md), a bigger working size beats a smaller one at any cadence up to every 4th
#: frame, so these rungs go size first, then cadence
LOOKAHEAD_EVERY = (1, 2, 3, 4)
#: of the delay, what handing a frame on needs once its matte is made (frame intervals)
LOOKAHEAD_SPARE = 0.5
#: below this share of the frame budget the model is on time; above it, frames get dropped
_SLOW = 0.9
#: one model run longer than this many frame intervals makes the frames it runs on late (the
#: live path's latency goal is two intervals, and compositing needs 0.1-0.3 of one after the
#: run), however well the average fits the budget. Measured side by side against 1.5
#: (docs/live-cpu.md): p95 latency moves by 0-10 ms, and 960x540 settles on 320 px every 2nd
#: frame instead of 256 px, MAD 1.43x the reference instead of 1.73x
_LATE = 1.8
#: going up needs the rung above to be estimated at or below this share of the budget
_UP_SHARE = 0.8
#: losing more than this share of frames anywhere on the way (the compositor, other programs)
#: also means the size is too big, even when the model alone would fit its budget
_DROPPING = 0.08
_SETTLE_FRAMES = 2  # the first runs at a new size include ONNX Runtime's re-planning
_UP_AFTER_S = 2.0
_RETRY_SLOW_RUNG_S = 20.0
_EMA = 0.25
#: one run counts as at most this many times the average so far: a single stall (another program,
#: a page-fault storm) must not drop the size to the bottom of the ladder, where it would stay
#: for seconds; a machine that really got slower still moves the average within a few runs
_OUTLIER = 2.0
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
               every: int | None = None, delay: int = 0) -> list[Rung]:
    """Rung 0 is what the offline path would do; lower rungs shrink the internal size and feed
    the model a picture only twice that size, which cuts the refiner's full-frame cost too.
    The rungs follow :data:`CARRIED_LADDER` (some run the model on every 2nd or 3rd frame), or
    with a ``delay`` of some frames :func:`lookahead_plan`; a fixed ``every`` keeps that cadence
    on every rung, which then differ by size alone."""
    long_side = max(height, width)
    ratio = fixed_ratio or auto_downsample_ratio(height, width)
    top = Rung(round(long_side * ratio), long_side, ratio)
    if delay:
        plan = lookahead_plan(delay, every)
    elif every is None:
        plan = ((None, 1), *CARRIED_LADDER)
    else:
        plan = tuple((internal, every) for internal in (None, *LADDER))
    rungs = []
    for internal, cadence in plan:
        if internal is None:
            rungs.append(Rung(top.internal, top.input_long, top.ratio, cadence))
        elif internal < top.internal:
            input_long = min(long_side, 2 * internal)
            rungs.append(Rung(internal, input_long, internal / input_long, cadence))
    return rungs


def lookahead_plan(delay: int, every: int | None = None) -> tuple[tuple[int | None, int], ...]:
    """The (internal size, cadence) rungs for an output ``delay`` frames behind the camera:
    a cadence leaves a frame waiting for the model's next run, so only those that leave some
    of the delay for the model itself (:func:`late_limit`) are offered."""
    cadences = [cadence for cadence in (LOOKAHEAD_EVERY if every is None else (every,))
                if late_limit(delay, cadence) > 0] or [1]
    return tuple((internal, cadence) for internal in (None, *LADDER) for cadence in cadences)


def late_limit(delay: int, every: int) -> float:
    """How long one model run may take, in frame intervals, when the output waits ``delay``
    frames and the model runs on every ``every``-th: the frame just after a model frame waits
    ``every - 1`` intervals for the next one to be captured, then for its run."""
    if not delay:
        return _LATE
    return delay - (every - 1) - LOOKAHEAD_SPARE


class AdaptiveResolution:
    """Picks the best rung whose measured inference time fits the frame budget, on average and
    for each model run (a run longer than :data:`_LATE` intervals makes its frame late).

    Going down jumps straight to the rung that the square-law estimate says fits (so a slow
    start settles in a few frames, not seconds); going up is one rung at a time, after a
    couple of seconds in which the rung above was estimated to fit with room, and not back to a
    rung that was too slow moments ago.
    """

    def __init__(self, rungs: list[Rung], budget_s: float, enabled: bool = True,
                 delay: int = 0) -> None:
        self.rungs = rungs
        self.budget_s = budget_s
        self.delay = delay
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
        if self._ema is None:
            self._ema = seconds
        else:
            self._ema += _EMA * (min(seconds, _OUTLIER * self._ema) - self._ema)
        lost = dropped / (dropped + self.rung.every)
        self._drops += _DROP_EMA * (lost - self._drops)
        now = time.perf_counter()
        share = self._ema / self.budget_s
        call = share * self.rung.every  # one model run, in frame intervals
        slow = share > _SLOW or call > self._late(self.index) or self._drops > _DROPPING
        if slow and self.index < len(self.rungs) - 1:
            self._too_slow_at[self.index] = now
            lower = next((i for i in range(self.index + 1, len(self.rungs))
                          if self._fits(i, share, call, 0.9)), len(self.rungs) - 1)
            return self._move(lower, now)
        room = self._drops < _DROPPING / 4
        if room and self.index > 0 and now - self._changed_at > _UP_AFTER_S:
            upper = self.index - 1
            if (self._fits(upper, share, call, _UP_SHARE / _SLOW)
                    and now - self._too_slow_at.get(upper, -math.inf) > _RETRY_SLOW_RUNG_S):
                return self._move(upper, now)
        return False

    def _fits(self, index: int, share: float, call: float, margin: float) -> bool:
        """Whether rung ``index`` is estimated to fit, with ``margin`` of the limits to spare."""
        size = self._size_cost(index)
        return (share * size * self.rung.every / self.rungs[index].every <= _SLOW * margin
                and call * size <= self._late(index) * margin)

    def _late(self, index: int) -> float:
        return late_limit(self.delay, self.rungs[index].every)

    def _size_cost(self, index: int) -> float:
        """One model run at rung ``index`` relative to one at the current rung (square law)."""
        return (self.rungs[index].internal / self.rung.internal) ** 2

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
        matte = self.model(rgb, dropped)
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

    def model(self, rgb: np.ndarray, dropped: int = 0) -> Matte:
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

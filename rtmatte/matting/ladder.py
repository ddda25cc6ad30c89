"""The live path's working-size ladder and its ``--delay`` plan: which sizes and cadences the
model may run at, best matte first, and the controller that picks the rung whose measured time
fits the frame budget. The rungs are ordered by their measured MAD and dtSSD, the worse of the
two deciding (:func:`rank`); why carrying the matte between model frames earns its place: see
:mod:`rtmatte.matting.adaptive`.
"""


from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from rtmatte.matting.matter import auto_downsample_ratio

#: long sides (px) of the internal picture the model may be given with a fixed cadence, best
#: first below the full one
LADDER = (384, 320, 256, 224, 192, 160, 128)
RungKey = tuple[int | None, int]
#: (internal long side px, model on every Nth frame) -> (MAD, dtSSD) of that rung alone as
#: multiples of the same model offline on every frame, the matte carried between model frames
#: as live, at 960x540 against ratio 0.5 (docs/live-cpu.md): the webcam clip on the whole frame
#: (``tools/live_bench.py --rungs --no-crop``, OpenVINO bf16), the walk clip (the frame-by-frame
#: table, OpenVINO) and the webcam clip with the person crop (``--rungs``, ONNX Runtime). The two
#: engines' ratios are the same within 0.03 (0.08 at 256 px) and rank the same, so one ladder
#: serves both, each settling where its own speed allows; with and without the crop the order
#: is the same down to 256 px. None: the full working size (480 px at 640x480, 960x540 and
#: 1280x720)
MEASURED: tuple[dict[RungKey, tuple[float, float]], ...] = (
    {(None, 2): (1.18, 1.29), (384, 1): (1.31, 1.12), (384, 2): (1.41, 1.38),
     (320, 1): (1.54, 1.21), (320, 2): (1.67, 1.47), (320, 3): (1.75, 1.58),
     (256, 1): (2.51, 1.49), (256, 2): (2.56, 1.72), (256, 3): (2.37, 1.78),
     (192, 1): (3.46, 1.74), (192, 2): (3.47, 1.94), (160, 2): (4.02, 2.06),
     (128, 2): (4.67, 2.31)},
    {(None, 2): (1.17, 1.26), (384, 1): (1.17, 1.10), (384, 2): (1.30, 1.32),
     (320, 1): (1.31, 1.18), (320, 2): (1.44, 1.39), (320, 3): (1.57, 1.48),
     (256, 1): (1.68, 1.34), (256, 2): (1.75, 1.53), (256, 3): (1.92, 1.62),
     (192, 1): (3.05, 1.65), (192, 2): (2.67, 1.76), (160, 2): (3.38, 1.92),
     (128, 2): (5.53, 2.23)},
    {(None, 2): (1.21, 1.26), (384, 1): (1.16, 1.07), (384, 2): (1.30, 1.32),
     (320, 1): (1.44, 1.17), (320, 2): (1.50, 1.39), (320, 3): (1.66, 1.51),
     (256, 1): (2.01, 1.39), (256, 2): (2.02, 1.60), (256, 3): (2.42, 1.72),
     (192, 1): (3.56, 1.71), (192, 2): (3.45, 1.87), (160, 2): (6.06, 2.08),
     (128, 2): (4.64, 2.18)},
)


def rank(clips: tuple[dict[RungKey, tuple[float, float]], ...]) -> tuple[RungKey, ...]:
    """The rungs measured on every clip, best first by the worse of their two ratios (the goal
    bounds MAD and dtSSD each, so a sharp matte that flickers is as bad as its flicker),
    averaged over the clips, ties by the other; a rung is left out when one no bigger and run
    no more often scores at least as well, as it would cost more for nothing."""
    keys = [key for key in clips[0] if all(key in scores for scores in clips)]

    def badness(key: RungKey) -> tuple[float, float]:
        return (sum(max(scores[key]) for scores in clips) / len(clips),
                sum(min(scores[key]) for scores in clips) / len(clips))

    def costs_no_more(a: RungKey, b: RungKey) -> bool:
        def size(key: RungKey) -> float:
            return math.inf if key[0] is None else key[0]
        return size(a) <= size(b) and a[1] >= b[1]

    kept = [key for key in keys
            if not any(other != key and costs_no_more(other, key)
                       and badness(other)[0] <= badness(key)[0] for other in keys)]
    return tuple(sorted(kept, key=badness))


#: the rungs below the full size every frame, best matte first (:func:`rank`)
CARRIED_LADDER = rank(MEASURED)
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
#: the part of a model run that does not shrink with the working size (resizing the frame, the
#: refiner and post chain, float conversions), as what the model costs at this share of the
#: frame's long side: the run times measured at 640x480 and 960x540 fit a fixed part plus the
#: square law with the fixed part worth the model at 100-130 px (docs/live-cpu.md). The square
#: law alone promised the small rungs savings they do not have: a step down measured slow again
#: and stepped down again, to the bottom of the ladder in a second (the 960x540 "collapse")
_FIXED_SHARE = 0.14


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
    start settles in a few frames, not seconds); going up is to the nearest better rung estimated
    to fit with room, after a couple of seconds, and not back to a rung that was too slow moments
    ago. A rung's cost is estimated as a fixed part plus the square law (:data:`_FIXED_SHARE`),
    and one stall never decides a move alone (:data:`_OUTLIER`, also for the first run timed at
    a rung).
    """

    def __init__(self, rungs: list[Rung], budget_s: float, enabled: bool = True,
                 delay: int = 0, clock: Callable[[], float] = time.perf_counter) -> None:
        self.rungs = rungs
        self.budget_s = budget_s
        self.delay = delay
        self.enabled = enabled and len(rungs) > 1
        self.index = 0
        self.changes = 0
        self._ema: float | None = None
        #: what the last rung's timings predict for a run here (s per frame), None at the start
        self._expected: float | None = None
        self._first: float | None = None  # the first run timed at the start
        self._drops = 0.0
        self._seen = 0
        self._clock = clock
        self._changed_at = clock()
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
        if self._ema is None and self._expected is None:
            # the start: nothing predicts this rung, so the first decision waits for a second
            # timed run and takes the faster of the two (one stall must not pick the rung)
            if self._first is None:
                self._first = seconds
                return False
            self._ema = min(self._first, seconds)
        else:
            # after a move, what the rung left predicted for this one is the average so far: a
            # stall in the first run timed here moves it as little as one later would, instead
            # of deciding the next jump alone (a step to the bottom of the ladder)
            average = self._expected if self._ema is None else self._ema
            self._ema = average + _EMA * (min(seconds, _OUTLIER * average) - average)
        lost = dropped / (dropped + self.rung.every)
        self._drops += _DROP_EMA * (lost - self._drops)
        now = self._clock()
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
            # the nearest better rung that fits: the ladder is ordered by the matte, so the one
            # just above may cost more than one higher up (320/1 above 320/2, under 384/2)
            upper = next((i for i in range(self.index - 1, -1, -1)
                          if self._fits(i, share, call, _UP_SHARE / _SLOW)
                          and now - self._too_slow_at.get(i, -math.inf) > _RETRY_SLOW_RUNG_S),
                         None)
            if upper is not None:
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
        """One model run at rung ``index`` relative to one at the current rung: a fixed part
        (:data:`_FIXED_SHARE`) plus the square law."""
        fixed = (_FIXED_SHARE * self.rungs[0].input_long) ** 2
        return (fixed + self.rungs[index].internal ** 2) / (fixed + self.rung.internal ** 2)

    def _move(self, index: int, now: float) -> bool:
        if self._ema is not None:
            self._expected = (self._ema * self._size_cost(index) * self.rung.every
                              / self.rungs[index].every)
        self.index = index
        self.changes += 1
        self._ema = None
        self._drops = 0.0
        self._seen = 0
        self._changed_at = now
        return True



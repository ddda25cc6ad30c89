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
from rtmatte.matting.crop import (
    IDLE_SCOUT_FRAMES,
    SCOUT_EVERY,
    Box,
    CropTracker,
    Scout,
    extent,
    model_input,
    move_state,
)
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

    ``scout``: the same model with a recurrent state of its own (the engine builds it). Given,
    the model looks at a crop round the person at the rung's working pixels
    (:mod:`rtmatte.matting.crop`), alpha 0 outside it, and the scout looks at the whole frame
    now and then for people outside the crop; with nobody in the frame the model idles. A
    backend that cannot take crops (its ``whole_frame_only`` says why: an export pinned to one
    frame size, TensorRT, CUDA) always gets the whole frame.
    """

    def __init__(self, matter: Matter, post: PostChain, budget_s: float, adapt: bool = True,
                 every: int | None = None, carry: bool = True, delay: int = 0,
                 scout: Matter | None = None) -> None:
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
        self.crop = scout is not None and matter.backend.whole_frame_only is None
        #: what the recurrent state does when the crop moves or changes size: "keep" it as it
        #: is (the model sees the camera move; a new picture size starts it afresh), "move" it
        #: with the crop (:func:`move_state`) or "reset" it. Measured side by side
        #: (docs/live-crop.md): offline on five clips no one way is first on every clip (reset
        #: first summed, as it escapes a state gone astray); in real time reset was no better
        #: (960x540) or worse (1280x720), so "keep", which needs nothing of a backend's state
        self.state_on_move = "keep"
        self.tracker: CropTracker | None = None
        self.scout = Scout(scout) if scout is not None and self.crop else None
        self._view: tuple[Box, tuple[int, int], float] | None = None
        self._share = 1.0
        self._box: Box | None = None
        self._runs = 0
        self._idle_frames = 0
        self._seen: Box | None = None  # where the scout's last idle look found someone

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
    def crop_share(self) -> float:
        """The share of the frame's area the model looked at in its last run: 1.0 for the
        whole frame, 0.0 once it found nobody in the frame (the model idles)."""
        return self._share

    @property
    def crop_box(self) -> Box | None:
        """The region of the frame the model looked at in its last run (the whole frame when
        the crop is off); None before the first run and once it found nobody in the frame."""
        return self._box

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
        crop, self.crop = self.crop, False  # a grey frame has nobody in it: the whole frame
        try:
            self(grey)  # builds the ladder for this size
            self._warm_every_size(grey)
            for _ in range(runs):
                self._last_alpha = None  # so that every run reaches the model
                self(grey)
        finally:
            self.crop = crop
        self._new_tracker(width, height)
        self._warm_crop_sizes(grey)
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

    def _warm_crop_sizes(self, grey: np.ndarray) -> None:
        """Run the crop's picture sizes of the rung the controller settled on, the one above and
        every one below, and the scout's, once: without this each step of the ladder compiled
        the crop's size mid-call on OpenVINO (0.5 s frozen each, three in a 4 s run, fps 13.7
        against 25 without the crop on the loaded machine). Done last, so that the engine's
        least recently used sizes, dropped first when it keeps no more, are the top rungs'."""
        if self.tracker is None or self.scout is None or self.controller is None:
            return
        height, width = grey.shape[:2]
        start = self.controller.index
        seen = set()
        for index in range(max(0, start - 1), len(self.controller.rungs)):
            self.controller.index = index
            whole, ratio = self._whole_input(width, height)
            for aspect in self.tracker.aspects[1:]:
                size = model_input(aspect, whole)
                if (size, ratio) not in seen:
                    seen.add((size, ratio))
                    self.matter.reset()
                    self.matter(cv2.resize(grey, size), ratio)
        self.controller.index = start
        self.scout(grey)
        self.scout.reset()
        self.matter.reset()

    def __call__(self, rgb: np.ndarray, dropped: int = 0) -> Matte:
        """The matte of ``rgb``, with the model in the frame's path on every ``every``-th frame
        and carried on the others; ``dropped``: frames the live path lost since the last
        call."""
        self.start(rgb.shape)
        self._count += 1
        if self.nobody:
            if not self._look(rgb, 1):
                self._dropped += dropped
                self._last_alpha = None
                return _empty(rgb)
            self._count = 1  # someone came: the model runs now, its cadence from here
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
        self._new_tracker(shape[1], shape[0])
        self.matter.reset()
        self.post.reset()

    @property
    def nobody(self) -> bool:
        """Whether the crop found nobody in the frame (the model idles until the scout does)."""
        return self.crop and self.tracker is not None and self.tracker.box is None

    def _new_tracker(self, width: int, height: int) -> None:
        self.tracker = CropTracker(width, height) if self.crop else None
        self._view = self._box = None
        self._share = 1.0
        self._runs = self._idle_frames = 0
        self._seen = None
        if self.scout is not None:
            self.scout.reset()

    def _look(self, rgb: np.ndarray, frames: int) -> bool:
        """With nobody in the frame, ``frames`` more have passed: whether someone came. The
        scout looks at one frame in :data:`IDLE_SCOUT_FRAMES`, the model at none; someone
        counts when the scout found them on two looks in a row (one look now and then takes
        a shape in the background for a person)."""
        assert self.tracker is not None and self.scout is not None
        self._idle_frames += frames
        if self._idle_frames < IDLE_SCOUT_FRAMES:
            return False
        self._idle_frames = 0
        people, seen = self.scout(rgb), self._seen
        self._seen = _union(people) if people else None
        if self._seen is None or seen is None:
            return False
        self.tracker.observe(self._seen.union(seen))
        self._seen = None
        return True

    def fresh_matte(self, rgb: np.ndarray, dropped: int = 0) -> Matte:
        """One model run on ``rgb`` at the current rung, post chain included; its time (and the
        frames lost since the last run, ``dropped``) may move the rung. :meth:`start` first."""
        assert self.controller is not None
        began = time.perf_counter()
        every = self.every
        if self.nobody and not self._look(rgb, every):
            self._dropped += dropped
            return _empty(rgb)
        if self.crop:
            raw = self._infer_crop(rgb)
        else:
            raw, self._box = self._infer(rgb), Box(0, 0, rgb.shape[1], rgb.shape[0])
        matte = self.post(rgb, raw)
        if self.nobody:  # everyone left: a new appearance starts afresh
            self.matter.reset()
            self.post.reset()
            self._view = self._box = None
            self._share = 0.0
            self._idle_frames = 0
            self._seen = None
        before = self.controller.rung
        dropped, self._dropped = self._dropped + dropped, 0
        if self.controller.observe((time.perf_counter() - began) / every, dropped):
            after = self.controller.rung
            if (after.input_long, after.ratio) != (before.input_long, before.ratio):
                self.matter.reset()  # the recurrent state has the old size
                self._view = None
        return matte

    def _infer_crop(self, rgb: np.ndarray) -> Matte:
        """One model run on the tracker's box at the rung's working pixels; the person's extent
        (and every few runs the scout's people outside the box) moves the box for the next."""
        assert self.controller is not None and self.tracker is not None
        assert self.scout is not None and self.tracker.box is not None
        tracker, box = self.tracker, self.tracker.box
        height, width = rgb.shape[:2]
        whole, ratio = self._whole_input(width, height)
        aspect = tracker.aspect(box)
        size = whole if aspect == tracker.aspects[0] else model_input(aspect, whole)
        if size[0] / box.w * ratio > 1.0:
            # the model would see the person larger than the frame shows them (a small frame,
            # or working pixels to spare): nothing to gain, and at that scale it takes shapes
            # of the background for a person. The tracker goes on following them
            box, size = tracker.whole, whole
        self._follow((box, size, ratio))
        crop = rgb[box.slices()]
        if (box.w, box.h) != size:
            shrink = size[0] * size[1] < box.w * box.h
            crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA if shrink
                              else cv2.INTER_LINEAR)
        matte = _enlarge(self.matter(np.ascontiguousarray(crop), ratio), box.w, box.h)
        if box != tracker.whole:
            alpha = np.zeros((height, width), np.float32)
            fgr = rgb.copy()
            alpha[box.slices()], fgr[box.slices()] = matte.alpha, matte.fgr
            matte = Matte(alpha=alpha, fgr=fgr)
        self._share, self._box = box.w * box.h / (width * height), box
        self._runs += 1
        person = extent(matte.alpha)
        if box != tracker.whole and self._runs % SCOUT_EVERY == 0:
            people = [*self.scout(rgb), *([person] if person else [])]
            person = _union(people) if people else None
        tracker.observe(person)
        return matte

    def _whole_input(self, width: int, height: int) -> tuple[tuple[int, int], float]:
        """The picture size and ratio the rung gives the model for the whole frame."""
        assert self.controller is not None
        rung = self.controller.rung
        if rung.input_long >= max(height, width):
            return (width, height), rung.ratio
        scale = rung.input_long / max(height, width)
        return (round(width * scale), round(height * scale)), rung.ratio

    def _follow(self, view: tuple[Box, tuple[int, int], float]) -> None:
        """The model is about to look at ``view`` (box, picture size, ratio): where the box
        moved or changed size since its last run, its recurrent state goes along (or is kept or
        dropped, as :attr:`state_on_move` says)."""
        last, self._view = self._view, view
        if last is None or last == view:
            return
        if self.state_on_move == "reset":
            self.matter.reset()
            return
        state, shape, _ = self.matter.snapshot()
        if state is None:
            return
        if self.state_on_move == "keep":  # a new picture size starts afresh in the Matter
            self.matter.resume((state, shape, None))  # a move is no scene cut
            return
        (width, height), ratio = view[1], self.matter.ratio_for(view[1][1], view[1][0], view[2])
        old = (last[0], last[1], self.matter.ratio_for(last[1][1], last[1][0], last[2]))
        moved = move_state(state, old, (view[0], view[1], ratio))
        if moved is None:
            self.matter.reset()
        else:
            self.matter.resume((moved, (height, width, 3), None))

    def _infer(self, rgb: np.ndarray) -> Matte:
        """One model run on the whole frame at the rung's size."""
        height, width = rgb.shape[:2]
        size, ratio = self._whole_input(width, height)
        small = rgb if size == (width, height) else cv2.resize(rgb, size,
                                                               interpolation=cv2.INTER_AREA)
        return _enlarge(self.matter(small, ratio), width, height)


def _enlarge(matte: Matte, width: int, height: int) -> Matte:
    """``matte`` brought to the frame's size."""
    if matte.alpha.shape[1::-1] == (width, height):
        return matte
    alpha = cv2.resize(np.ascontiguousarray(matte.alpha), (width, height),
                       interpolation=cv2.INTER_LINEAR)
    return Matte(alpha=alpha, fgr=cv2.resize(matte.fgr, (width, height),
                                             interpolation=cv2.INTER_LINEAR))


def _empty(rgb: np.ndarray) -> Matte:
    """Nobody in ``rgb``: alpha 0 everywhere, the frame's own pixels as foreground."""
    return Matte(alpha=np.zeros(rgb.shape[:2], np.float32), fgr=rgb)


def _union(boxes: list[Box]) -> Box:
    whole = boxes[0]
    for box in boxes[1:]:
        whole = whole.union(box)
    return whole


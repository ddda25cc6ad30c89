"""The live path's person crop: the model's working pixels go to the region round the person
instead of the whole frame.

RVM MobileNetV3 costs about the same per working pixel whatever it looks at, and a 2-core CPU
affords about 256x144 of them at 30 frames a second. Spent on the whole of a webcam frame,
half or more of them go to a background that is thrown away; spent on a crop round the person,
the person gets twice or three times the pixels for the same time (docs/live-cpu.md measures
what that buys, docs/live-crop.md how this is built).

Where the crop goes is read from the frames alone: the extent of the last model matte plus a
margin for motion, and a small whole-frame pass (:class:`Scout`) every few model runs that
finds people outside the crop, someone walking in from the side. RVM's recurrent state is a
picture of the crop, so a crop that jitters is a camera that shakes: :class:`CropTracker`
moves it on a coarse grid and only when the person nears its edge, and grows it at once but
shrinks it only after the person stayed smaller for a while. When it moves or changes size, the
state is moved with it (:func:`move_state`), so the model carries on as if the camera had not.

With nobody in the frame the tracker says so (:attr:`CropTracker.box` is None): the live path
then hands on an empty matte and runs only the scout, on one frame in several.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from rtmatte.matting.matter import Matter
from rtmatte.matting.models.trt_cache import state_shapes

#: alpha above this counts as person when the crop's extent is read (hair at its tips included)
_PERSON = 0.1
#: alpha above this is surely person
_SURE = 0.5
#: someone is found where at least this share of the frame is surely person (in the scout's
#: coarse matte: in one blob): a face at the frame's edge is about 0.5 %; less is the
#: background's shapes, which the model sometimes takes for a person in a crop of an empty room
PERSON_SHARE = 0.002
#: the margin kept round the person for motion, as a share of the frame's width and height;
#: the crop moves when half of it is left, so a person moving a few per cent of the frame
#: between model runs stays inside
MARGIN_X = 0.04
MARGIN_Y = 0.04
#: the crop's shape besides the frame's own: the frame's width-to-height ratio times this (4:3
#: for a 16:9 frame, square for a 4:3 one). The model is given it at the rung's working pixels,
#: so an engine that compiles one model per picture size (OpenVINO, which keeps 12) compiles one
#: more per rung, however the crop moves or grows; with three shapes (4:3, 1:1, 3:4) the ladder's
#: rungs and theirs outgrew what it keeps, and each step of the ladder recompiled mid-call
#: (2 fps at 1280x720 against 9 without the crop, on the loaded machine). Offline at equal
#: working pixels (1280x720, ratio 0.2, five webcam clips, docs/live-crop.md) 4:3 came first
#: on four against a square, 5:4 and 3:2 (5:4 on the fifth): a square cannot hold a person who
#: fills the frame's height and half its width with a margin, and 3:2 is then too close to the
#: whole frame to count as a crop
NARROWING = 0.75
#: the crop's height comes in these steps of the frame's height
HEIGHT_STEPS = 16
#: the crop is at least this share of the frame's height: the model needs some surroundings
#: to tell a person from the background (on a smaller crop it mattes the background's shapes)
MIN_HEIGHT = 0.5
#: crop positions come in these steps of the frame: a move is at least this far
POSITION_STEPS = 32
#: a crop larger than this share of the frame gains too little: the whole frame is used
WHOLE_SHARE = 0.8
#: the crop shrinks after the person fitted a smaller one for this many model runs in a row
SHRINK_AFTER = 24
#: nobody is in the frame after this many model runs in a row found no one
GONE_AFTER = 3
#: the scout's working size (long side, px) and the picture it is given (twice that)
SCOUT_INTERNAL = 128
#: while a crop is in use, the scout looks at the whole frame every this-many model runs
SCOUT_EVERY = 4
#: with nobody in the frame, the scout looks at one frame in this many (the model idles), and
#: someone is taken to be there when it found them on two looks in a row
IDLE_SCOUT_FRAMES = 3


@dataclass(frozen=True)
class Box:
    """A rectangle of the frame, in pixels: left, top, width, height."""

    x: int
    y: int
    w: int
    h: int

    @property
    def right(self) -> int:
        return self.x + self.w

    @property
    def bottom(self) -> int:
        return self.y + self.h

    def contains(self, other: Box) -> bool:
        return (self.x <= other.x and self.y <= other.y and other.right <= self.right
                and other.bottom <= self.bottom)

    def union(self, other: Box) -> Box:
        x, y = min(self.x, other.x), min(self.y, other.y)
        return Box(x, y, max(self.right, other.right) - x, max(self.bottom, other.bottom) - y)

    def grown(self, dx: int, dy: int, width: int, height: int) -> Box:
        """This box with ``dx``/``dy`` more on each side, within a frame of that size."""
        x, y = max(0, self.x - dx), max(0, self.y - dy)
        return Box(x, y, min(width, self.right + dx) - x, min(height, self.bottom + dy) - y)

    def slices(self) -> tuple[slice, slice]:
        return slice(self.y, self.bottom), slice(self.x, self.right)


def extent(alpha: np.ndarray, min_pixels: int = 2) -> Box | None:
    """The box round every pixel of ``alpha`` above :data:`_PERSON` (rows and columns with
    fewer than ``min_pixels`` such pixels are noise); None when less than
    :data:`PERSON_SHARE` of the frame (``alpha``'s size) is surely person."""
    if np.count_nonzero(alpha > _SURE) < PERSON_SHARE * alpha.size:
        return None
    mask = alpha > _PERSON
    cols = np.flatnonzero(np.count_nonzero(mask, axis=0) >= min_pixels)
    rows = np.flatnonzero(np.count_nonzero(mask, axis=1) >= min_pixels)
    return Box(int(cols[0]), int(rows[0]), int(cols[-1] + 1 - cols[0]),
               int(rows[-1] + 1 - rows[0]))


class CropTracker:
    """Where the model looks next, from where the person was: a steady box.

    :meth:`observe` takes the person's extent after each model run (None: nobody found) and
    updates :attr:`box`: the whole frame until the first extent, a crop once one fits in
    :data:`WHOLE_SHARE` of the frame, None once nobody was found :data:`GONE_AFTER` times.
    The box has the frame's shape or that narrowed by :data:`NARROWING`, a height on a grid of
    :data:`HEIGHT_STEPS`, a position on a grid of :data:`POSITION_STEPS`. It moves only when
    the person with half the margin round them leaves it, recentred on them; it grows at once
    (a step more than needed) and shrinks only after :data:`SHRINK_AFTER` runs that fitted less.
    """

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.whole = Box(0, 0, width, height)
        self.box: Box | None = self.whole
        self.moves = 0
        self.aspects = (width / height, NARROWING * width / height)
        self._step = height / HEIGHT_STEPS
        self._smaller = 0
        self._missed = 0

    @property
    def share(self) -> float:
        """The share of the frame's area the box covers (0 when nobody is in the frame)."""
        if self.box is None:
            return 0.0
        return self.box.w * self.box.h / (self.width * self.height)

    def aspect(self, box: Box) -> float:
        """Which of :attr:`aspects` ``box`` has (the nearest)."""
        return min(self.aspects, key=lambda a: abs(math.log(box.w / box.h / a)))

    def observe(self, person: Box | None) -> bool:
        """Take the person's extent from the last model run; True when the box changed."""
        before = self.box
        if person is None:
            self._missed += 1
            if self._missed >= GONE_AFTER:
                self.box = None
            return self.box != before
        self._missed = 0
        needed = self._size(person)
        if needed is None:
            self.box, self._smaller = self.whole, 0
            return self.box != before
        box = self.box
        if box is None or box == self.whole:
            self.box = self._place(person, needed)
            return self.box != before
        inner = person.grown(round(MARGIN_X * self.width / 2), round(MARGIN_Y * self.height / 2),
                             self.width, self.height)
        grow = needed[0] > box.w or needed[1] > box.h
        size = (box.w, box.h)
        if grow:  # a step more than needed: a person leaning in is not a new size every run
            size = self._size(person, extra=1) or (self.width, self.height)
        if needed[0] < box.w and needed[1] < box.h:
            self._smaller += 1
        else:
            self._smaller = 0
        if self._smaller >= SHRINK_AFTER:
            size, self._smaller = needed, 0
        if size == (self.width, self.height):
            self.box = self.whole
        elif size != (box.w, box.h) or not box.contains(inner):
            self.box = self._place(person, size)
        return self.box != before

    def _size(self, person: Box, extra: int = 0) -> tuple[int, int] | None:
        """The smallest crop (width, height) of one of :attr:`aspects` that holds ``person``
        with the margin round them and fits in the frame, ``extra`` height steps more than
        needed; None where the whole frame is as good (more than :data:`WHOLE_SHARE` of it)."""
        want_w = person.w + 2 * MARGIN_X * self.width
        want_h = max(person.h + 2 * MARGIN_Y * self.height, MIN_HEIGHT * self.height)
        best = None
        for aspect in self.aspects:
            height = max(want_h, want_w / aspect)
            height = (math.ceil(height / self._step - 1e-6) + extra) * self._step
            height = min(height, self.height)
            width = round(height * aspect)
            if width <= self.width and width >= want_w - 1 and (
                    best is None or width * round(height) < best[0] * best[1]):
                best = (width, round(height))
        if best is None or best[0] * best[1] > WHOLE_SHARE * self.width * self.height:
            return None
        return best

    def _place(self, person: Box, size: tuple[int, int]) -> Box:
        """A box of ``size`` centred on ``person`` on the position grid, inside the frame."""
        width, height = size
        centre_x, centre_y = person.x + person.w / 2, person.y + person.h / 2
        grid_x, grid_y = self.width / POSITION_STEPS, self.height / POSITION_STEPS
        x = round(round((centre_x - width / 2) / grid_x) * grid_x)
        y = round(round((centre_y - height / 2) / grid_y) * grid_y)
        x = min(max(0, x), self.width - width)
        y = min(max(0, y), self.height - height)
        if self.box is not None and (x, y, width, height) != (self.box.x, self.box.y,
                                                              self.box.w, self.box.h):
            self.moves += 1
        return Box(x, y, width, height)


def model_input(aspect: float, whole: tuple[int, int]) -> tuple[int, int]:
    """The picture size (width, height) the model is given for a crop of shape ``aspect``
    (width / height): the working pixels of ``whole``, the size it gets the whole frame at."""
    area = whole[0] * whole[1]
    height = round(math.sqrt(area / aspect))
    return max(16, round(height * aspect)), max(16, height)


def move_state(state: Any, old: tuple[Box, tuple[int, int], float],
               new: tuple[Box, tuple[int, int], float]) -> Any:
    """RVM's recurrent state for a crop that moved from ``old`` to ``new`` (each: the box, the
    picture size the model got, the ratio it ran at), or None when it cannot be moved (a
    backend's own state kind: the model then starts afresh).

    Each state tensor is a picture of the crop at some fraction of its size; its pixels are
    looked up where the same point of the frame was in the old crop (nearest, edges repeated
    where the new crop sees what the old did not). A first frame's 1x1 zeros stay as they are.
    """
    if not isinstance(state, list) or not all(isinstance(t, np.ndarray) and t.ndim == 4
                                              for t in state):
        return None
    if all(t.shape[2:] == (1, 1) for t in state):
        return state
    (old_box, _, _), (new_box, (width, height), ratio) = old, new
    shapes = state_shapes(height, width, ratio, tuple(t.shape[1] for t in state))
    moved = []
    for tensor, shape in zip(state, shapes, strict=True):
        rows = _lookup(new_box.y, new_box.h, shape[2], old_box.y, old_box.h, tensor.shape[2])
        cols = _lookup(new_box.x, new_box.w, shape[3], old_box.x, old_box.w, tensor.shape[3])
        moved.append(np.ascontiguousarray(tensor[:, :, rows[:, None], cols[None, :]]))
    return moved


def _lookup(new_start: int, new_span: int, new_cells: int, old_start: int, old_span: int,
            old_cells: int) -> np.ndarray:
    """For each cell of a new state axis, the old cell over the same point of the frame."""
    centres = new_start + (np.arange(new_cells) + 0.5) * (new_span / new_cells)
    old = np.floor((centres - old_start) * (old_cells / old_span)).astype(np.int64)
    return np.clip(old, 0, old_cells - 1)


class Scout:
    """A small whole-frame look for people outside the crop: the same model at
    :data:`SCOUT_INTERNAL` px, with a recurrent state of its own (it sees every few frames).
    ``matter``: that model, on the live model's backend, with no state shared with it."""

    def __init__(self, matter: Matter) -> None:
        self.matter = matter
        self.runs = 0

    def size(self, width: int, height: int) -> tuple[int, int]:
        scale = min(1.0, 2 * SCOUT_INTERNAL / max(width, height))
        return max(16, round(width * scale)), max(16, round(height * scale))

    def reset(self) -> None:
        self.matter.reset()

    def __call__(self, rgb: np.ndarray) -> list[Box]:
        """The people in ``rgb``, as boxes in its pixels."""
        height, width = rgb.shape[:2]
        small_w, small_h = self.size(width, height)
        small = cv2.resize(rgb, (small_w, small_h), interpolation=cv2.INTER_AREA)
        ratio = min(1.0, SCOUT_INTERNAL / max(small_w, small_h))
        alpha = self.matter(small, ratio).alpha
        self.runs += 1
        solid = (alpha > _SURE).astype(np.uint8)
        count, _, stats, _ = cv2.connectedComponentsWithStats(solid, connectivity=8)
        least = PERSON_SHARE * small_w * small_h
        scale_x, scale_y = width / small_w, height / small_h
        return [Box(math.floor(x * scale_x), math.floor(y * scale_y), math.ceil(w * scale_x),
                    math.ceil(h * scale_y))
                for x, y, w, h, area in stats[1:count] if area >= least]

"""``--keep``: one person stays, everyone else becomes background, hair and all.

The matte is split into people and followed by :class:`~rtmatte.post.people.PeopleTracker`;
this step picks whom to keep on the first frame that shows anyone (the largest, the one nearest
the centre, or the one under a point) and from then on keeps that identity. A point with nobody
under it on that frame, or in a clip where nobody ever appears, is refused (SettingsError).
The kept person's share of alpha is their region of the split, softened over a few pixels,
times the model's alpha: against the background their edge is the model's own soft edge, and
where they overlap someone else it is a short soft ramp instead of a cut.

While the kept person is out of sight nobody is kept (the picture shows only background). When
they come back within ``memory`` frames they are recognised and kept again; after that, the
rule chooses again among the people in view.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from rtmatte.errors import SettingsError
from rtmatte.post.people import WORK_LONG_SIDE, PeopleTracker, Person
from rtmatte.types import Matte

RULES = ("all", "largest", "center")
#: the soft ramp where the kept person meets someone else, as a Gaussian sigma in work pixels
_SEAM_SIGMA = 1.2
#: a point this close to a person (share of the frame's long side) still picks them
_POINT_SLACK = 0.02


@dataclass(frozen=True)
class KeepRule:
    """``--keep`` parsed: a rule name, or a point (x, y) in pixels of the first frame."""

    rule: str
    point: tuple[int, int] | None = None

    @property
    def everyone(self) -> bool:
        return self.rule == "all"


def parse_keep(text: str) -> KeepRule:
    """``all``, ``largest``, ``center`` (``centre`` too) or ``X,Y``; SettingsError otherwise."""
    value = str(text).strip().lower()
    if value == "centre":
        value = "center"
    if value in RULES:
        return KeepRule(value)
    parts = value.split(",")
    if len(parts) == 2 and all(p.strip().isdigit() for p in parts):
        return KeepRule("point", (int(parts[0]), int(parts[1])))
    raise SettingsError(f"keep must be all, largest, center or X,Y (pixels of the first frame, "
                        f"from 0,0 at its top-left corner), not {text!r}")


class KeepPerson:
    """The post step: alpha of everyone but the chosen person goes to 0."""

    def __init__(self, rule: KeepRule, memory: int = 150) -> None:
        self.rule = rule
        self.tracker = PeopleTracker(memory)
        self.reset()

    def reset(self) -> None:
        self.tracker.reset()
        self.kept: int | None = None
        self._chosen_once = False

    def __call__(self, rgb: np.ndarray, matte: Matte) -> Matte:
        height, width = matte.alpha.shape
        scale = min(1.0, WORK_LONG_SIDE / max(height, width))
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small_rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        small_alpha = cv2.resize(matte.alpha, size, interpolation=cv2.INTER_AREA)
        was_there = self._kept_at(size)
        labels = self.tracker.update(small_rgb, small_alpha)
        visible = self.tracker.visible()
        if was_there is not None:
            self.kept = _most_overlapping(visible, was_there)
        if self.kept is None or self.kept not in self.tracker.people:
            self.kept = self._choose(visible, scale, (width, height))
        if self.kept is None:
            if not self._chosen_once:
                return matte  # nobody seen yet: nothing to take away
            return Matte(alpha=np.zeros_like(matte.alpha), fgr=matte.fgr)
        share = (labels == self.kept).astype(np.float32)
        share = cv2.GaussianBlur(share, (0, 0), _SEAM_SIGMA)
        share = cv2.resize(share, (width, height), interpolation=cv2.INTER_LINEAR)
        share *= matte.alpha
        return Matte(alpha=share, fgr=matte.fgr)

    def _kept_at(self, size: tuple[int, int]) -> np.ndarray | None:
        """Where the kept person was, enlarged or shrunk to a new work ``size``; None unless the
        size changes now. The tracker starts its people anew at a new size, so the kept person
        is found again by where they stood, not by a rule that may prefer someone else."""
        labels = self.tracker.labels
        if labels is None or labels.shape == size[::-1] or self.kept is None:
            return None
        person = self.tracker.people.get(self.kept)
        if person is None:
            return None
        return cv2.resize(person.mask.astype(np.uint8), size,
                          interpolation=cv2.INTER_NEAREST) > 0

    def finish(self) -> None:
        """A point is a person of the clip; a clip in which nobody ever appeared has none under
        it, which is the user's error as much as a point beside everyone."""
        if self.rule.point is not None and not self._chosen_once:
            x, y = self.rule.point
            raise SettingsError(f"--keep {x},{y}: nobody is at that point: no person appears "
                                "anywhere in the clip; leave --keep out to keep the whole matte")

    def _choose(self, people: list[Person], scale: float,
                size: tuple[int, int]) -> int | None:
        if not people:
            return None
        first = not self._chosen_once
        self._chosen_once = True
        if self.rule.rule == "largest":
            return max(people, key=lambda p: p.area).ident
        if self.rule.rule == "center":
            middle = np.array(self.tracker.labels.shape[::-1], float) / 2
            return min(people, key=lambda p: float(np.linalg.norm(p.centre - middle))).ident
        return self._under_point(people, scale, size, strict=first)

    def _under_point(self, people: list[Person], scale: float, size: tuple[int, int],
                     strict: bool) -> int | None:
        """The person under the point; on the first frame, nobody there is the user's error."""
        assert self.rule.point is not None
        x, y = self.rule.point
        width, height = size
        if strict and not (0 <= x < width and 0 <= y < height):
            raise SettingsError(f"--keep {x},{y} is outside the {width}x{height} frame")
        px, py = min(x * scale, people[0].mask.shape[1] - 1), \
            min(y * scale, people[0].mask.shape[0] - 1)
        slack = _POINT_SLACK * max(people[0].mask.shape)

        def reach(person: Person) -> float:
            if person.mask[int(py), int(px)]:
                return 0.0
            rows, cols = np.nonzero(person.mask)
            return float(np.sqrt(((cols - px) ** 2 + (rows - py) ** 2).min()))

        nearest = min(people, key=reach)
        if reach(nearest) <= slack or not strict:
            return nearest.ident
        cx, cy = nearest.centre / scale
        raise SettingsError(f"--keep {x},{y}: nobody is at that point of the first frame "
                            f"(the nearest person is around {cx:.0f},{cy:.0f})")


def _most_overlapping(people: list[Person], where: np.ndarray) -> int | None:
    """The person covering most of ``where``; None when nobody touches it."""
    best, most = None, 0
    for person in people:
        shared = int(np.count_nonzero(where & (person.mask > 0)))
        if shared > most:
            best, most = person.ident, shared
    return best

"""People in the matte, told apart and followed from frame to frame.

RVM gives one alpha for everyone. To keep one person, that alpha is split into people and each
keeps an identity while they move, touch, cross and leave. Everything here works on a small
copy of the frame (long side :data:`WORK_LONG_SIDE`), where a person is still thousands of
pixels and the whole step costs a few milliseconds beside the model's tens.

Each frame:

1. **Seeds.** A person seen in the last frame seeds where their region lands when moved by
   their motion (measured by phase correlation of their outline, so a body coming into view
   or going behind someone does not fool it). Where two people's moved regions overlap, the
   one in front takes the overlap: which one that is is voted by colour over the overlap (the
   overlap shows the front person's colours), and remembered while they stay in contact. A
   person partly or wholly hidden also seeds their last whole outline, carried along with
   their motion, over any body no visible person's region explains: so someone stepping out
   from behind another is theirs again at once. Any solid region still without a seed is split
   into people by the cores of its distance transform (two bodies touching at the shoulders
   meet at a narrow neck, so their cores stand apart).
2. **Split.** A watershed on the frame premultiplied by alpha grows the seeds over the people,
   so a boundary between two of them follows the colour edge where one stands in front of the
   other; every pixel left over (soft hair over the background) goes to the nearest person.
3. **Identity.** A region without a known seed is matched to a person lost in the last
   ``memory`` frames by colour (a hue-saturation histogram taken while they stood alone and
   whole), else it is a new person; a new person who turns out to look like someone lost (they
   came back into the frame a little at a time) takes that person's identity.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

WORK_LONG_SIDE = 256
#: alpha above this counts as a person's body when finding regions
SOLID = 0.5
#: alpha below this is background for certain: no person's region grows across it
CLEAR = 0.02
#: a region smaller than this share of the frame is a stray blotch, never a person
MIN_AREA = 0.004
#: a core (distance-transform peak region) is where the distance reaches this share of the
#: region's largest: a head sits on a body well under it, two torsos side by side are over it
CORE_LEVEL = 0.55
#: colours closer than this (Bhattacharyya distance of the histograms) are the same person
SAME_COLOURS = 0.4
#: a person is seen whole when alone and at least this share of the largest they were seen
_WHOLE = 0.7
#: a new person may still turn out to be someone lost for this many frames
_LATE_MATCH = 30
_SEED_EROSION = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
#: how far past their whole outline (as carried along) a person's region may reach
_MARGIN = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (19, 19))
_HIST_BINS = (18, 8)
_HIST_RANGES = (0, 180, 0, 256)


@dataclass
class Person:
    """One tracked person: where they are now (at work size), how they move and look."""

    ident: int
    mask: np.ndarray
    area: float
    centre: np.ndarray
    first_seen: int
    last_seen: int
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))
    template: np.ndarray | None = None  # their whole outline, from a frame they stood alone
    carried: np.ndarray = field(default_factory=lambda: np.zeros(2))  # its motion since
    whole_area: float = 0.0
    colours: np.ndarray | None = None
    left_frame: bool = False  # last seen touching the frame's border
    partial: bool = True  # their template was cut by the frame's side or top

    def moved(self, now: int) -> tuple[float, float]:
        """How far they have moved since last seen, at their last speed."""
        dx, dy = self.velocity * (now - self.last_seen)
        return float(dx), float(dy)


def _shift(mask: np.ndarray, dx: float, dy: float) -> np.ndarray:
    if abs(dx) < 0.5 and abs(dy) < 0.5:
        return mask
    matrix = np.float32([[1, 0, round(dx)], [0, 1, round(dy)]])
    return cv2.warpAffine(mask, matrix, mask.shape[::-1], flags=cv2.INTER_NEAREST)


def _centre(mask: np.ndarray) -> np.ndarray:
    moments = cv2.moments(mask, binaryImage=True)
    if moments["m00"] == 0:
        return np.zeros(2)
    return np.array([moments["m10"] / moments["m00"], moments["m01"] / moments["m00"]])


def _motion(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """How far a region moved between two frames, by phase correlation of the two masks.

    A centre of mass is fooled by a body coming into the frame (the part in view grows on one
    side); the outline's translation is not, as long as most of it moves.
    """
    rows = np.flatnonzero((before | after).any(axis=1))
    cols = np.flatnonzero((before | after).any(axis=0))
    if rows.size == 0:
        return np.zeros(2)
    top, bottom = max(0, rows[0] - 8), min(before.shape[0], rows[-1] + 9)
    left, right = max(0, cols[0] - 8), min(before.shape[1], cols[-1] + 9)
    crop = (slice(top, bottom), slice(left, right))
    (dx, dy), _ = cv2.phaseCorrelate(before[crop].astype(np.float32),
                                     after[crop].astype(np.float32))
    return np.array([dx, dy])


def _cores(region: np.ndarray) -> list[np.ndarray]:
    """The people in one solid region, as the separate cores of its distance transform."""
    distance = cv2.distanceTransform(region, cv2.DIST_L2, 3)
    peak = float(distance.max())
    if peak <= 0:
        return []
    core = (distance >= CORE_LEVEL * peak).astype(np.uint8)
    count, labels = cv2.connectedComponents(core, connectivity=8)
    return [(labels == k).astype(np.uint8) for k in range(1, count)]


def _histogram(hsv: np.ndarray, mask: np.ndarray) -> np.ndarray:
    hist = cv2.calcHist([hsv], [0, 1], mask, list(_HIST_BINS), list(_HIST_RANGES))
    return cv2.normalize(hist, None, 1.0, 0.0, cv2.NORM_L1)


def _likelihood(hist: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """The share of a person's pixels in each of these HSV pixels' histogram bins."""
    hue = pixels[:, 0].astype(np.int32) * _HIST_BINS[0] // 180
    saturation = pixels[:, 1].astype(np.int32) * _HIST_BINS[1] // 256
    return hist[hue, saturation]


def _distance(first: np.ndarray, second: np.ndarray) -> float:
    return float(cv2.compareHist(first, second, cv2.HISTCMP_BHATTACHARYYA))


def _cut_off(mask: np.ndarray) -> bool:
    """Whether the frame's sides or top cut the body off (the bottom cuts most people)."""
    return bool(mask[0].any() or mask[:, 0].any() or mask[:, -1].any())


def _touches_border(mask: np.ndarray) -> bool:
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


class PeopleTracker:
    """Splits each frame's alpha into people and keeps their identities (see the module)."""

    def __init__(self, memory: int = 150) -> None:
        self.memory = int(memory)
        self.reset()

    def reset(self) -> None:
        self.people: dict[int, Person] = {}
        self.frame = 0
        self._next_ident = 1
        self._front: dict[tuple[int, int], float] = {}
        self.labels: np.ndarray | None = None
        self._placed: dict[int, np.ndarray] = {}

    def visible(self) -> list[Person]:
        return [p for p in self.people.values() if p.last_seen == self.frame]

    def update(self, small_rgb: np.ndarray, small_alpha: np.ndarray) -> np.ndarray:
        """The person (ident) of each work-size pixel for this frame; 0 where nobody is."""
        if self.labels is not None and self.labels.shape != small_alpha.shape:
            issued = self._next_ident
            self.reset()
            self._next_ident = issued  # people start anew, never under a name already given
        self.frame += 1
        solid = (small_alpha > SOLID).astype(np.uint8)
        min_area = MIN_AREA * solid.size
        hsv = cv2.cvtColor(small_rgb, cv2.COLOR_RGB2HSV)
        markers = self._seeds(solid, hsv, min_area)
        labels = _grow(small_rgb, small_alpha, markers)
        self._identify(labels, solid, hsv, min_area)
        self.labels = labels
        return labels

    # -- seeds -------------------------------------------------------------------------------

    def _seeds(self, solid: np.ndarray, hsv: np.ndarray, min_area: float) -> np.ndarray:
        owner = np.zeros(solid.shape, np.int32)
        seen = [p for p in self.people.values() if p.last_seen == self.frame - 1]
        self._placed = {p.ident: _shift(p.template, *(p.carried + np.array(p.moved(self.frame))))
                        for p in self.people.values() if p.template is not None}
        moved = {p.ident: _shift(p.mask, *p.moved(self.frame)) for p in seen}
        for person in seen:
            if not person.partial:  # nobody's region creeps past their whole outline
                moved[person.ident] &= cv2.dilate(self._placed[person.ident], _MARGIN)
        for person in sorted(seen, key=lambda p: self._depth(p, moved, hsv)):
            owner[moved[person.ident] > 0] = person.ident  # nearer people are painted later
        hidden = [p for p in self.people.values() if p.template is not None
                  and self.frame - p.last_seen <= self.memory
                  and (p.last_seen < self.frame - 1 or p.area < _WHOLE * p.whole_area)]
        for person in hidden:
            # body inside their whole outline and outside everyone else's is theirs, even where
            # someone's region took it in last frame as they stepped out from behind them
            others = np.zeros(solid.shape, np.uint8)
            for p in seen:
                if p.ident == person.ident:
                    continue
                if p.ident in self._placed:
                    others |= self._placed[p.ident]
                if p.ident not in self._placed or p.partial:
                    others |= moved[p.ident]
            others = cv2.dilate(others, _SEED_EROSION) > 0
            placed = (self._placed[person.ident] > 0) & ~others & (solid > 0)
            # someone seen last frame is only partly hidden, and what shows is surely theirs;
            # someone wholly hidden must also look like themselves where they reappear
            if placed.sum() >= min_area / 2 and (person.last_seen == self.frame - 1
                                                 or self._looks_like(person, hsv, placed)):
                owner[placed] = person.ident
        markers = np.zeros(solid.shape, np.int32)
        for ident in np.unique(owner[owner > 0]):
            inner = cv2.erode((owner == ident).astype(np.uint8), _SEED_EROSION)
            markers[(inner > 0) & (solid > 0)] = ident
        self._seed_unexplained(solid, markers, min_area)
        return markers

    def _depth(self, person: Person, moved: dict[int, np.ndarray], hsv: np.ndarray) -> float:
        """How near the camera ``person`` is among those their moved region overlaps: the sum
        of their remembered wins over each (colour votes where the regions overlap)."""
        total = 0.0
        for other, region in moved.items():
            if other == person.ident:
                continue
            pair = (min(person.ident, other), max(person.ident, other))
            overlap = (moved[person.ident] > 0) & (region > 0)
            if overlap.sum() >= 16:
                vote = self._colour_vote(pair, overlap, hsv)
                if vote is not None:
                    self._front[pair] = 0.5 * self._front.get(pair, 0.0) + 0.5 * vote
            sign = 1.0 if person.ident == pair[0] else -1.0
            total += sign * self._front.get(pair, 0.0)
        return total

    def _colour_vote(self, pair: tuple[int, int], overlap: np.ndarray,
                     hsv: np.ndarray) -> float | None:
        """Positive when the overlap looks like the pair's first person, negative the second."""
        first, second = (self.people[i].colours for i in pair)
        if first is None or second is None:
            return None
        like = [_likelihood(h, hsv[overlap]) for h in (first, second)]
        ratio = np.log((like[0] + 1e-4) / (like[1] + 1e-4))
        return float(np.clip(ratio.mean(), -1.0, 1.0))

    def _seed_unexplained(self, solid: np.ndarray, markers: np.ndarray, min_area: float) -> None:
        """New seeds (negative: not yet anyone) for solid regions no seed reaches."""
        count, labels, stats, _ = cv2.connectedComponentsWithStats(solid, connectivity=8)
        fresh = -1
        for k in range(1, count):
            if stats[k, cv2.CC_STAT_AREA] < min_area:
                continue
            region = (labels == k).astype(np.uint8)
            if (markers[region > 0] > 0).any():
                continue
            for core in _cores(region):
                markers[core > 0] = fresh
                fresh -= 1

    def _looks_like(self, person: Person, hsv: np.ndarray, mask: np.ndarray) -> bool:
        if person.colours is None:
            return True
        return _distance(person.colours, _histogram(hsv, mask.astype(np.uint8))) < SAME_COLOURS

    # -- identities --------------------------------------------------------------------------

    def _identify(self, labels: np.ndarray, solid: np.ndarray, hsv: np.ndarray,
                  min_area: float) -> None:
        regions: dict[int, np.ndarray] = {}
        for code in np.unique(labels):
            region = ((labels == code) & (solid > 0)).astype(np.uint8)
            if code != 0 and region.sum() >= min_area / 4:
                regions[int(code)] = region
        for code, region in regions.items():
            if code > 0 and code in self.people:
                self._saw(self.people[code], region, hsv, regions)
        for code, region in sorted(regions.items(), key=lambda item: -int(item[1].sum())):
            if code > 0:
                continue
            if region.sum() < min_area:
                labels[labels == code] = 0
                continue
            person = self._recognise(region, hsv, young=None)
            if person is None:
                person = Person(self._next_ident, region, 0.0, _centre(region),
                                first_seen=self.frame, last_seen=self.frame - 1)
                self.people[person.ident] = person
                self._next_ident += 1
            self._saw(person, region, hsv, regions)
            labels[labels == code] = person.ident
        self._late_matches(labels, hsv)
        for ident in [i for i, p in self.people.items()
                      if self.frame - p.last_seen > self.memory]:
            del self.people[ident]

    def _recognise(self, region: np.ndarray, hsv: np.ndarray,
                   young: Person | None) -> Person | None:
        """The lost person this region is: nearest colours, and for someone hidden inside the
        frame (not gone out of it) also near where they were heading."""
        colours = _histogram(hsv, region)
        centre = _centre(region)
        best, best_score = None, SAME_COLOURS
        for person in self.people.values():
            if (person is young or person.last_seen >= self.frame - 1 or person.colours is None
                    or (young is not None and person.last_seen >= young.first_seen)):
                continue
            score = _distance(person.colours, colours)
            if not person.left_frame:
                expected = person.centre + np.array(person.moved(self.frame))
                score += 0.5 * float(np.linalg.norm(centre - expected)) / max(region.shape)
            if score < best_score:
                best, best_score = person, score
        return best

    def _late_matches(self, labels: np.ndarray, hsv: np.ndarray) -> None:
        """A person new in the last few frames who now looks like someone lost is them: they
        came back into the frame a little at a time, and at first too little showed to tell."""
        for young in [p for p in self.visible() if self.frame - p.first_seen < _LATE_MATCH]:
            lost = self._recognise(young.mask, hsv, young=young)
            if lost is None:
                continue
            labels[labels == young.ident] = lost.ident
            lost.mask, lost.area, lost.centre = young.mask, young.area, young.centre
            lost.velocity, lost.last_seen = young.velocity, self.frame
            lost.left_frame = young.left_frame
            del self.people[young.ident]

    def _saw(self, person: Person, region: np.ndarray, hsv: np.ndarray,
             regions: dict[int, np.ndarray]) -> None:
        area = float(region.sum())
        alone = not any((other > 0)[cv2.dilate(region, _SEED_EROSION) > 0].any()
                        for other in regions.values() if other is not region)
        # motion only from a view no smaller than their whole one (alone, in front of someone,
        # or walking in): a body going behind someone shrinks, its outline moving with them
        if person.last_seen == self.frame - 1 and (alone or area > 0.85 * person.whole_area):
            person.velocity = 0.5 * person.velocity + 0.5 * _motion(person.mask, region)
        elif person.last_seen < self.frame - 1:
            person.velocity = np.zeros(2)
        person.carried = person.carried + person.velocity
        person.whole_area = max(0.98 * person.whole_area, area) if alone else person.whole_area
        if alone and area >= _WHOLE * person.whole_area:
            person.template, person.carried = region, np.zeros(2)
            person.partial = _cut_off(region)
            colours = _histogram(hsv, region)
            person.colours = colours if person.colours is None else \
                cv2.addWeighted(person.colours, 0.8, colours, 0.2, 0)
        person.mask, person.area, person.centre = region, area, _centre(region)
        person.left_frame = _touches_border(region)
        person.last_seen = self.frame


def _grow(small_rgb: np.ndarray, small_alpha: np.ndarray, markers: np.ndarray) -> np.ndarray:
    """Grow the seeds over the people along the colour edges; then every other pixel, soft
    hair over the background included, goes to the person nearest to it. A body with no seed
    at all (too small yet to be anyone: someone's first sliver coming into the frame) stays
    nobody's, so it never becomes part of whoever stands nearest."""
    if not markers.any():
        return np.zeros(markers.shape, np.int32)
    codes = np.unique(markers[markers != 0])
    dense = np.zeros(markers.shape, np.int32)
    for index, code in enumerate(codes, start=1):
        dense[markers == code] = index
    background = len(codes) + 1
    dense[(small_alpha < CLEAR) & (dense == 0)] = background
    # premultiplied: the background is flat black, so no seed floods across it to someone else
    picture = cv2.convertScaleAbs(small_rgb * small_alpha[..., None])
    grown = cv2.watershed(cv2.cvtColor(picture, cv2.COLOR_RGB2BGR), dense)
    grown[(grown < 0) | (grown == background)] = 0
    labels = np.concatenate([[0], codes]).astype(np.int32)[grown]
    held = labels != 0
    if not held.all() and held.any():
        _, nearest = cv2.distanceTransformWithLabels(
            (~held).astype(np.uint8), cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL)
        # DIST_LABEL_PIXEL numbers the held pixels from 1 in raster order
        labels = np.concatenate([[0], labels[held]]).astype(np.int32)[nearest]
    count, bodies = cv2.connectedComponents((small_alpha > SOLID).astype(np.uint8),
                                            connectivity=8)
    seeded = np.zeros(count, bool)
    seeded[np.unique(bodies[markers != 0])] = True
    seeded[0] = True
    labels[~seeded[bodies]] = 0
    return labels

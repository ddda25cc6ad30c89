"""Clips of several people with each person's own exact alpha, for choosing whom to keep.

Every person is the derived portrait layer (:mod:`rtmatte.evaluation.material`) in a look of
its own (the suit recoloured, the picture mirrored, a size for the distance), walking a path in
front of a photo. People are layered far to near, so where they cross, the nearer one hides
the other exactly as a camera would see it, and each person's *visible* alpha is known: their
own alpha times what every nearer person leaves uncovered. That visible alpha is the truth a
``--keep`` run is scored against.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from rtmatte.compose.backgrounds import cover_fit
from rtmatte.evaluation.material import (
    NOISE_SIGMA,
    PERSON_CENTRE_X,
    Key,
    PersonLayer,
    background_photo,
    pose,
)

#: how each look recolours the suit: a hue turn in degrees (0: the photo as it is)
LOOKS = {"orange": 0.0, "blue": 180.0, "green": 95.0}
#: the suit is the saturated part of the picture below this row of the layer (above it are the
#: face and hair, left as they are)
_SUIT_FROM_ROW = 150


@dataclass(frozen=True)
class Walker:
    """One person: a look, a path of (t, x, y, size) keys (x, y as fractions of the frame from
    its centre bottom; size as a fraction of the frame height), a depth (larger is nearer)."""

    look: str
    path: tuple[Key, ...]
    depth: int = 0
    mirror: bool = False


@dataclass(frozen=True)
class CrowdSpec:
    """A crowd clip, with the rule a user would give and which walker it should keep."""

    name: str
    background: str
    walkers: tuple[Walker, ...]
    keep: str  # "largest", "center" or "point" (a point on the target in the first frame)
    target: int
    about: str = ""


CROWDS: dict[str, CrowdSpec] = {spec.name: spec for spec in (
    CrowdSpec(
        "cross-front", "coffee",
        (Walker("orange", ((0.0, -0.05, 0.0, 0.9), (1.0, 0.0, 0.0, 0.9)), depth=0),
         Walker("blue", ((0.0, -0.6, 0.0, 0.75), (1.0, 0.6, 0.0, 0.75)), depth=1,
                mirror=True)),
        keep="largest", target=0,
        about="the kept person stands; another walks across in front of them"),
    CrowdSpec(
        "cross-behind", "brick",
        (Walker("blue", ((0.0, 0.38, 0.0, 0.72), (0.15, 0.36, 0.0, 0.72), (0.7, -0.2, 0.0, 0.72),
                         (1.0, -0.22, 0.0, 0.72)), depth=0),
         Walker("orange", ((0.0, 0.0, 0.0, 0.62), (1.0, 0.04, 0.0, 0.62)), depth=2,
                mirror=True),
         Walker("green", ((0.0, -0.52, 0.0, 0.75), (1.0, -0.5, 0.0, 0.75)), depth=1)),
        keep="point", target=0,
        about="three people; the kept one walks behind the one in the middle"),
    CrowdSpec(
        "walk-in", "grass",
        (Walker("orange", ((0.0, -0.05, 0.0, 0.8), (0.5, 0.08, 0.0, 0.82),
                           (1.0, 0.0, 0.0, 0.8)), depth=0),
         Walker("green", ((0.0, 0.75, 0.0, 0.95), (0.3, 0.75, 0.0, 0.95),
                          (0.8, 0.3, 0.0, 0.95), (1.0, 0.28, 0.0, 0.95)), depth=1,
                mirror=True)),
        keep="center", target=0,
        about="a bigger person walks in from the side and stays beside the kept one"),
    CrowdSpec(
        "leave-return", "rocket",
        (Walker("blue", ((0.0, 0.05, 0.0, 0.8), (0.3, 0.8, 0.0, 0.8), (0.55, 0.8, 0.0, 0.8),
                         (1.0, 0.1, 0.0, 0.8)), depth=1),
         Walker("orange", ((0.0, -0.3, 0.0, 0.75), (1.0, -0.28, 0.0, 0.75)), depth=0,
                mirror=True)),
        keep="center", target=0,
        about="the kept person walks out of the frame and comes back; another stays"),
)}


@dataclass
class CrowdFrame:
    """One rendered frame: the noisy input, the total alpha, each walker's visible alpha."""

    rgb: np.ndarray
    alpha: np.ndarray
    people: list[np.ndarray]


def _look(layer: PersonLayer, look: str, mirror: bool) -> PersonLayer:
    """The layer with its suit turned to another hue, mirrored when asked."""
    fgr, alpha = layer.fgr, layer.alpha
    turn = LOOKS[look]
    if turn:
        hsv = cv2.cvtColor(fgr, cv2.COLOR_RGB2HSV)  # float input: hue in degrees
        suit = hsv[..., 1] > 0.45
        suit[:_SUIT_FROM_ROW] = False
        hsv[..., 0] = np.where(suit, (hsv[..., 0] + turn) % 360.0, hsv[..., 0])
        fgr = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    if mirror:
        fgr, alpha = fgr[:, ::-1], alpha[:, ::-1]
    return PersonLayer(alpha=np.ascontiguousarray(alpha), fgr=np.ascontiguousarray(fgr))


def _placement(walker: Walker, layer: PersonLayer, t: float,
               size: tuple[int, int]) -> np.ndarray:
    width, height = size
    px, py, share = pose(walker.path, t)
    layer_h, layer_w = layer.alpha.shape
    scale = share * height / layer_h
    anchor_x = layer_w - PERSON_CENTRE_X if walker.mirror else PERSON_CENTRE_X
    return np.array([[scale, 0, width / 2 + px * width - scale * anchor_x],
                     [0, scale, 1.01 * height + py * height - scale * layer_h]])


def render_crowd(spec: CrowdSpec, layer: PersonLayer, frames: int,
                 size: tuple[int, int]) -> Iterator[CrowdFrame]:
    """The frames of ``spec`` at ``size`` (width, height)."""
    width, height = size
    scene = cover_fit(background_photo(spec.background), height, width).astype(np.float32)
    looks = [_look(layer, w.look, w.mirror) for w in spec.walkers]
    order = sorted(range(len(spec.walkers)), key=lambda i: spec.walkers[i].depth)
    rng = np.random.default_rng(zlib.crc32(spec.name.encode()))
    for index in range(frames):
        t = index / max(frames - 1, 1)
        picture = scene.copy()
        own: dict[int, np.ndarray] = {}
        for i in order:  # far to near: each nearer person covers what is behind
            look = looks[i]
            matrix = _placement(spec.walkers[i], look, t, size)
            alpha = cv2.warpAffine(look.alpha, matrix, size, flags=cv2.INTER_LINEAR)
            colour = cv2.warpAffine(look.fgr * look.alpha[..., None], matrix, size,
                                    flags=cv2.INTER_LINEAR)
            picture *= (1.0 - alpha)[..., None]
            picture += colour * 255.0
            own[i] = alpha
        people = []
        for i in range(len(spec.walkers)):
            visible = own[i].copy()
            for j in order[order.index(i) + 1:]:
                visible *= 1.0 - own[j]
            people.append(visible)
        cover = np.ones((height, width), np.float32)
        for alpha in own.values():
            cover *= 1.0 - alpha
        noisy = picture + rng.normal(0.0, NOISE_SIGMA, picture.shape).astype(np.float32)
        rgb = np.clip(noisy + 0.5, 0, 255).astype(np.uint8)
        yield CrowdFrame(rgb=rgb, alpha=1.0 - cover, people=people)


def keep_spec(spec: CrowdSpec, first: CrowdFrame) -> str:
    """The ``--keep`` value a user would give for ``spec``, seeing its first frame: for a point,
    the solid pixel of the target nearest the middle of their solid part (their chest)."""
    if spec.keep != "point":
        return spec.keep
    solid = first.people[spec.target] > 0.99
    rows, cols = np.nonzero(solid)
    cy, cx = rows.mean(), cols.mean()
    nearest = int(np.argmin((rows - cy) ** 2 + (cols - cx) ** 2))
    return f"{cols[nearest]},{rows[nearest]}"

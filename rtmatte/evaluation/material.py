"""Test clips with exactly known ground truth, built from real photos that ship offline.

The person is the sample portrait (:func:`rtmatte.samples.portrait`). Its alpha and foreground
colours are derived once: the model run at full resolution on the original photo, then cleaned
(near-0 and near-1 snapped, holes filled, stray islands dropped) and cached. That layer is then
treated as the truth: warped with camera motion and composited onto *new* backgrounds (scikit-image
photos, still or panned/zoomed into a moving shot), so every frame's alpha is known exactly.

What this measures, then, is how well the model and the post chain recover that layer under
motion, new surroundings, sensor noise and lower resolution; it does not measure how right the
derived layer is about the original photo (see ``docs/quality.md``).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import cache
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np

from rtmatte.compose.backgrounds import cover_fit
from rtmatte.matting.matter import Matter
from rtmatte.samples import portrait

#: rows of the portrait kept: head and shoulders, above the helmet she holds (a shiny object the
#: model mattes only in part, so no cleaning could give it a trustworthy alpha)
_PERSON_ROWS = 336
PERSON_CENTRE_X = 190.0  # the subject's horizontal centre in the portrait, px
_LAYER_VERSION = 2
NOISE_SIGMA = 2.0  # sensor noise added to each frame, in 0-255 units


@dataclass(frozen=True)
class PersonLayer:
    """A foreground layer: straight alpha (H, W) and colours (H, W, 3), float32 in [0, 1]."""

    alpha: np.ndarray
    fgr: np.ndarray


def _clean_alpha(alpha: np.ndarray) -> np.ndarray:
    """Snap the model's near-certain values, fill holes in the body and drop stray islands."""
    alpha = alpha.astype(np.float32).copy()
    alpha[alpha < 0.02] = 0.0
    alpha[alpha > 0.98] = 1.0
    solid = (alpha > 0.5).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(solid, connectivity=8)
    if count > 1:
        body = (labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)
        # holes: background regions not reachable from the border
        flood = body.copy()
        mask = np.zeros((body.shape[0] + 2, body.shape[1] + 2), np.uint8)
        cv2.floodFill(flood, mask, (body.shape[1] - 1, 0), 1)
        body[flood == 0] = 1
        reach = cv2.dilate(body, np.ones((9, 9), np.uint8)) > 0
        alpha[~reach] = 0.0
        alpha[body > 0] = np.maximum(alpha[body > 0], cv2.erode(body, np.ones((5, 5), np.uint8))
                                     [body > 0].astype(np.float32))
    return alpha


def derive_person_layer(matter: Matter) -> PersonLayer:
    """Run ``matter`` (at downsample ratio 1) on the portrait and clean the result.

    The photo is fed a few times so the recurrent state settles, as it would on a still shot.
    """
    rgb = portrait()
    matter.reset()
    for _ in range(4):
        matte = matter(rgb)
    alpha = _clean_alpha(matte.alpha)[:_PERSON_ROWS]
    photo = rgb[:_PERSON_ROWS].astype(np.float32) / 255.0
    solid = (alpha >= 1.0)[..., None]
    fgr = np.where(solid, photo, matte.fgr[:_PERSON_ROWS] / np.float32(255.0)).astype(np.float32)
    return PersonLayer(alpha=np.ascontiguousarray(alpha), fgr=np.ascontiguousarray(fgr))


def person_layer(cache_dir: Path, make_matter: Callable[[], Matter]) -> PersonLayer:
    """The derived layer, from ``cache_dir`` when it was made before (it takes a few seconds)."""
    path = Path(cache_dir) / f"person-layer-v{_LAYER_VERSION}.npz"
    if path.is_file():
        with np.load(path) as data:
            return PersonLayer(alpha=data["alpha"], fgr=data["fgr"])
    layer = derive_person_layer(make_matter())
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp.npz")
    np.savez_compressed(partial, alpha=layer.alpha, fgr=layer.fgr)
    partial.replace(path)
    return layer


@cache
def background_photo(name: str) -> np.ndarray:
    """A scikit-image sample photo as uint8 RGB (grey ones repeated into three channels), or
    one of the backgrounds made here: "green-wall", a studio's green wall lit a little
    unevenly (the classic source of colour spill on hair and shoulders), and "shelves", a
    room's bookshelves (:func:`_shelves`), so that a clip renders on the base install."""
    if name == "green-wall":
        dark, light = np.array((30, 160, 60), np.float32), np.array((70, 200, 90), np.float32)
        y, x = np.mgrid[0:360, 0:640].astype(np.float32)
        light_falloff = np.exp(-(((x - 420) / 380) ** 2 + ((y - 120) / 300) ** 2))[..., None]
        return np.clip(dark + (light - dark) * light_falloff, 0, 255).astype(np.uint8)
    if name == "shelves":
        return _shelves()
    from skimage import data  # optional dependency: the "eval" extra

    picture = getattr(data, name)()
    if picture.ndim == 2:
        picture = np.repeat(picture[..., None], 3, axis=2)
    return np.ascontiguousarray(picture[..., :3])


def _shelves(width: int = 960, height: int = 540) -> np.ndarray:
    """A room behind a desk: a warm wall lit from one side, and bookshelves of books in many
    colours and heights, with the many fine vertical edges a real room has (the same picture
    every time: its random numbers are seeded)."""
    rng = np.random.default_rng(21)
    x = np.arange(width, dtype=np.float32)[None, :, None]
    light = 0.75 + 0.25 * np.exp(-(((x - 0.2 * width) / (0.6 * width)) ** 2))
    room = np.array((196, 180, 160), np.float32) * light
    for top in range(int(0.12 * height), int(0.9 * height), int(0.26 * height)):
        board = top + int(0.22 * height)
        left = int(0.45 * width)
        room[board:board + 8, left:] = (120, 84, 52)
        column = left
        while column < width:
            book_w = int(rng.integers(8, 26))
            book_h = int(rng.integers(int(0.13 * height), int(0.21 * height)))
            colour = rng.integers(30, 230, 3).astype(np.float32)
            room[board - book_h:board, column:column + book_w - 1] = colour
            room[board - book_h:board, column + book_w - 1:column + book_w] = colour * 0.5
            column += book_w
    grain = rng.normal(0.0, 4.0, (height, width, 1)).astype(np.float32)
    return np.clip(room + grain, 0, 255).astype(np.uint8)


#: a pose keyframe: (time in [0, 1], x shift as a fraction of width, y shift as a fraction of
#: height, zoom)
Key = tuple[float, float, float, float]


def pose(keys: tuple[Key, ...], t: float) -> tuple[float, float, float]:
    """Position between keyframes with smoothstep easing, so motion starts and stops gently
    and a repeated keyframe gives a true hold (no motion at all)."""
    if t <= keys[0][0]:
        return keys[0][1:]
    for (t0, *a), (t1, *b) in pairwise(keys):
        if t <= t1:
            u = (t - t0) / (t1 - t0) if t1 > t0 else 1.0
            u = u * u * (3 - 2 * u)
            return tuple(x + (y - x) * u for x, y in zip(a, b, strict=True))  # type: ignore[return-value]
    return keys[-1][1:]


@dataclass(frozen=True)
class ClipSpec:
    """One test clip: a background photo, how the camera moves over it, how the person moves."""

    name: str
    background: str
    person: tuple[Key, ...]
    scene: tuple[Key, ...] = ((0.0, 0.0, 0.0, 1.0),)
    shake_px: float = 0.0  # random hand-held jitter of the person, until ``shake_until``
    shake_until: float = 1.0
    about: str = ""


_STILL: tuple[Key, ...] = ((0.0, 0.0, 0.0, 1.0),)

CLIPS: dict[str, ClipSpec] = {spec.name: spec for spec in (
    ClipSpec("coffee-pan", "coffee",
             ((0.0, -0.14, 0.0, 1.0), (0.5, 0.1, 0.0, 1.0), (1.0, 0.1, 0.0, 1.0)),
             about="still photo close to skin and hair colours; slow pan, then a hold"),
    ClipSpec("chelsea-zoom", "chelsea",
             ((0.0, 0.0, 0.0, 1.0), (0.5, 0.0, 0.04, 1.3), (1.0, 0.0, 0.04, 1.3)),
             about="orange cat behind an orange suit; push-in zoom, then a hold"),
    ClipSpec("rocket-video", "rocket", _STILL,
             scene=((0.0, -0.12, 0.0, 1.1), (1.0, 0.12, 0.02, 1.15)),
             shake_px=2.5, shake_until=0.6,
             about="moving background (camera pans the launch photo); hand-held shake"),
    ClipSpec("hubble-fast", "hubble_deep_field",
             ((0.0, -0.25, 0.0, 1.0), (0.15, 0.25, 0.0, 1.0), (0.3, -0.2, 0.05, 1.1),
              (0.45, 0.0, 0.0, 1.0), (1.0, 0.0, 0.0, 1.0)),
             scene=((0.0, 0.0, 0.0, 1.0), (1.0, 0.0, 0.0, 1.3)),
             about="fast sweeps across a dark star field that slowly zooms, then a hold"),
    ClipSpec("grass-video", "grass", _STILL,
             scene=((0.0, 0.1, 0.1, 1.05), (1.0, -0.1, -0.05, 1.2)),
             shake_px=1.5,
             about="busy texture moving behind a person who barely moves"),
    ClipSpec("brick-still", "brick", _STILL,
             about="nothing moves but sensor noise: where flicker shows most"),
)}

#: single-person clips for the edge tools only (not in the matte tables above, which they
#: would change): a green studio wall, the old background whose colour spills into hair
EDGE_CLIPS: dict[str, ClipSpec] = {spec.name: spec for spec in (
    ClipSpec("green-wall", "green-wall",
             ((0.0, -0.1, 0.0, 1.0), (0.6, 0.12, 0.0, 1.05), (1.0, 0.12, 0.0, 1.05)),
             about="a person moving before a green studio wall"),
)}

CI_CLIPS = ("coffee-pan", "rocket-video")

#: what a webcam in a call sees (the live bench's clip, at 1280x720 and every smaller size): the
#: person fills most of the frame's height and about half its width, sways from side to side and
#: leans in, while the camera pans and zooms a photo behind her; sensor noise on every frame and a
#: little hand-held shake. Not in the matte tables above, which it would change.
WEBCAM_CLIP = ClipSpec(
    "webcam-sway", "rocket",
    ((0.0, -0.02, 0.0, 1.0), (0.2, -0.12, 0.0, 1.0), (0.45, 0.1, 0.01, 1.04),
     (0.7, -0.1, 0.0, 1.0), (0.9, 0.08, 0.01, 1.03), (1.0, 0.05, 0.0, 1.02)),
    scene=((0.0, -0.1, 0.0, 1.1), (0.5, 0.08, 0.02, 1.15), (1.0, -0.04, 0.0, 1.12)),
    shake_px=1.5, about="a webcam framing: a person swaying before a moving background")
#: the same framing and motion before bookshelves made here: what ``rtmatte bench`` renders, so
#: that it measures the live crop on the base install (the photos need scikit-image)
WEBCAM_SHELVES = replace(WEBCAM_CLIP, name="webcam-shelves", background="shelves",
                         about="a webcam framing: a person swaying before bookshelves, the "
                               "camera moving")


@dataclass
class ClipFrame:
    """One rendered frame: the noisy input, its exact alpha and foreground colours (float32 in
    [0, 1]), where the input is static (None on the first frame, which has nothing to compare
    with), and the clean background behind the person (uint8), for scoring composites."""

    rgb: np.ndarray
    alpha: np.ndarray
    fgr: np.ndarray
    static: np.ndarray | None
    scene: np.ndarray


def _shake(spec: ClipSpec, index: int, frames: int) -> tuple[float, float]:
    if spec.shake_px <= 0 or index / max(frames - 1, 1) > spec.shake_until:
        return 0.0, 0.0
    rng = np.random.default_rng(zlib.crc32(spec.name.encode()) + index)
    return tuple(float(v) for v in rng.normal(0.0, spec.shake_px, 2))  # type: ignore[return-value]


def render_clip(spec: ClipSpec, layer: PersonLayer, frames: int,
                size: tuple[int, int]) -> Iterator[ClipFrame]:
    """The frames of ``spec`` at ``size`` (width, height)."""
    width, height = size
    margin = 1.35  # the scene is rendered larger so the camera can pan within it
    canvas = cover_fit(background_photo(spec.background), round(height * margin),
                       round(width * margin)).astype(np.float32)
    premult = layer.fgr * layer.alpha[..., None]
    base_scale = 0.95 * height / layer.alpha.shape[0]
    anchor_x, anchor_y = PERSON_CENTRE_X, float(layer.alpha.shape[0])
    rng = np.random.default_rng(zlib.crc32(spec.name.encode()))
    previous: tuple[np.ndarray, np.ndarray] | None = None
    for index in range(frames):
        t = index / max(frames - 1, 1)
        sx, sy, sz = pose(spec.scene, t)
        ch, cw = canvas.shape[:2]
        to_canvas = np.array([[1 / sz, 0, cw / 2 + sx * width - width / (2 * sz)],
                              [0, 1 / sz, ch / 2 + sy * height - height / (2 * sz)]])
        scene = cv2.warpAffine(canvas, to_canvas, (width, height),
                               flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_REFLECT)
        px, py, pz = pose(spec.person, t)
        jx, jy = _shake(spec, index, frames)
        scale = base_scale * pz
        to_frame = np.array([[scale, 0, width / 2 + px * width + jx - scale * anchor_x],
                             [0, scale, 1.02 * height + py * height + jy - scale * anchor_y]])
        alpha = cv2.warpAffine(layer.alpha, to_frame, (width, height), flags=cv2.INTER_LINEAR)
        colour = cv2.warpAffine(premult, to_frame, (width, height), flags=cv2.INTER_LINEAR)
        clean = colour * 255.0 + scene * (1.0 - alpha[..., None])
        clean_u8 = np.clip(clean + 0.5, 0, 255).astype(np.uint8)
        noisy = clean + rng.normal(0.0, NOISE_SIGMA, clean.shape).astype(np.float32)
        rgb = np.clip(noisy + 0.5, 0, 255).astype(np.uint8)
        static = None
        if previous is not None:
            prev_u8, prev_alpha = previous
            static = ((np.abs(clean_u8.astype(np.int16) - prev_u8).max(axis=2) == 0)
                      & (np.abs(alpha - prev_alpha) < 1e-4))
        previous = (clean_u8, alpha)
        fgr = colour / np.maximum(alpha, 1e-6)[..., None]
        yield ClipFrame(rgb=rgb, alpha=alpha, static=static, fgr=np.clip(fgr, 0.0, 1.0),
                        scene=np.clip(scene + 0.5, 0, 255).astype(np.uint8))

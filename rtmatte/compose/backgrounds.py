"""Backgrounds a subject can be put on: a picture, a looping video, a colour, or its own blurred
surroundings. Each renders a uint8 RGB picture of the frame's size for a given frame."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from rtmatte.compose.colours import NAMED_COLOURS, parse_colour
from rtmatte.compose.filters import SCALE, premultiplied_blur, quarter
from rtmatte.errors import BackgroundError, InputError, StreamError
from rtmatte.media import MAX_PICTURE_PIXELS, is_video_path
from rtmatte.sources.file import VideoSource, read_image
from rtmatte.types import Frame, Notify

TRANSPARENT = "transparent"


#: default blur: Gaussian sigma as a fraction of the frame's long side
_BLUR_SIGMA = 0.02
#: the blur background halves its working copy while its sigma is above twice this (pixels)
_SIGMA_AT_WORK = 2.5
#: how far (quarter-size pixels) round the person the blur takes no colour from
_HALO_MARGIN = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))


class Background(Protocol):
    def restart(self) -> None:
        """Go back to the start (a new input begins at time 0)."""

    def render(self, frame: Frame, alpha: np.ndarray) -> np.ndarray:
        """The background picture (uint8 RGB, frame's size) to show behind ``frame``."""


def cover_fit(picture: np.ndarray, height: int, width: int,
              pixel_aspect: Fraction = Fraction(1),
              picture_aspect: Fraction = Fraction(1)) -> np.ndarray:
    """Scale to cover (height, width) keeping the aspect ratio as shown, then crop the centre.

    ``pixel_aspect`` is the shape of the frame's pixels (anamorphic video: wider than tall), and
    ``picture_aspect`` that of the picture's: the picture is fitted to the frame as both are
    shown, so it is not stretched when the frame's pixels are not square.
    """
    ph, pw = picture.shape[:2]
    stretch = float(picture_aspect / pixel_aspect)  # one picture pixel, in frame pixels wide
    scale = max(width / (pw * stretch), height / ph)
    new_w, new_h = max(width, round(pw * stretch * scale)), max(height, round(ph * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(picture, (new_w, new_h), interpolation=interpolation)
    top, left = (new_h - height) // 2, (new_w - width) // 2
    return np.ascontiguousarray(resized[top:top + height, left:left + width])


class _Still:
    """Backgrounds that do not change with time have nothing to restart."""

    def restart(self) -> None:
        return None


class ColourBackground(_Still):
    def __init__(self, rgb: tuple[int, int, int]) -> None:
        self.rgb = rgb
        self._cache: np.ndarray | None = None

    def render(self, frame: Frame, alpha: np.ndarray) -> np.ndarray:
        shape = frame.rgb.shape
        if self._cache is None or self._cache.shape != shape:
            self._cache = np.empty(shape, dtype=np.uint8)
            self._cache[:] = self.rgb
        return self._cache


class ImageBackground(_Still):
    def __init__(self, picture: np.ndarray) -> None:
        self.picture = picture
        self._fitted: tuple[tuple[int, int, Fraction], np.ndarray] | None = None

    def render(self, frame: Frame, alpha: np.ndarray) -> np.ndarray:
        height, width = frame.rgb.shape[:2]
        aspect = frame.display.pixel_aspect
        if self._fitted is None or self._fitted[0] != (height, width, aspect):
            self._fitted = ((height, width, aspect),
                            cover_fit(self.picture, height, width, aspect))
        return self._fitted[1]


class VideoBackground:
    """A video played behind the subject, looped, in step with the input's timestamps.

    Times are exact fractions of a second: with floats, a background frame due at the very
    instant of an input frame can land a rounding step late after a loop, so one frame repeats
    and the next is skipped. The background's clock starts at its first frame and the input's at
    the first frame rendered after :meth:`restart`, so streams whose timestamps do not start at
    zero (MPEG-TS) still begin together.

    A background cut off part way loops the part that can be read and says so once through
    ``notify``; one with not a single readable frame is refused.
    """

    def __init__(self, path: Path, notify: Notify | None = None,
                 max_pixels: int = MAX_PICTURE_PIXELS) -> None:
        self.path = Path(path)
        self._notify = notify
        self._max_pixels = max_pixels
        self._source: VideoSource | None = None
        # One pass's length in seconds and in frames, known once the first pass has ended: later
        # passes stop at the same frame even where decoding a damaged file could go further.
        self._period: Fraction | None = None
        self._length: int | None = None
        self.restart()
        if self._upcoming is None:
            raise BackgroundError(f"background video {self.path} has no frame that can be read")

    def restart(self) -> None:
        self._origin: Fraction | None = None  # the input's time at its first rendered frame
        self._loop_start = Fraction(0)  # background time at which the current pass began
        self._current: Frame | None = None
        self._fitted: tuple[Frame, np.ndarray] | None = None
        self._open()
        self._upcoming: Frame | None = self._next()

    def _open(self) -> None:
        if self._source is not None:
            self._source.close()
        # what the copy of this video loses (HDR, a second stream) is said on the first open
        first = self._source is None and self._period is None
        self._source = VideoSource(self.path, self._max_pixels,
                                   self._notify if first else None)
        self._frames: Iterator[Frame] = iter(self._source)
        self._read = 0
        self._first_pts = 0
        self._broken = False

    def _next(self) -> Frame | None:
        """The pass's next frame; None where the pass ends, at its end or where it is cut off."""
        if self._length is not None and self._read >= self._length:
            return None
        try:
            frame = next(self._frames, None)
        except StreamError as exc:
            if self._read == 0:
                raise BackgroundError(f"background video {self.path}: not a single frame can be "
                                      f"read ({exc})") from exc
            self._broken = True
            return None
        if frame is None:
            return None
        if self._read == 0:
            self._first_pts = _pts(frame)
        self._read += 1
        return frame

    def _time(self, frame: Frame) -> Fraction:
        """When ``frame`` of the current pass is due, in seconds since the background began."""
        return self._loop_start + (_pts(frame) - self._first_pts) * self._source.info.time_base

    def _end_pass(self, last: Frame) -> None:
        """Start the next pass one period on: the last frame plus one frame's duration."""
        if self._period is None:
            info = self._source.info
            self._period = (_pts(last) - self._first_pts + info.ticks_per_frame) * info.time_base
            self._length = self._read
            if self._broken and self._notify is not None:
                promised = info.frames or round(info.duration * info.rate)
                of = f" (of {promised})" if promised > self._read else ""
                self._notify(f"background video {self.path} is cut off after {self._read} "
                             f"frames{of}; looping the part that can be read")
        self._loop_start += self._period
        self._open()

    def render(self, frame: Frame, alpha: np.ndarray) -> np.ndarray:
        now = _input_time(frame)
        if self._origin is None:
            self._origin = now
        now -= self._origin
        while self._upcoming is not None and (
            self._current is None or self._time(self._upcoming) <= now
        ):
            self._current = self._upcoming
            self._upcoming = self._next()
            if self._upcoming is None:
                self._end_pass(self._current)
                self._upcoming = self._next()
        assert self._current is not None
        height, width = frame.rgb.shape[:2]
        if self._fitted is None or self._fitted[0] is not self._current or \
                self._fitted[1].shape[:2] != (height, width):
            self._fitted = (self._current, cover_fit(
                self._current.rgb, height, width, frame.display.pixel_aspect,
                self._current.display.pixel_aspect))
        return self._fitted[1]


def _pts(frame: Frame) -> int:
    """A background frame's pts, in its source's time base (VideoSource gives every frame one)."""
    assert frame.pts is not None
    return frame.pts


def _input_time(frame: Frame) -> Fraction:
    """The frame's presentation time, exact; 0 when its source gives no timestamps."""
    if frame.pts is None or frame.time_base is None:
        return Fraction(0)
    return frame.pts * frame.time_base


class BlurBackground(_Still):
    """The frame's own surroundings, blurred with the subject masked out.

    A plain blur of the frame smears the person into a halo around them; normalised convolution
    (blur of the background-only pixels divided by the blur of the background mask) fills the
    space behind the subject with nearby background colours instead.

    The blur is wide (sigma 2 % of the long side, 38 px at 1080p), so it is taken on a copy
    halved (image pyramid) until sigma is at most twice :data:`_SIGMA_AT_WORK` px: the result is
    smooth enough that enlarging it again loses nothing visible, and the three wide blurs cost a
    fraction of what they cost on the quarter-size copy.
    """

    def __init__(self, strength: float = 1.0) -> None:
        self.strength = strength

    def render(self, frame: Frame, alpha: np.ndarray) -> np.ndarray:
        height, width = frame.rgb.shape[:2]
        sigma = max(1.0, self.strength * _BLUR_SIGMA * max(height, width) / SCALE)
        small = quarter(frame.rgb).astype(np.float32)
        # the person's soft edge and the pixels just beyond it still hold some of their colour
        # (the matte's edge is never exactly theirs, and lags a moving edge by a pixel or two):
        # weighting them out keeps a halo of the person out of the blur
        keep = 1.0 - cv2.dilate(quarter(alpha), _HALO_MARGIN)
        keep *= keep
        held = small * keep[..., None]
        while sigma > 2 * _SIGMA_AT_WORK and min(keep.shape) >= 16:
            small, held, keep = cv2.pyrDown(small), cv2.pyrDown(held), cv2.pyrDown(keep)
            sigma /= 2
        blurred, support = premultiplied_blur(held, keep, sigma)
        plain = cv2.GaussianBlur(small, (0, 0), sigma)
        filled = np.where(support[..., None] > 1e-3, blurred, plain)
        return cv2.resize(np.clip(filled, 0, 255).astype(np.uint8), (width, height),
                          interpolation=cv2.INTER_LINEAR)


def is_transparent(spec: str) -> bool:
    """Whether a --bg value asks for no background at all (RGBA output)."""
    return spec.strip().lower() == TRANSPARENT


def parse_background(spec: str, notify: Notify | None = None,
                     max_pixels: int = MAX_PICTURE_PIXELS) -> Background | None:
    """Turn a --bg value into a Background; None means transparent (RGBA output).

    ``notify`` hears what the person should know but that does not stop the run (a background
    video that is cut off part way and loops only its readable part). A picture, or a video's
    frames, larger than ``max_pixels`` is refused before it is decoded.
    """
    text = spec.strip()
    lowered = text.lower()
    if is_transparent(text):
        return None
    if lowered == "blur" or lowered.startswith("blur:"):
        strength = 1.0
        if ":" in lowered:
            try:
                strength = float(lowered.split(":", 1)[1])
            except ValueError as exc:
                raise BackgroundError(f"--bg {spec}: blur strength must be a number, e.g. "
                                      "blur:1.5") from exc
            if not 0 < strength <= 10:
                raise BackgroundError(f"--bg {spec}: blur strength must be in (0, 10]")
        return BlurBackground(strength)
    colour = parse_colour(text)
    if colour is not None:
        return ColourBackground(colour)
    path = Path(text).expanduser()
    if not path.exists():
        names = ", ".join(sorted(NAMED_COLOURS))
        raise BackgroundError(
            f"--bg {spec}: no such file, and not a colour ({names}, #rrggbb), 'blur' or "
            "'transparent'"
        )
    try:
        if is_video_path(path):
            return VideoBackground(path, notify, max_pixels)
        return ImageBackground(read_image(path, max_pixels))
    except InputError as exc:
        raise BackgroundError(f"background {exc}") from exc

"""Frame sources for files: videos decoded with PyAV, and still images."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from rtmatte.errors import InputError, PictureTooLarge, StreamError
from rtmatte.media import ALPHA_IMAGE_EXTENSIONS, MAX_PICTURE_PIXELS, is_image_path
from rtmatte.sources.headers import FORMATS, declared_size
from rtmatte.sources.look import (
    deinterlaced,
    describe_display,
    is_interlaced,
    is_wide,
    notes_on,
    to_rgb,
    upright,
)
from rtmatte.types import Frame, Notify

#: how far short of the container's duration a video may end before it counts as truncated
_DURATION_SLACK_S = 0.5
#: display rotation (degrees clockwise) -> the OpenCV turn that shows the picture upright
_UPRIGHT = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


@dataclass(frozen=True)
class VideoInfo:
    """Facts about a video stream that the sink needs to write a faithful copy.

    Picture size is not here: it is read off the frames themselves, after any turn upright.
    """

    time_base: Fraction
    rate: Fraction
    frames: int  # 0 when the container does not say
    duration: float  # seconds, 0 when unknown
    audio_streams: int
    subtitle_streams: int = 0

    @property
    def ticks_per_frame(self) -> int:
        """One frame's duration in ``time_base`` ticks (1 when the rate is unknown): what a
        frame without a timestamp is moved on by, and how long a looped video's last frame
        lasts."""
        return max(1, round(1 / (self.rate * self.time_base))) if self.rate else 1


class VideoSource:
    """Decodes a video file's first video stream into upright RGB frames, in order.

    Phone videos often store sideways pictures plus a display rotation. The model and the
    background both expect upright people, so frames are turned upright here and the output is
    written upright (with no rotation left to apply). Each frame carries its
    :class:`~rtmatte.types.Display` (pixel shape, colour space) for a faithful copy; what a copy
    cannot keep is said through ``notify`` when the file is opened.

    A cover picture (an mp3's album art) is not a video stream. Frames larger than
    ``max_pixels`` are refused from the size the stream declares, before any is decoded.

    ``start`` and ``stop`` (pts in the stream's time base) read a range instead of the whole:
    the decoder seeks to the keyframe at or before ``start`` and yields the frames from
    ``start`` up to, not including, ``stop`` (None: to the end), indexed from 0. A cluster
    worker reads its chunk so, and its frames are the whole run's frames at those times.
    """

    def __init__(self, path: Path, max_pixels: int = MAX_PICTURE_PIXELS,
                 notify: Notify | None = None, *, start: int | None = None,
                 stop: int | None = None) -> None:
        self.path = Path(path)
        self._range = (start, stop)
        _check_readable(self.path)
        try:
            self._container = av.open(str(self.path))
        except (av.error.FFmpegError, UnicodeDecodeError) as exc:
            raise InputError(f"{self.path}: not a video or image file rtmatte can read "
                             f"({_reason(exc)})") from exc
        try:
            moving = self._moving_streams()
            self._stream = moving[0]
            self._max_pixels = max_pixels
            context = self._stream.codec_context
            check_size(context.width, context.height, max_pixels,
                       f"{self.path}: its frames are")
            self._stream.thread_type = "AUTO"
            self.info = self._probe()
            self._wide = is_wide(context)
            self._display = describe_display(self._stream)
        except BaseException:
            self._container.close()
            raise
        if notify is not None:
            for note in notes_on(self.path, self._stream, len(moving) - 1):
                notify(note)

    def _moving_streams(self) -> list[av.video.stream.VideoStream]:
        """The video streams that move: an attached picture (cover art) is not one of them."""
        streams = self._container.streams
        moving = [s for s in streams.video
                  if not s.disposition & av.stream.Disposition.attached_pic]
        if moving:
            return moving
        if streams.audio:
            cover = " and a cover picture" if streams.video else ""
            raise InputError(f"{self.path}: holds audio only{cover}, no video stream; rtmatte "
                             "needs a video or a picture")
        raise InputError(f"{self.path}: has no video stream")

    def _probe(self) -> VideoInfo:
        stream = self._stream
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        self._start, duration = self._span()
        return VideoInfo(
            time_base=stream.time_base or Fraction(1, 90000), rate=Fraction(rate),
            frames=int(stream.frames or 0), duration=duration,
            audio_streams=len(self._container.streams.audio),
            subtitle_streams=len(self._container.streams.subtitles),
        )

    def _span(self) -> tuple[float, float]:
        """Where the video's timeline begins and how long it lasts from there, in seconds (0
        when unknown): the stream's own figures, else the container's.

        Matroska states its duration from time 0, not from its first timestamp, so a file
        starting at 5 s says 7 s for 2 s of video; the start is taken off. MP4 and MPEG-TS
        state it from the start already.
        """
        stream, container = self._stream, self._container
        if stream.duration is not None and stream.time_base is not None:
            return (float((stream.start_time or 0) * stream.time_base),
                    float(stream.duration * stream.time_base))
        if not container.duration:
            return 0.0, 0.0
        start = (container.start_time or 0) / av.time_base
        duration = container.duration / av.time_base
        if "matroska" in container.format.name:
            duration -= start
        return start, max(0.0, duration)

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        frame_ticks = self.info.ticks_per_frame
        last_pts: int | None = None
        start, stop = self._range
        try:
            if start is not None:
                self._container.seek(start, stream=self._stream, backward=True, any_frame=False)
            pictures = self._container.decode(self._stream)
            if is_interlaced(self._stream):
                pictures = deinterlaced(pictures, self._stream)
            for decoded in pictures:
                # the declared size is checked before decoding; a stream that grows later on
                # has one frame decoded, never turned into RGB and handed on
                check_size(decoded.width, decoded.height, self._max_pixels,
                           f"{self.path}: frame {index} is")
                pts = decoded.pts
                if pts is None or (last_pts is not None and pts <= last_pts):
                    pts = 0 if last_pts is None else last_pts + frame_ticks
                last_pts = pts
                if start is not None and pts < start:
                    continue  # decoded from the keyframe before the range, not part of it
                if stop is not None and pts >= stop:
                    return
                rgb = to_rgb(decoded, self._wide)
                rotation = -int(decoded.rotation or 0) % 360
                turn = _UPRIGHT.get(rotation)
                if turn is not None:
                    rgb = cv2.rotate(rgb, turn)
                yield Frame(rgb=rgb, index=index, pts=pts, time_base=self.info.time_base,
                            display=upright(self._display, rotation in (90, 270)))
                index += 1
        except av.error.FFmpegError as exc:
            raise StreamError(
                f"{self.path}: the video stream is corrupt after frame {index} ({_reason(exc)})",
                frames_written=index,
            ) from exc
        if start is None:  # a range ends where it was asked to, not where the header says
            self._check_complete(index, last_pts)

    def _check_complete(self, decoded: int, last_pts: int | None) -> None:
        """Raise when the stream stopped well short of what the container header promised.

        FFmpeg ends a truncated file without an error, so the shortfall is the only sign. A
        frame count in the header is checked exactly (2% slack for edit lists); a duration only
        loosely, since audio may outlast the video by a little in healthy files.
        """
        info = self.info
        if info.frames:
            if decoded < info.frames * 0.98 - 1:
                raise StreamError(
                    f"{self.path}: the video stream ends after {decoded} of its {info.frames} "
                    "frames (the file is truncated or corrupt)", frames_written=decoded)
            return
        if not info.duration or last_pts is None:
            return
        shown = float(last_pts * info.time_base) + 1 / float(info.rate) - self._start
        if shown < info.duration - max(_DURATION_SLACK_S, 0.05 * info.duration):
            raise StreamError(
                f"{self.path}: the video stream ends at {shown:.2f} s of its "
                f"{info.duration:.2f} s, after {decoded} frames (the file is truncated or "
                "corrupt)", frames_written=decoded)

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_image(path: Path, max_pixels: int = MAX_PICTURE_PIXELS) -> np.ndarray:
    """Read a still picture as upright uint8 RGB (EXIF orientation applied)."""
    return read_image_with_alpha(path, max_pixels)[0]


def read_image_with_alpha(path: Path, max_pixels: int = MAX_PICTURE_PIXELS,
                          ) -> tuple[np.ndarray, np.ndarray | None]:
    """Upright uint8 RGB, and the picture's own alpha as float32 in [0, 1] where it has one.

    A picture that is already partly transparent (a PNG cut-out, a logo) says what it hides;
    the caller keeps that hidden instead of showing whatever colour the hidden pixels hold.
    A picture declaring more than ``max_pixels`` is refused before it is decoded.
    """
    path = Path(path)
    _check_readable(path)
    return decode_image(np.fromfile(str(path), dtype=np.uint8), str(path),
                        may_have_alpha=path.suffix.lower() in ALPHA_IMAGE_EXTENSIONS,
                        max_pixels=max_pixels)


def check_picture_file(path: Path, max_pixels: int = MAX_PICTURE_PIXELS) -> None:
    """Refuse a picture file declaring more than ``max_pixels`` now, from its header, before the
    slow set-up a run does before it reads its input (loading the model)."""
    path = Path(path)
    if is_image_path(path):
        _check_readable(path)
        size = declared_size(np.fromfile(str(path), dtype=np.uint8))
        if size is not None:
            check_size(*size, max_pixels, f"{path}: the picture is")


def decode_image(data: np.ndarray, name: str, may_have_alpha: bool = True,
                 max_pixels: int = MAX_PICTURE_PIXELS,
                 ) -> tuple[np.ndarray, np.ndarray | None]:
    """An encoded picture's upright uint8 RGB and own alpha (see :func:`read_image_with_alpha`),
    from bytes already in memory (an upload); ``name`` says what it was, in the message.

    The size its header declares is checked first: a decoder allocates that much before it
    reads a pixel, and a few hundred bytes can declare gigabytes.
    """
    size = declared_size(data) if data.size else None
    if size is None:
        raise InputError(f"{name}: not an image rtmatte can read ({FORMATS})")
    check_size(*size, max_pixels, f"{name}: the picture is")
    try:
        bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)  # applies the EXIF turn
        alpha = _own_alpha(data) if may_have_alpha and bgr is not None else None
    except cv2.error as exc:
        raise InputError(f"{name}: not an image rtmatte can read ({_reason(exc)})") from exc
    if bgr is None:
        raise InputError(f"{name}: not an image rtmatte can read")
    if alpha is not None and alpha.shape != bgr.shape[:2]:
        raise InputError(f"{name}: a transparent picture with an EXIF turn is not supported; "
                         "save it upright")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), alpha


def check_size(width: int, height: int, max_pixels: int, what: str) -> None:
    """Raise PictureTooLarge when width x height is over ``max_pixels``; ``what`` starts the
    message ("talk.png: the picture is")."""
    if width * height > max_pixels:
        raise PictureTooLarge(
            f"{what} {width}x{height} ({_megapixels(width * height)}), over the limit of "
            f"{_megapixels(max_pixels)}; to read it, raise the limit with "
            "--max-picture-pixels N (max_picture_pixels in a config file)")


def _megapixels(pixels: int) -> str:
    return f"{pixels} pixels" if pixels < 1_000_000 else f"{round(pixels / 1e6, 1):g} megapixels"


def _own_alpha(data: np.ndarray) -> np.ndarray | None:
    """The alpha channel of an encoded picture, None when it has none or it hides nothing.

    A second decode, so it is only asked of formats that can carry alpha (OpenCV's colour
    decode drops the channel, and the unchanged decode skips the EXIF turn)."""
    pixels = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.ndim != 3 or pixels.shape[2] != 4:
        return None
    scale = float(np.iinfo(pixels.dtype).max) if pixels.dtype.kind == "u" else 1.0
    alpha = pixels[..., 3].astype(np.float32) / scale
    return None if alpha.min() >= 1.0 else alpha


def readable_kind(path: Path) -> str:
    """'image' or 'video' for an input path, by its name alone, once it is found to be a regular
    file that can be opened (InputError otherwise); nothing is decoded: a file named as a
    picture that holds none is found out when it is read."""
    path = Path(path)
    _check_readable(path)
    if is_image_path(path):
        return "image"
    return "video"


def _check_readable(path: Path) -> None:
    """Raise InputError unless ``path`` is a regular file that can be opened. A named pipe,
    socket or device is refused before it is opened: opening a pipe waits for a writer."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if stat.S_ISDIR(mode):
        raise InputError(f"{path}: is a folder, not a file")
    if not stat.S_ISREG(mode):
        raise InputError(f"{path}: is not a regular file (a pipe, socket or device); rtmatte "
                         "reads files, and cameras as camera, camera:N or /dev/videoN")
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from exc


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).splitlines()[0][:160]

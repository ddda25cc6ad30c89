"""Encoded video files: H.264, VP9 or ProRes 4444 with alpha, with the source's audio beside."""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from rtmatte.errors import OutputError
from rtmatte.media import ALPHA_IMAGE_EXTENSIONS, ALPHA_VIDEO_CODECS
from rtmatte.sinks.atomic import Staging, check_kind, check_target, kept_path, write_error
from rtmatte.sinks.audio import AudioCarrier
from rtmatte.types import UNSPECIFIED, Display, Frame, Matte

_OPAQUE_CODEC = {".webm": "libvpx-vp9"}
_DEFAULT_CODEC = "libx264"
#: FFmpeg colour space codes -> the swscale matrix that converts RGB to that Y'CbCr
_SWS_MATRIX = {1: "ITU709", 4: "FCC", 5: "ITU601", 6: "ITU601", 7: "SMPTE240M", 9: "BT2020",
               10: "BT2020"}
#: FFmpeg's code for limited ("TV", 16-235) range, which every pixel format written here uses
_LIMITED = 1


def refuse_alpha_target(target: Path) -> None:
    """Raise when ``target``'s container cannot carry transparency, naming the ones that can."""
    suffix = target.suffix.lower()
    if suffix in ALPHA_VIDEO_CODECS or suffix in ALPHA_IMAGE_EXTENSIONS:
        return
    raise OutputError(
        f"{target.name}: {suffix or 'this'} files cannot carry transparency; for --bg transparent "
        "write .mov (ProRes 4444), .webm or .mkv (VP9 with alpha) for video, or .png for images"
    )


class VideoFileSink:
    """Encodes frames into ``target`` via a hidden partial file renamed into place on success.

    The stream is set up from the first frame (its size is only known once frames are upright),
    with the source's time base so every frame keeps its exact timestamp, and the first frame's
    :class:`~rtmatte.types.Display`: the shape of its pixels and its colour space are written
    as the source had them (a colour space nobody stated stays unstated, converted as before).
    """

    def __init__(
        self, target: Path, *, time_base: Fraction, rate: Fraction, alpha: bool = False,
        audio_from: Path | None = None, crf: int = 18, overwrite: bool = False,
    ) -> None:
        self.target = Path(target)
        check_kind(self.target, "video")
        check_target(self.target, overwrite)
        if alpha:
            refuse_alpha_target(self.target)
        self.alpha = alpha
        self._overwrite = overwrite  # the final rename checks again: another run may finish first
        self._time_base = time_base
        self._rate = rate
        self._crf = crf
        self._audio_from = audio_from
        self._staging = Staging(self.target.parent)
        try:
            self._container = av.open(str(self._staging.file(self.target.name)), "w")
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            self._staging.discard()
            raise write_error(self.target, exc) from exc
        self._stream: av.video.stream.VideoStream | None = None
        self._audio: AudioCarrier | None = None
        self._pad: tuple[int, int] = (0, 0)
        self._matrix: str | None = None  # the swscale matrix to Y'CbCr, None: its default
        self._tags = (UNSPECIFIED, UNSPECIFIED)  # primaries and transfer, on every frame
        self._square: tuple[int, int] | None = None  # (width, height) to stretch pictures to
        self._own_notes: list[str] = []
        self.frames = 0
        self.written: Path | None = None
        #: the source broke part way: what was written is kept, but not under the target name
        self.incomplete = False

    @property
    def audio_codecs(self) -> list[str]:
        return [t.codec for t in self._audio.tracks] if self._audio else []

    @property
    def notes(self) -> list[str]:
        """What changed on the way for the streams carried beside the video (a re-encode, a
        downmix, a subtitle left out), and for the video's own shape, in sentences for the
        user."""
        return [*self._own_notes, *(self._audio.notes if self._audio else [])]

    def _open_stream(self, height: int, width: int,
                     display: Display) -> av.video.stream.VideoStream:
        suffix = self.target.suffix.lower()
        codec = ALPHA_VIDEO_CODECS[suffix] if self.alpha else _OPAQUE_CODEC.get(suffix,
                                                                               _DEFAULT_CODEC)
        if codec == "libvpx-vp9" and display.pixel_aspect != 1:
            width = self._square_pixels(height, width, display.pixel_aspect)
            display = dataclasses.replace(display, pixel_aspect=Fraction(1))
        stream = self._container.add_stream(codec, rate=self._rate)
        stream.time_base = self._time_base
        stream.codec_context.time_base = self._time_base
        if codec == "prores_ks":
            stream.pix_fmt = "yuva444p10le"
            stream.options = {"profile": "4"}  # 4444: carries alpha
        elif codec == "libvpx-vp9":
            stream.pix_fmt = "yuva420p" if self.alpha else "yuv420p"
            stream.options = {"crf": str(self._crf + 12), "b": "0", "row-mt": "1",
                              "deadline": "good", "cpu-used": "4"}
        else:
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(self._crf), "preset": "veryfast"}
        if stream.pix_fmt.startswith("yuv") and "420" in stream.pix_fmt:
            # 4:2:0 needs even sizes: odd pictures get one replicated edge row/column
            self._pad = (height % 2, width % 2)
        stream.width, stream.height = width + self._pad[1], height + self._pad[0]
        stream.thread_type = "AUTO"
        self._describe(stream.codec_context, display)
        if self._audio_from is not None:
            self._audio = AudioCarrier(self._audio_from, self._container, suffix)
        return stream

    def _square_pixels(self, height: int, width: int, aspect: Fraction) -> int:
        """VP9 holds no pixel shape, and Matroska's is set where PyAV does not reach: pictures
        of pixels that are not square are stretched to square ones, shown as wide as before.
        Returns the new width."""
        shown = max(1, round(width * aspect))
        self._square = (shown, height)
        shape = f"{aspect.numerator}:{aspect.denominator}"
        self._own_notes.append(
            f"{self.target.name}: VP9 here cannot carry the source's pixel shape ({shape}), so "
            f"its pictures are written with square pixels, {shown}x{height}, as wide as the "
            "source is shown")
        return shown

    def _describe(self, context: av.video.codeccontext.VideoCodecContext,
                  display: Display) -> None:
        """Tag the stream with the pixel shape and colour space of ``display``, and convert to
        Y'CbCr with its matrix (the one the source was decoded with)."""
        if display.pixel_aspect != 1:
            context.sample_aspect_ratio = display.pixel_aspect
        if display.primaries != UNSPECIFIED:
            context.color_primaries = display.primaries
        if display.transfer != UNSPECIFIED:
            context.color_trc = display.transfer
        self._tags = (display.primaries, display.transfer)  # ProRes reads them off each frame
        self._matrix = _SWS_MATRIX.get(display.matrix)
        if self._matrix is not None:
            context.colorspace = display.matrix
            context.color_range = _LIMITED

    def write(self, picture: np.ndarray, frame: Frame, matte: Matte | None = None) -> None:
        """Encode one uint8 RGB (or RGBA when ``alpha``) picture at the frame's own ``pts``."""
        try:
            if self._stream is None:
                self._stream = self._open_stream(picture.shape[0], picture.shape[1],
                                                 frame.display)
            if self._square is not None:
                picture = cv2.resize(picture, self._square, interpolation=cv2.INTER_LINEAR)
            if any(self._pad):
                picture = np.pad(picture, ((0, self._pad[0]), (0, self._pad[1]), (0, 0)),
                                 mode="edge")
            encoded = av.VideoFrame.from_ndarray(picture,
                                                 format="rgba" if self.alpha else "rgb24")
            encoded = encoded.reformat(format=self._stream.pix_fmt, dst_colorspace=self._matrix,
                                       dst_color_range="MPEG" if self._matrix else None)
            if self._tags[0] != UNSPECIFIED:
                encoded.color_primaries = self._tags[0]
            if self._tags[1] != UNSPECIFIED:
                encoded.color_trc = self._tags[1]
            encoded.pts = self.frames if frame.pts is None else frame.pts
            encoded.time_base = self._time_base
            for packet in self._stream.encode(encoded):
                self._mux_video(packet)
        except (OSError, av.error.FFmpegError) as exc:
            raise write_error(self.target, exc) from exc
        self.frames += 1

    def _mux_video(self, packet: av.Packet) -> None:
        if self._audio is not None and packet.pts is not None:
            self._audio.feed_until(float(packet.pts * packet.time_base))
        self._container.mux(packet)

    def close(self) -> Path | None:
        """Flush and finalize. Returns where the file went: the target, or a ``.partial`` name
        when :attr:`incomplete` (None when no frame came, which leaves no file).

        Anything that fails on the way (the encoder's last packets, the audio's tail, the
        container's index on a disk that just filled up) aborts the sink: the target is left
        as it was and no staged file stays behind.
        """
        if self._stream is None:  # nothing to keep: no file at all
            self.abort()
            return None
        try:
            for packet in self._stream.encode(None):
                self._mux_video(packet)
            if self._audio is not None:
                self._audio.finish()
            self._container.close()
            destination = kept_path(self.target) if self.incomplete else self.target
            self._staging.commit(self.target.name, destination, self._overwrite)
        except (OSError, av.error.FFmpegError) as exc:
            self.abort()
            raise write_error(self.target, exc) from exc
        except BaseException:
            self.abort()
            raise
        self._staging.discard()
        self.written = destination
        return destination

    def abort(self) -> None:
        """Drop everything written so far; the target is left as it was."""
        try:
            if self._audio is not None:
                self._audio.close()
            self._container.close()
        except (OSError, av.error.FFmpegError):
            pass
        self._staging.discard()

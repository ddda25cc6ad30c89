"""File sinks: encoded video (with the source's audio), still images, and the alpha matte."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from rtmatte.errors import OutputError
from rtmatte.io.atomic import check_kind, check_target, commit, discard, kept_path, partial_path
from rtmatte.io.audio import AudioCarrier
from rtmatte.io.media import ALPHA_IMAGE_EXTENSIONS, ALPHA_VIDEO_CODECS

_OPAQUE_CODEC = {".webm": "libvpx-vp9"}
_DEFAULT_CODEC = "libx264"


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
    with the source's time base so every frame keeps its exact timestamp.
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
        self._time_base = time_base
        self._rate = rate
        self._crf = crf
        self._audio_from = audio_from
        self._partial = partial_path(self.target)
        try:
            self._container = av.open(str(self._partial), "w")
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise OutputError(f"cannot write {self.target}: {exc}") from exc
        self._stream: av.video.stream.VideoStream | None = None
        self._audio: AudioCarrier | None = None
        self._pad: tuple[int, int] = (0, 0)
        self.frames = 0

    @property
    def audio_codecs(self) -> list[str]:
        return [t.codec for t in self._audio.tracks] if self._audio else []

    def _open_stream(self, height: int, width: int) -> av.video.stream.VideoStream:
        suffix = self.target.suffix.lower()
        codec = ALPHA_VIDEO_CODECS[suffix] if self.alpha else _OPAQUE_CODEC.get(suffix,
                                                                               _DEFAULT_CODEC)
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
        if self._audio_from is not None:
            self._audio = AudioCarrier(self._audio_from, self._container, suffix)
        return stream

    def write(self, picture: np.ndarray, pts: int | None) -> None:
        """Encode one uint8 RGB (or RGBA when ``alpha``) picture at ``pts`` (source time base)."""
        if self._stream is None:
            self._stream = self._open_stream(picture.shape[0], picture.shape[1])
        if any(self._pad):
            picture = np.pad(picture, ((0, self._pad[0]), (0, self._pad[1]), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(picture, format="rgba" if self.alpha else "rgb24")
        frame.pts = self.frames if pts is None else pts
        frame.time_base = self._time_base
        for packet in self._stream.encode(frame):
            self._mux_video(packet)
        self.frames += 1

    def _mux_video(self, packet: av.Packet) -> None:
        if self._audio is not None and packet.pts is not None:
            self._audio.feed_until(float(packet.pts * packet.time_base))
        self._container.mux(packet)

    def close(self, keep_incomplete: bool = False) -> Path:
        """Flush and finalize. Returns where the file went: the target, or a ``.partial`` name."""
        if self._stream is None:
            self._container.close()
            discard(self._partial)
            raise OutputError(f"no frames to write to {self.target}")
        for packet in self._stream.encode(None):
            self._mux_video(packet)
        if self._audio is not None:
            self._audio.finish()
        self._container.close()
        destination = kept_path(self.target) if keep_incomplete else self.target
        commit(self._partial, destination)
        return destination

    def abort(self) -> None:
        """Drop everything written so far; the target is left as it was."""
        try:
            if self._audio is not None:
                self._audio.close()
            self._container.close()
        except av.error.FFmpegError:
            pass
        discard(self._partial)


def write_image(target: Path, picture: np.ndarray, overwrite: bool = False) -> None:
    """Write a uint8 RGB or RGBA picture atomically (PNG keeps the alpha)."""
    target = Path(target)
    check_kind(target, "image")
    check_target(target, overwrite)
    if picture.shape[2] == 4:
        refuse_alpha_target(target)
        bgr = cv2.cvtColor(picture, cv2.COLOR_RGBA2BGRA)
    else:
        bgr = cv2.cvtColor(picture, cv2.COLOR_RGB2BGR)
    _encode_to(target, bgr)


class AlphaSequenceSink:
    """Writes each frame's matte losslessly as an 8-bit grey PNG named by a printf pattern.

    ``alpha/%05d.png`` gives ``alpha/00001.png`` for the first frame (numbering from 1, as
    FFmpeg's image sequences do). The folder is created when missing.
    """

    def __init__(self, pattern: str, overwrite: bool = False) -> None:
        self.pattern = pattern
        try:
            first = Path(pattern % 1)
        except TypeError as exc:
            raise OutputError(f"--alpha-output {pattern!r} needs one number field like %05d") \
                from exc
        if first.suffix.lower() != ".png":
            raise OutputError(f"--alpha-output {pattern!r}: the matte is written as .png files")
        if first.exists() and not overwrite:
            raise OutputError(f"{first} already exists; pass --overwrite to replace it")
        try:
            first.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create folder {first.parent}: {exc.strerror}") from exc
        self.frames = 0

    def write(self, alpha: np.ndarray) -> None:
        self.frames += 1
        matte = np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)
        _encode_to(Path(self.pattern % self.frames), matte)


def _encode_to(target: Path, pixels: np.ndarray) -> None:
    """Encode by ``target``'s extension into a partial file, then rename it into place."""
    ok, encoded = cv2.imencode(target.suffix.lower() or ".png", pixels)
    if not ok:
        raise OutputError(f"cannot encode {target.name} as {target.suffix or 'png'}")
    partial = partial_path(target)
    try:
        partial.write_bytes(encoded.tobytes())
        commit(partial, target)
    except OSError as exc:
        discard(partial)
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc

"""File sinks: encoded video (with the source's audio), still images, and the alpha matte."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from rtmatte.errors import OutputError
from rtmatte.io.atomic import (
    Staging,
    check_kind,
    check_target,
    kept_path,
    write_bytes,
    write_error,
)
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
        self._staging = Staging(self.target.parent)
        try:
            self._container = av.open(str(self._staging.file(self.target.name)), "w")
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            self._staging.discard()
            raise write_error(self.target, exc) from exc
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
        try:
            for packet in self._stream.encode(frame):
                self._mux_video(packet)
        except (OSError, av.error.FFmpegError) as exc:
            raise write_error(self.target, exc) from exc
        self.frames += 1

    def _mux_video(self, packet: av.Packet) -> None:
        if self._audio is not None and packet.pts is not None:
            self._audio.feed_until(float(packet.pts * packet.time_base))
        self._container.mux(packet)

    def close(self, keep_incomplete: bool = False) -> Path:
        """Flush and finalize. Returns where the file went: the target, or a ``.partial`` name.

        Anything that fails on the way (the encoder's last packets, the audio's tail, the
        container's index on a disk that just filled up) aborts the sink: the target is left
        as it was and no staged file stays behind.
        """
        if self._stream is None:
            self.abort()
            raise OutputError(f"no frames to write to {self.target}")
        try:
            for packet in self._stream.encode(None):
                self._mux_video(packet)
            if self._audio is not None:
                self._audio.finish()
            self._container.close()
            destination = kept_path(self.target) if keep_incomplete else self.target
            self._staging.commit(self.target.name, destination)
        except (OSError, av.error.FFmpegError) as exc:
            self.abort()
            raise write_error(self.target, exc) from exc
        except BaseException:
            self.abort()
            raise
        self._staging.discard()
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
    write_bytes(target, _encoded(target, bgr))


class AlphaSequenceSink:
    """Writes each frame's matte losslessly as an 8-bit grey PNG named by a printf pattern.

    ``alpha/%05d.png`` gives ``alpha/00001.png`` for the first frame (numbering from 1, as
    FFmpeg's image sequences do). The folder is created when missing. The pictures are staged
    and only moved into place by :meth:`close`, so an interrupted run leaves none of them, and
    a sequence written with ``--overwrite`` over a longer one removes the old one's extra frames
    instead of leaving them mixed in.
    """

    def __init__(self, pattern: str, overwrite: bool = False) -> None:
        self.pattern = FramePattern(pattern)
        self.overwrite = overwrite
        folder = self.pattern.folder
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create folder {folder}: {exc.strerror}") from exc
        existing = self.pattern.existing()
        if existing and not overwrite:
            raise OutputError(f"{existing[0]} already exists; pass --overwrite to replace the "
                              "sequence")
        self._staging = Staging(folder)
        self.frames = 0

    def write(self, alpha: np.ndarray) -> None:
        matte = np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)
        name = self.pattern.name(self.frames + 1)
        try:
            self._staging.file(name).write_bytes(_encoded(Path(name), matte))
        except OSError as exc:
            raise write_error(self.pattern.folder / name, exc) from exc
        self.frames += 1

    def close(self) -> Path:
        """Move the staged pictures into place; returns the first one's path."""
        try:
            stale = [p for p in self.pattern.existing()
                     if self.pattern.number(p.name) > self.frames]
            for number in range(1, self.frames + 1):
                name = self.pattern.name(number)
                self._staging.commit(name, self.pattern.folder / name)
            for path in stale:
                path.unlink(missing_ok=True)
        finally:
            self._staging.discard()
        return self.pattern.folder / self.pattern.name(1)

    def abort(self) -> None:
        """Drop the staged pictures; an older sequence under the pattern stays as it was."""
        self._staging.discard()


class FramePattern:
    """A printf-style file name with one frame number, as FFmpeg's image sequences take it.

    Only ``%d`` or ``%0Nd`` (once, in the file name) and ``%%`` are accepted, so a stray ``%``
    is refused up front instead of failing when the first picture is written.
    """

    _FIELD = re.compile(r"%(0\d+)?d|%%|%")

    def __init__(self, pattern: str) -> None:
        self.text = pattern
        path = Path(pattern)
        self.folder = path.parent
        if "%" in str(self.folder):
            raise OutputError(f"--alpha-output {pattern!r}: the frame number belongs in the file "
                              "name, not the folder")
        regex, fields = [], 0
        position = 0
        for match in self._FIELD.finditer(path.name):
            regex.append(re.escape(path.name[position:match.start()]))
            position = match.end()
            if match.group(0) == "%%":
                regex.append("%")
            elif match.group(0) == "%":
                raise OutputError(f"--alpha-output {pattern!r}: a lone % (write %% for a percent "
                                  "sign, %05d for the frame number)")
            else:
                fields += 1
                width = int(match.group(1) or 0)
                regex.append(rf"(\d{{{max(width, 1)},}})")
        regex.append(re.escape(path.name[position:]))
        if fields != 1:
            raise OutputError(f"--alpha-output {pattern!r} needs one number field like %05d")
        self._name = path.name
        self._regex = re.compile("".join(regex) + r"\Z")
        if Path(self.name(1)).suffix.lower() != ".png":
            raise OutputError(f"--alpha-output {pattern!r}: the matte is written as .png files")

    def name(self, number: int) -> str:
        return self._name % number

    def number(self, name: str) -> int:
        match = self._regex.match(name)
        return int(match.group(1)) if match else 0

    def existing(self) -> list[Path]:
        """Files in the folder that the pattern could have written, in frame order."""
        if not self.folder.is_dir():
            return []
        found = [p for p in self.folder.iterdir() if self.number(p.name) > 0]
        return sorted(found, key=lambda p: self.number(p.name))


def _encoded(target: Path, pixels: np.ndarray) -> bytes:
    """``pixels`` encoded in the format ``target``'s extension names."""
    ok, encoded = cv2.imencode(target.suffix.lower() or ".png", pixels)
    if not ok:
        raise OutputError(f"cannot encode {target.name} as {target.suffix or 'png'}")
    return encoded.tobytes()

"""What the server accepts from a request: pictures, videos and background choices.

An uploaded file's name never becomes a path: files are stored under names the server makes,
inside a folder the server made, and the client's name is only echoed back, cleaned, in a
download's file name. A ``bg`` text field names a colour, blur or transparency and never a
file, so a request cannot make the server read a picture or video of its own disk.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import BinaryIO

import av
import cv2
import numpy as np

from rtmatte.compose.backgrounds import TRANSPARENT, parse_background
from rtmatte.compose.colours import parse_colour
from rtmatte.errors import BackgroundError, InputError
from rtmatte.server.errors import Unsupported
from rtmatte.sources.file import decode_image

_BLUR = re.compile(r"blur(:[0-9.]+)?")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"})
_VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg",
                             ".ts", ".flv", ".wmv", ".gif", ".3gp"})
_CHUNK = 1 << 20


def background_spec(text: str) -> str:
    """``text`` checked to be a background that is not a file: transparent, blur[:N], a colour.

    Raises BackgroundError with the choices otherwise (a bad colour or blur strength keeps the
    message :func:`parse_background` gives it).
    """
    spec = text.strip()
    lowered = spec.lower()
    if lowered == TRANSPARENT or _BLUR.fullmatch(lowered) or parse_colour(spec) is not None:
        parse_background(spec)  # the strength's range, checked where the CLI checks it
        return spec
    raise BackgroundError(f"bg '{spec}': use transparent, blur, blur:STRENGTH, a colour name or "
                          "#rrggbb; send a picture or a video as the bg_file field")


def download_name(client_name: str | None, suffix: str) -> str:
    """A file name for the answer's Content-Disposition, from the client's name cleaned."""
    stem = _UNSAFE.sub("_", Path(client_name or "").stem).strip("._")[:64] or "rtmatte"
    return f"{stem}.rtmatte{suffix}"


def client_name(given: str | None, fallback: str) -> str:
    """How a message names an upload: the file name the client sent (its folders dropped),
    never the path the server stored it at."""
    return Path(given or "").name or fallback


def decode_picture(data: bytes, max_pixels: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Upright uint8 RGB and the picture's own alpha (float32, None when it hides nothing), as
    the command line reads a picture file, so both give the same matte. A picture declaring
    more than ``max_pixels`` is refused (PictureTooLarge, 422) before it is decoded."""
    try:
        return decode_image(np.frombuffer(data, np.uint8), "the upload", max_pixels=max_pixels)
    except InputError as exc:
        raise Unsupported(str(exc)) from exc


def store(stream: BinaryIO, folder: Path, stem: str,
          client_name: str | None) -> tuple[Path, str]:
    """Copy an upload into ``folder`` as ``stem`` plus a suffix saying what it holds; returns
    the path and its kind ('image' or 'video').

    The suffix is the client's own when it is a known picture or video suffix matching the
    content, else a neutral one of the right kind: rtmatte tells pictures from videos by suffix.
    """
    staged = folder / f"{stem}.upload"
    with staged.open("wb") as out:
        shutil.copyfileobj(stream, out, _CHUNK)
    try:
        kind = media_kind(staged)
    except Unsupported:
        staged.unlink()
        raise
    known = _IMAGE_SUFFIXES if kind == "image" else _VIDEO_SUFFIXES
    suffix = Path(client_name or "").suffix.lower()
    if suffix not in known:
        suffix = ".png" if kind == "image" else ".mkv"
    return staged.rename(folder / f"{stem}{suffix}"), kind


def media_kind(path: Path) -> str:
    """'image' or 'video' by content; Unsupported for anything else (or a video with no
    picture track)."""
    if cv2.haveImageReader(str(path)):
        return "image"
    try:
        with av.open(str(path)) as container:
            if container.streams.video:
                return "video"
    except (av.FFmpegError, UnicodeDecodeError, ValueError):
        pass
    raise Unsupported("the file is neither a picture nor a video rtmatte can read")

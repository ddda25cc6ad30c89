"""The panel's backgrounds: what rtmatte ships (blur, colours, scenes it paints itself) and the
person's own pictures and videos, kept between sessions in their data folder.

A person who picks a beach picture once expects to find it there tomorrow, as in NVIDIA
Broadcast or OBS: uploads are stored under ``$RTMATTE_HOME/backgrounds`` or the user data folder
(platformdirs), named by the server (a random id, then the client's name cleaned), never by a
path the client chose. The scenes are painted from code on first use (no download, no bundled
photographs) and written beside them, since the live run takes a background as a file.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import av
import cv2
import numpy as np
from platformdirs import user_data_dir

from rtmatte.compose.backgrounds import cover_fit
from rtmatte.compose.colours import parse_colour
from rtmatte.errors import InputError
from rtmatte.media import MAX_PICTURE_PIXELS
from rtmatte.samples import portrait, sunset_background
from rtmatte.server.errors import Busy, NotFound, Unsupported
from rtmatte.server.uploads import store
from rtmatte.sources.file import read_image

#: how many of their own backgrounds a person may keep; one more is refused with what to do
MAX_UPLOADS = 60
THUMB_SIZE = (256, 144)
_SCENE_SIZE = (1280, 720)
_SCENE_VERSION = 1
_UPLOAD = re.compile(r"([0-9a-f]{12})~([A-Za-z0-9._-]{1,80})")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_BLUR = re.compile(r"blur(?::([0-9.]+))?")


def home() -> Path:
    """Where the backgrounds live: ``$RTMATTE_HOME/backgrounds`` or the user data folder."""
    root = os.environ.get("RTMATTE_HOME")
    return (Path(root) if root else Path(user_data_dir("rtmatte"))) / "backgrounds"


def _gradient(top: tuple[int, int, int], bottom: tuple[int, int, int], width: int, height: int,
              ) -> np.ndarray:
    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    column = np.array(top, np.float32) * (1 - t) + np.array(bottom, np.float32) * t
    return np.repeat(column, width, axis=1)


def _studio(width: int, height: int) -> np.ndarray:
    """A photographer's grey backdrop: light in the middle, darker towards the edges."""
    y = np.linspace(-1.0, 1.0, height, dtype=np.float32)[:, None]
    x = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :]
    light = np.clip(1.0 - 0.45 * (x**2 + (y + 0.2) ** 2), 0, 1)[..., None]
    return np.clip(_gradient((92, 98, 108), (52, 56, 64), width, height) * (0.55 + 0.6 * light),
                   0, 255).astype(np.uint8)


def _dawn(width: int, height: int) -> np.ndarray:
    """A soft teal-to-peach sky with a few out-of-focus lights, like a window far behind."""
    image = _gradient((64, 140, 150), (245, 190, 160), width, height)
    rng = np.random.default_rng(7)  # the same picture on every machine
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    for _ in range(14):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height * 0.7)
        radius = rng.uniform(0.03, 0.08) * width
        glow = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / radius**2)[..., None]
        image = image + 0.18 * glow * np.array([255, 235, 200], np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class _Builtin:
    id: str
    label: str
    kind: str  # blur, colour, screen, transparent or picture
    spec: str | None = None
    paint: Callable[[int, int], np.ndarray] | None = None


_BUILTINS = (
    _Builtin("blur", "Blur", "blur", "blur"),
    _Builtin("colour", "Colour", "colour"),
    _Builtin("green", "Green screen", "screen", "green"),
    _Builtin("blue", "Blue screen", "screen", "blue"),
    # for the OBS overlay, which carries the alpha a virtual camera cannot
    _Builtin("transparent", "None (for OBS)", "transparent", "transparent"),
    _Builtin("sunset", "Sunset over the sea", "picture", paint=sunset_background),
    _Builtin("studio", "Studio grey", "picture", paint=_studio),
    _Builtin("dawn", "Soft dawn", "picture", paint=_dawn),
)


@dataclass(frozen=True)
class Item:
    """One background of the gallery, as the page shows it."""

    id: str
    label: str
    kind: str  # blur, colour, screen, transparent, picture or video
    own: bool = False  # the person's own upload (which they may remove)
    path: Path | None = None

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "label": self.label, "kind": self.kind, "own": self.own,
                "thumbnail": None if self.kind == "colour" else
                f"/api/backgrounds/{self.id}/thumbnail.jpg"}


class Gallery:
    """The backgrounds in ``folder`` (made on first use), the built-in ones first."""

    def __init__(self, folder: Path | None = None, max_pixels: int = MAX_PICTURE_PIXELS) -> None:
        self.folder = folder or home()
        self.max_pixels = max_pixels
        self._lock = threading.Lock()
        self._thumbs: dict[str, bytes] = {}

    @property
    def _own(self) -> Path:
        return self.folder / "own"

    def items(self) -> list[Item]:
        """Every background: the built-in ones, then the person's own, oldest first."""
        found = [Item(b.id, b.label, b.kind, path=self._scene_path(b) if b.paint else None)
                 for b in _BUILTINS]
        return found + self._uploads()

    def _uploads(self) -> list[Item]:
        if not self._own.is_dir():
            return []
        found = []
        for path in self._own.iterdir():
            try:  # one removed meanwhile (another tab, another request) is simply not listed
                if _UPLOAD.fullmatch(path.name) and path.is_file():
                    found.append((path.stat().st_mtime, path.name, path))
            except OSError:
                continue
        own = []
        for _, _, path in sorted(found):
            match = _UPLOAD.fullmatch(path.name)
            if match:
                kind = "picture" if cv2.haveImageReader(str(path)) else "video"
                own.append(Item(f"own-{match[1]}", match[2].replace("_", " "), kind, own=True,
                                path=path))
        return own

    def get(self, item_id: str) -> Item:
        """The item, its file there (a scene is painted on first use, not on listing: reading
        the state writes nothing)."""
        for item in self.items():
            if item.id == item_id:
                builtin = next((b for b in _BUILTINS if b.id == item_id), None)
                if builtin is not None and builtin.paint is not None:
                    self._paint(builtin)
                return item
        raise NotFound(f"no background '{item_id[:40]}': it may have been removed")

    def spec(self, item_id: str, blur: float | None = None, colour: str | None = None) -> str:
        """The ``--bg`` value of a gallery choice (a file's path for pictures and videos)."""
        item = self.get(item_id)
        if item.kind == "blur":
            return f"blur:{blur:g}" if blur and blur != 1 else "blur"
        if item.kind == "colour":
            return colour or "#3366cc"
        if item.path is not None:
            return str(item.path)
        return next(b.spec for b in _BUILTINS if b.id == item_id) or ""

    def choice_of(self, spec: str) -> dict[str, object]:
        """Which gallery item a ``--bg`` value is, with the blur strength or the colour: what
        the page ticks to show the background in use."""
        lowered = spec.strip().lower()
        blur = _BLUR.fullmatch(lowered)
        if blur:
            return {"choice": "blur", "blur": float(blur[1] or 1)}
        if lowered in ("green", "blue", "transparent"):
            return {"choice": lowered}
        rgb = parse_colour(spec)
        if rgb is not None:
            return {"choice": "colour", "colour": "#{:02x}{:02x}{:02x}".format(*rgb)}
        for item in self.items():
            if item.path is not None and str(item.path) == spec:
                return {"choice": item.id}
        return {"choice": None}

    def add(self, stream: BinaryIO, client_name: str | None) -> Item:
        """Keep an uploaded picture or video; one rtmatte cannot read is refused (and not
        kept), as is one more than :data:`MAX_UPLOADS`."""
        if len(self._uploads()) >= MAX_UPLOADS:
            raise Busy(f"you keep {MAX_UPLOADS} backgrounds already: remove one first")
        self._own.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".upload-", dir=self._own))
        try:
            staged, _ = store(stream, staging, "upload", client_name)
            thumb = self._thumbnail_of(staged)
            stem = _UNSAFE.sub("_", Path(client_name or "").stem).strip("._")[:60] or "background"
            target = self._own / f"{secrets.token_hex(6)}~{stem}{staged.suffix}"
            staged.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        item = next(i for i in self._uploads() if i.path == target)
        with self._lock:
            self._thumbs[item.id] = thumb
        return item

    def remove(self, item_id: str) -> None:
        item = self.get(item_id)
        if not item.own or item.path is None:
            raise NotFound(f"'{item.label}' comes with rtmatte and cannot be removed")
        item.path.unlink(missing_ok=True)
        with self._lock:
            self._thumbs.pop(item_id, None)

    def thumbnail(self, item_id: str) -> bytes:
        """A small JPEG of the background, for the gallery's tiles."""
        with self._lock:
            cached = self._thumbs.get(item_id)
        if cached is not None:
            return cached
        item = self.get(item_id)
        if item.kind == "blur":
            small = cv2.GaussianBlur(cover_fit(portrait(), THUMB_SIZE[1], THUMB_SIZE[0]),
                                     (0, 0), 6)
            thumb = _jpeg(small)
        elif item.kind == "transparent":
            cells = (np.indices((THUMB_SIZE[1], THUMB_SIZE[0])) // 16).sum(axis=0) % 2
            thumb = _jpeg(np.where(cells[..., None] == 1, 102, 153).repeat(3, 2).astype(np.uint8))
        elif item.kind == "screen":
            rgb = parse_colour(self.spec(item_id)) or (0, 0, 0)
            thumb = _jpeg(np.full((THUMB_SIZE[1], THUMB_SIZE[0], 3), rgb, np.uint8))
        elif item.path is not None:
            thumb = self._thumbnail_of(item.path)
        else:
            raise NotFound(f"'{item.label}' has no picture")
        with self._lock:
            self._thumbs[item_id] = thumb
        return thumb

    def _thumbnail_of(self, path: Path) -> bytes:
        """The file's picture (a video's first frame) made small; Unsupported when rtmatte
        cannot read it as a background."""
        try:
            if cv2.haveImageReader(str(path)):
                rgb = read_image(path, self.max_pixels)
            else:
                rgb = _first_frame(path)
        except InputError as exc:
            raise Unsupported(str(exc).replace(str(path), "the file")) from exc
        return _jpeg(cover_fit(rgb, THUMB_SIZE[1], THUMB_SIZE[0]))

    def _scene_path(self, builtin: _Builtin) -> Path:
        return self.folder / "scenes" / f"{builtin.id}-v{_SCENE_VERSION}.png"

    def _paint(self, builtin: _Builtin) -> None:
        """The painted scene's file, written once (whole, under its final name)."""
        path = self._scene_path(builtin)
        if not path.exists() and builtin.paint is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".png", delete=False) as f:
                staged = Path(f.name)
            try:
                picture = builtin.paint(*_SCENE_SIZE)
                cv2.imwrite(str(staged), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
                os.replace(staged, path)
            finally:
                staged.unlink(missing_ok=True)


def _first_frame(path: Path) -> np.ndarray:
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                return frame.to_ndarray(format="rgb24")
    except (av.FFmpegError, ValueError) as exc:
        raise InputError(f"the video cannot be read ({exc})") from exc
    raise InputError("the video has no picture in it")


def _jpeg(rgb: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise InputError("the thumbnail could not be encoded")
    return data.tobytes()

"""Still pictures: one composite written whole, or not at all."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from rtmatte.errors import OutputError
from rtmatte.sinks.atomic import check_kind, check_target, write_bytes
from rtmatte.sinks.video_file import refuse_alpha_target
from rtmatte.types import Frame, Matte


class ImageSink:
    """A picture output: keeps the newest composite and writes it when closed.

    The name is checked when the sink is made, before the model runs, so a bad one costs nothing.
    """

    def __init__(self, target: Path, overwrite: bool = False, alpha: bool = False) -> None:
        self.target = Path(target)
        self.overwrite = overwrite
        check_kind(self.target, "image")
        check_target(self.target, overwrite)
        if alpha:
            refuse_alpha_target(self.target)
        self._picture: np.ndarray | None = None
        self.frames = 0
        self.written: Path | None = None

    def write(self, picture: np.ndarray, frame: Frame, matte: Matte | None = None) -> None:
        self._picture = picture
        self.frames += 1

    def close(self) -> Path | None:
        if self._picture is None:
            return None
        write_image(self.target, self._picture, overwrite=self.overwrite)
        self.written = self.target
        return self.target

    def abort(self) -> None:
        self._picture = None


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
    write_bytes(target, encoded(target, bgr), overwrite)


def encoded(target: Path, pixels: np.ndarray) -> bytes:
    """``pixels`` encoded in the format ``target``'s extension names."""
    ok, encoded = cv2.imencode(target.suffix.lower() or ".png", pixels)
    if not ok:
        raise OutputError(f"cannot encode {target.name} as {target.suffix or 'png'}")
    return encoded.tobytes()

"""Webcam capture with OpenCV, surviving a camera that is unplugged and plugged back in."""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import cv2

from rtmatte.errors import InputError
from rtmatte.types import Frame, Notify

Opener = Callable[[int | str], Any]
_DEVICE = re.compile(r"^/dev/video(\d+)$")
#: uncompressed YUYV above VGA exceeds USB 2 bandwidth at 30 fps; MJPG does not
_MJPG_ABOVE_PIXELS = 640 * 480
_RETRY_S = 2.0
#: a timestamp unit fine enough for any camera rate, for recordings of camera input
CAMERA_TIME_BASE = Fraction(1, 1000)


def parse_camera(spec: str) -> int | str | None:
    """``camera`` -> 0, ``camera:N`` -> N, ``/dev/videoN`` -> the path; None for anything else."""
    text = spec.strip()
    if text.lower() == "camera":
        return 0
    if text.lower().startswith("camera:"):
        number = text.split(":", 1)[1]
        if not number.isdigit():
            raise InputError(f"{spec}: write the camera as camera:N with N a number, e.g. camera:1")
        return int(number)
    if _DEVICE.match(text):
        return text
    return None


def _open_capture(target: int | str) -> Any:
    # OpenCV logs its own warning for a camera it cannot open; ours says what to do instead
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    api = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
    return cv2.VideoCapture(target, api)


def _fourcc_text(value: float) -> str:
    code = int(value)
    return "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4)).strip("\x00 ") or "?"


class CameraReader:
    """One camera, opened with the asked size and rate where the driver allows them.

    The driver's own buffer is shrunk to one frame where it can be: a deep driver queue would
    hand out old frames just like an application queue would. When reads start failing (the
    camera was unplugged, or another program took it) the reader says so once, then tries to
    reopen it every couple of seconds until it is back or the run stops. :meth:`release` closes
    it on purpose (nobody watches, so its light should go off); the next read opens it again.
    """

    def __init__(self, spec: str, size: tuple[int, int] | None = None, fps: float | None = None,
                 notify: Notify | None = None, opener: Opener = _open_capture,
                 retry_s: float = _RETRY_S) -> None:
        target = parse_camera(spec)
        if target is None:
            raise InputError(f"{spec}: not a camera (use camera, camera:N or /dev/videoN)")
        self.spec = spec
        self._target = target
        self._asked_size = size
        self._asked_fps = fps
        self._notify = notify
        self._opener = opener
        self._retry_s = retry_s
        self._index = 0
        self._origin: float | None = None
        self._last_pts = -1
        self.time_base = CAMERA_TIME_BASE
        self.reconnects = 0
        self.busy_s = 0.0
        self._released = False
        self._capture = self._open()
        if self._capture is None:
            raise InputError(
                f"{spec}: the camera cannot be opened (is it connected, and not in use by another "
                "program? `rtmatte doctor` lists the cameras found here)"
            )
        width = int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.size = (width, height)
        self.fps = float(self._capture.get(cv2.CAP_PROP_FPS) or 0) or float(fps or 30)
        fourcc = _fourcc_text(self._capture.get(cv2.CAP_PROP_FOURCC))
        self.description = f"camera {spec}: {width}x{height} at {self.fps:g} fps ({fourcc})"
        if size and size != self.size:
            self.description += f"; asked for {size[0]}x{size[1]}, the camera gave this"

    def _open(self) -> Any:
        capture = self._opener(self._target)
        if capture is None or not capture.isOpened():
            return None
        width, height = self._asked_size or (0, 0)
        if width * height > _MJPG_ABOVE_PIXELS:
            capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
        if self._asked_size:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        if self._asked_fps:
            capture.set(cv2.CAP_PROP_FPS, self._asked_fps)
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        return capture

    def read(self, stop: threading.Event) -> Frame | None:
        if self._released:
            self._released = False
            self._capture = self._open()
            self._say(f"camera {self.spec} opened again" if self._capture is not None else
                      f"camera {self.spec} cannot be opened again; retrying every "
                      f"{self._retry_s:g} s")
        while not stop.is_set():
            if self._capture is not None:
                ok, bgr = self._capture.read()
                if ok and bgr is not None:
                    return self._frame(bgr)
                self._capture.release()
                self._capture = None
                self._say(f"camera {self.spec} stopped giving pictures; showing the last good "
                          f"one and retrying every {self._retry_s:g} s")
            if stop.wait(self._retry_s):
                break
            self._capture = self._open()
            if self._capture is not None:
                self.reconnects += 1
                self._say(f"camera {self.spec} is back")
        return None

    def _frame(self, bgr: Any) -> Frame:
        captured = time.perf_counter()
        if self._origin is None:
            self._origin = captured
        pts = max(self._last_pts + 1, round((captured - self._origin) / self.time_base))
        self._last_pts = pts
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        self.busy_s += time.perf_counter() - captured
        frame = Frame(rgb=rgb, index=self._index, pts=pts, time_base=self.time_base,
                      captured=captured)
        self._index += 1
        return frame

    def _say(self, message: str) -> None:
        if self._notify:
            self._notify(message)

    def release(self) -> None:
        if self._capture is not None:
            self.close()
            self._released = True
            self._say(f"camera {self.spec} released")

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None

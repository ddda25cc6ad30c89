"""The virtual camera output (pyvirtualcam): what Zoom, Teams, Meet or OBS see as a webcam."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pyvirtualcam

from rtmatte.errors import VirtualCameraError
from rtmatte.handover import Mailbox
from rtmatte.types import Frame, Matte

LINUX_SETUP = (
    "create one with `sudo modprobe v4l2loopback devices=1 exclusive_caps=1 "
    'card_label="rtmatte"` (package v4l2loopback-dkms); to have it after every boot, put '
    "`v4l2loopback` in /etc/modules-load.d/v4l2loopback.conf and `options v4l2loopback "
    'devices=1 exclusive_caps=1 card_label="rtmatte"` in /etc/modprobe.d/v4l2loopback.conf '
    "(see docs/live-setup.md)"
)
OTHER_SETUP = (
    "install OBS Studio (obsproject.com) and click Start Virtual Camera once, then close OBS "
    "(see docs/live-setup.md)"
)
_READER_POLL_S = 1.0


def setup_hint() -> str:
    """How to get a virtual camera on this operating system."""
    return LINUX_SETUP if sys.platform.startswith("linux") else OTHER_SETUP


def hand_over_format(width: int, height: int, backend: str | None) -> str:
    """The pixel format to give pyvirtualcam: I420 for v4l2loopback, else RGB.

    v4l2loopback devices carry I420, and pyvirtualcam converts RGB to it with a scalar
    per-pixel loop in its native code; OpenCV's conversion (the same BT.601 limited-range
    formula) takes 0.2 ms at 640x480 on this project's 2-core CI machine. I420 needs even sizes.
    """
    linux_loopback = sys.platform.startswith("linux") and backend in (None, "v4l2loopback")
    return "I420" if linux_loopback and width % 2 == 0 and height % 2 == 0 else "RGB"


def open_camera(width: int, height: int, fps: float, device: str | None = None,
                backend: str | None = None, fmt: str = "RGB") -> Any:
    """A ``pyvirtualcam.Camera``, or a VirtualCameraError that says how to get one."""
    if backend is not None and backend not in pyvirtualcam.camera.BACKENDS:
        known = ", ".join(sorted(pyvirtualcam.camera.BACKENDS)) or "none on this system"
        raise VirtualCameraError(f"--vcam-backend {backend}: unknown here (known: {known})")
    try:
        return pyvirtualcam.Camera(width, height, fps, fmt=pyvirtualcam.PixelFormat[fmt],
                                   device=device, backend=backend)
    except RuntimeError as exc:
        where = f" {device}" if device else ""
        found = str(exc).strip().replace("\n", "; ")
        raise VirtualCameraError(
            f"no virtual camera{where} is available ({found}); {setup_hint()}"
        ) from exc


def device_readers(device: str, own_pid: int | None = None) -> int:
    """How many other processes hold ``device`` open (Linux: from /proc/*/fd links).

    v4l2loopback has no "is anyone watching" query that pyvirtualcam exposes, but every program
    reading the device keeps a file descriptor on it, which /proc shows to the same user.
    """
    own = os.getpid() if own_pid is None else own_pid
    try:
        target = os.path.realpath(device)
        entries = os.scandir("/proc")
    except OSError:
        return 0
    readers = 0
    with entries:
        for entry in entries:
            if not entry.name.isdigit() or int(entry.name) == own:
                continue
            try:
                links = os.scandir(f"/proc/{entry.name}/fd")
            except OSError:
                continue
            with links:
                for link in links:
                    try:
                        if os.readlink(link.path) == target:
                            readers += 1
                            break
                    except OSError:
                        continue
    return readers


class VirtualCameraSink:
    """Feeds a virtual camera at a steady rate from its own thread.

    Apps watching a webcam expect a steady stream: when the camera hiccups or the model idles
    (``--on-demand`` with nobody watching), the last picture is sent again on time instead of
    the stream stalling, which some apps treat as a lost camera.
    """

    def __init__(self, width: int, height: int, fps: float, device: str | None = None,
                 backend: str | None = None, on_demand: bool = False,
                 opener: Callable[..., Any] = open_camera) -> None:
        self.size = (width, height)
        self.fps = fps
        self.format = hand_over_format(width, height, backend)
        self._camera = opener(width, height, fps, device=device, backend=backend, fmt=self.format)
        self.device = str(self._camera.device)
        self.backend = str(self._camera.backend)
        self.on_demand = on_demand and Path(self.device).exists()
        self._pictures: Mailbox[np.ndarray] = Mailbox()
        self._last = self._convert(np.zeros((height, width, 3), dtype=np.uint8))
        self._watched = threading.Event()
        self._watched.set()
        self._stop = threading.Event()
        self.sent = 0
        self.repeats = 0
        self._thread = threading.Thread(target=self._run, name="vcam", daemon=True)
        self._thread.start()

    @property
    def watched(self) -> bool:
        """False only with ``--on-demand`` while no other program reads the device."""
        return self._watched.is_set()

    def write(self, picture: np.ndarray, frame: Frame | None = None,
              matte: Matte | None = None) -> None:
        """Queue a uint8 RGB picture for the next tick (a newer one replaces it)."""
        if picture.shape[1::-1] != self.size:
            picture = cv2.resize(picture, self.size, interpolation=cv2.INTER_AREA)
        self._pictures.put(self._convert(picture))

    def _convert(self, picture: np.ndarray) -> np.ndarray:
        if self.format == "I420":
            return cv2.cvtColor(picture, cv2.COLOR_RGB2YUV_I420)
        return picture

    def _run(self) -> None:
        interval = 1.0 / self.fps
        next_tick = time.perf_counter()
        next_poll = next_tick
        while not self._stop.is_set():
            fresh = self._pictures.get(timeout=0)
            if fresh is not None:
                self._last = fresh
            else:
                self.repeats += 1
            self._camera.send(self._last)
            self.sent += 1
            now = time.perf_counter()
            if self.on_demand and now >= next_poll:
                next_poll = now + _READER_POLL_S
                if device_readers(self.device):
                    self._watched.set()
                else:
                    self._watched.clear()
            next_tick = max(next_tick + interval, now)
            self._stop.wait(max(0.0, next_tick - time.perf_counter()))

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._camera.close()

    def abort(self) -> None:
        """A camera keeps nothing: letting it go is all there is to undo."""
        self.close()

"""The virtual camera output: what Zoom, Teams, Meet or OBS see as a webcam.

pyvirtualcam drives v4l2loopback (Linux), OBS's virtual camera (Windows, macOS) and Unity
Capture; :mod:`rtmatte.sinks.pipewire` adds a PipeWire camera node on Linux, which needs no
kernel module. :func:`choose_backend` says which one ``--vcam`` uses, and why.
"""

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
from rtmatte.sinks import pipewire
from rtmatte.types import Frame, Matte

LINUX_SETUP = (
    "create one with `sudo modprobe v4l2loopback devices=1 exclusive_caps=1 "
    'card_label="rtmatte"` (package v4l2loopback-dkms); to have it after every boot, put '
    "`v4l2loopback` in /etc/modules-load.d/v4l2loopback.conf and `options v4l2loopback "
    'devices=1 exclusive_caps=1 card_label="rtmatte"` in /etc/modprobe.d/v4l2loopback.conf '
    "(see docs/live-setup.md); or, with no kernel module, start PipeWire "
    "(`systemctl --user start pipewire wireplumber`), which --vcam then uses by itself"
)
OTHER_SETUP = (
    "install OBS Studio (obsproject.com) and click Start Virtual Camera once, then close OBS "
    "(see docs/live-setup.md)"
)
_READER_POLL_S = 1.0
_SYS_V4L = Path("/sys/class/video4linux")
#: what --vcam-backend takes besides pyvirtualcam's own backend names
AUTO, PIPEWIRE = "auto", "pipewire"


def setup_hint() -> str:
    """How to get a virtual camera on this operating system."""
    return LINUX_SETUP if sys.platform.startswith("linux") else OTHER_SETUP


def is_loopback(label: str) -> bool:
    """Whether a video4linux device's name is a loopback's (v4l2loopback's default "Dummy
    video device", the card_label docs/live-setup.md gives, or OBS's)."""
    lowered = label.lower()
    return any(word in lowered for word in ("loopback", "rtmatte", "dummy", "obs virtual"))


def loopback_devices() -> list[tuple[str, str]]:
    """(device, label) of each v4l2loopback node (Linux), from sysfs without opening any."""
    found = []
    for name_file in sorted(_SYS_V4L.glob("video*/name"), key=lambda p: int(p.parent.name[5:])):
        try:
            label = name_file.read_text().strip()
        except OSError:
            continue
        if is_loopback(label):
            found.append((f"/dev/{name_file.parent.name}", label))
    return found


def backend_names() -> list[str]:
    """What ``--vcam-backend`` accepts here."""
    names = [AUTO, *sorted(pyvirtualcam.camera.BACKENDS)]
    return [*names, PIPEWIRE] if sys.platform.startswith("linux") else names


def choose_backend(backend: str | None, device: str | None,
                   loops: list[tuple[str, str]] | None = None) -> tuple[str | None, str]:
    """The backend ``--vcam`` opens and why: an explicit choice as given; on Linux, otherwise,
    v4l2loopback when ``--vcam-device`` or a loopback device exists (it is what apps have
    always read), else PipeWire when its daemon answers (no kernel module needed), else
    v4l2loopback, whose failure says how to set either up. Elsewhere pyvirtualcam picks."""
    if backend not in (None, AUTO):
        return backend, "asked for with --vcam-backend"
    if not sys.platform.startswith("linux"):
        return None, "pyvirtualcam's first available (OBS Virtual Camera, else Unity Capture)"
    if device:
        return "v4l2loopback", f"--vcam-device {device} names a v4l2loopback device"
    loops = loopback_devices() if loops is None else loops
    if loops:
        return "v4l2loopback", f"a v4l2loopback device exists ({loops[0][0]}, {loops[0][1]})"
    where = pipewire.daemon_socket()
    if where:
        return PIPEWIRE, (f"no v4l2loopback device, and a PipeWire daemon answers at {where}: "
                          f"a camera node named {pipewire.NODE_NAME!r}")
    return "v4l2loopback", "no v4l2loopback device, and no PipeWire daemon answers"


def hand_over_format(width: int, height: int, backend: str | None) -> str:
    """The pixel format to hand over: I420 for v4l2loopback (and PipeWire where the sizes
    allow, :func:`rtmatte.sinks.pipewire.pick_format`), else RGB.

    v4l2loopback devices carry I420, and pyvirtualcam converts RGB to it with a scalar
    per-pixel loop in its native code; OpenCV's conversion (the same BT.601 limited-range
    formula) takes 0.2 ms at 640x480 on this project's 2-core CI machine. I420 needs even sizes.
    """
    if backend == PIPEWIRE:
        return pipewire.pick_format(width, height)
    linux_loopback = sys.platform.startswith("linux") and backend in (None, "v4l2loopback")
    return "I420" if linux_loopback and width % 2 == 0 and height % 2 == 0 else "RGB"


def open_camera(width: int, height: int, fps: float, device: str | None = None,
                backend: str | None = None, fmt: str = "RGB",
                notify: Callable[[str], None] | None = None) -> Any:
    """A ``pyvirtualcam.Camera`` (or a :class:`~rtmatte.sinks.pipewire.PipeWireCamera`, whose
    ``device`` is the node's name, and which tells ``notify`` when its daemon goes away and
    comes back), or a VirtualCameraError that says how to get one."""
    if backend == PIPEWIRE and sys.platform.startswith("linux"):
        try:
            return pipewire.PipeWireCamera(width, height, fps, fmt,
                                           name=device or pipewire.NODE_NAME, notify=notify)
        except VirtualCameraError as exc:
            raise VirtualCameraError(f"--vcam-backend pipewire: {exc}; start it with "
                                     "`systemctl --user start pipewire wireplumber`, or see "
                                     "docs/live-setup.md") from exc
    if backend is not None and backend not in pyvirtualcam.camera.BACKENDS:
        known = ", ".join(backend_names()[1:]) or "none on this system"
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
                 opener: Callable[..., Any] = open_camera,
                 notify: Callable[[str], None] | None = None) -> None:
        self.size = (width, height)
        self.fps = fps
        backend = choose_backend(backend, device)[0]
        self.format = hand_over_format(width, height, backend)
        self._camera = opener(width, height, fps, device=device, backend=backend, fmt=self.format,
                              notify=notify)
        self.device = str(self._camera.device)
        self.backend = str(self._camera.backend)
        self._counted = hasattr(self._camera, "readers")  # it knows its viewers itself
        self.on_demand = on_demand and (self._counted or Path(self.device).exists())
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
        if self.format == "BGRx":
            return cv2.cvtColor(picture, cv2.COLOR_RGB2BGRA)
        return picture

    def _readers(self) -> int:
        return self._camera.readers() if self._counted else device_readers(self.device)

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
                # a node's state is one library call; /proc is a walk, so once a second
                next_poll = now + (interval if self._counted else _READER_POLL_S)
                if self._readers():
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

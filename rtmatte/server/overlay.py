"""The OBS overlay's pictures: the live run's person with real alpha, as frames for the page.

OBS's Browser Source draws a page with its alpha, so a page that paints the person on a
transparent canvas puts them into the scene with no chroma key. Whatever background the run
composes (for the panel's preview and the virtual camera), the overlay always shows the person
cut out: the picture itself when it is already transparent (``--bg transparent``), else the
run's matte and foreground colours through a transparent compositor, exactly what
``--bg transparent`` would have made. With the effect off the camera's own picture is shown,
opaque.

Each frame travels as one message of a byte stream (see :func:`message`): a fixed header, then
the picture. How the picture is coded was chosen by measurement (docs/benchmarks.md, "OBS
overlay"): see :data:`FORMATS`.
"""

from __future__ import annotations

import io
import struct
import threading
import time
from collections.abc import Callable

import cv2
import numpy as np
from PIL import Image

from rtmatte.compose.background_switch import BackgroundSwitch
from rtmatte.compose.compositor import Compositor, EdgeTreatment
from rtmatte.server.live import Delivered

#: little-endian: payload bytes, sequence, width, height, format, 3 pad bytes, capture time
#: (milliseconds since the Unix epoch, the clock the page's performance.timeOrigin uses)
HEADER = struct.Struct("<IIHHB3xd")


def _raw(rgba: np.ndarray) -> bytes:
    return np.ascontiguousarray(rgba).tobytes()


def _webp(rgba: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, "WEBP", quality=80, method=0,
                                       alpha_quality=100)
    return buffer.getvalue()


#: name -> (number in the header, coder). Raw RGBA by default: on this machine it costs the
#: server nothing to code and the page one copy to draw, and it kept the run's rate with the
#: lowest latency where PNG and WebP (13-19 ms a 640x480 picture to code) fell behind on a
#: loaded CPU. WebP (about 36 KiB a picture instead of 1.2 MB) is for an OBS on another
#: machine (``serve --host``), where raw would need ~300 Mbit/s.
FORMATS: dict[str, tuple[int, Callable[[np.ndarray], bytes]]] = {
    "raw": (0, _raw), "webp": (1, _webp),
}


def cut_out(delivered: Delivered, compositor: Compositor) -> np.ndarray:
    """The person of a delivered picture as straight RGBA uint8 (see the module's docstring)."""
    picture = delivered.picture
    if picture.shape[2] == 4:
        return picture
    if delivered.matte is None:  # the effect is off: the camera's own picture
        return cv2.cvtColor(picture, cv2.COLOR_RGB2RGBA)
    return compositor(delivered.frame, delivered.matte)


def capture_epoch_ms(delivered: Delivered) -> float:
    """When the frame was captured, on the wall clock the page can read too (0: not known)."""
    captured = delivered.frame.captured
    if captured is None:
        return 0.0
    return 1000.0 * (time.time() - (time.perf_counter() - captured))


class OverlayFeed:
    """Codes each delivered picture once per format, however many pages watch it."""

    def __init__(self, edges: EdgeTreatment | None) -> None:
        #: the compositor of ``--bg transparent`` with the run's edge settings
        self._compositor = BackgroundSwitch(["transparent"], edges).compositor
        self._lock = threading.Lock()
        self._coded: dict[str, tuple[int, bytes]] = {}

    def message(self, delivered: Delivered, format_name: str) -> bytes:
        """One frame for the page: :data:`HEADER` then the picture coded as ``format_name``."""
        with self._lock:
            cached = self._coded.get(format_name)
        if cached is not None and cached[0] == delivered.sequence:
            return cached[1]
        number, coder = FORMATS[format_name]
        rgba = cut_out(delivered, self._compositor)
        payload = coder(rgba)
        height, width = rgba.shape[:2]
        data = HEADER.pack(len(payload), delivered.sequence, width, height, number,
                           capture_epoch_ms(delivered)) + payload
        with self._lock:
            self._coded[format_name] = (delivered.sequence, data)
        return data

"""A PipeWire camera: a ``Video/Source`` node named ``rtmatte`` that apps pick like a webcam,
with no kernel module and no root (Linux).

PipeWire's own client library is called through ctypes rather than through GStreamer: each
frame is copied once, straight into the shared-memory buffer PipeWire hands to the consumer,
which is the one copy ``write()`` makes into a v4l2loopback device. A ``gst-launch-1.0 fdsrc !
rawvideoparse ! pipewiresink`` child fed on a pipe adds two (into the pipe, out of it) and a
third in ``pipewiresink``, whose pool upstream never fills: measured with
tools/pipewire_bench.py, its median latency to a consumer was 1.0-3.0 ms against 0.7-1.0 ms
here, and the child alone spent 0.6 ms (640x480) to 1.8 ms (1280x720) of CPU a frame; without a
``videoconvert`` in front, ``pipewiresink`` 0.3.65 crashed when a consumer linked. PyGObject
(``gi``) is not in the environment and builds from source, needing a compiler and GObject's
headers. Nothing here needs more than ``libpipewire-0.3.so.0``, which every PipeWire system has.

Formats and parameters are written as SPA pods by hand (:func:`pod_object`): the layout is
PipeWire's stable wire format, a header (body size, type) and a body padded to 8 bytes.
"""

from __future__ import annotations

import ctypes
import os
import socket
import struct
import time
from collections.abc import Callable
from fractions import Fraction

import numpy as np

from rtmatte.errors import VirtualCameraError

NODE_NAME = "rtmatte"
LIBRARY = "libpipewire-0.3.so.0"
_OPEN_TIMEOUT_S = 5.0
_RETRY_S = 1.0

# SPA types, object types, parameter ids and keys (spa/utils/type.h, spa/param/*.h)
_ID, _INT, _RECTANGLE, _FRACTION, _OBJECT, _CHOICE = 3, 4, 10, 11, 15, 19
_CHOICE_RANGE = 1
_OBJECT_FORMAT, _OBJECT_BUFFERS = 0x40003, 0x40004
_PARAM_ENUM_FORMAT, _PARAM_BUFFERS = 3, 5
_MEDIA_TYPE, _MEDIA_SUBTYPE = 1, 2
_VIDEO_FORMAT, _VIDEO_SIZE, _VIDEO_FRAMERATE = 0x20001, 0x20003, 0x20004
_MEDIA_VIDEO, _SUBTYPE_RAW = 2, 1
_BUFFERS_BUFFERS, _BUFFERS_BLOCKS, _BUFFERS_SIZE, _BUFFERS_STRIDE = 1, 2, 3, 4
_BUFFERS_DATA_TYPE = 6
_DATA_MEMPTR, _DATA_MEMFD = 1, 2

#: our pixel formats: name -> (SPA video format id, bytes per pixel); I420 as handed to
#: v4l2loopback (the same OpenCV conversion), BGRx where I420's half-width chroma rows would
#: not line up with the 4-byte row alignment GStreamer and browsers assume
FORMATS = {"I420": (2, 1.5), "BGRx": (8, 4)}

_DIRECTION_OUTPUT = 1
_ID_ANY = 0xFFFFFFFF
_FLAG_AUTOCONNECT, _FLAG_MAP_BUFFERS, _FLAG_DRIVER = 1 << 0, 1 << 2, 1 << 3
STATE_ERROR, STATE_UNCONNECTED, STATE_CONNECTING, STATE_PAUSED, STATE_STREAMING = -1, 0, 1, 2, 3


class _Chunk(ctypes.Structure):
    _fields_ = [("offset", ctypes.c_uint32), ("size", ctypes.c_uint32),
                ("stride", ctypes.c_int32), ("flags", ctypes.c_int32)]


class _Data(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint32), ("flags", ctypes.c_uint32), ("fd", ctypes.c_int64),
                ("mapoffset", ctypes.c_uint32), ("maxsize", ctypes.c_uint32),
                ("data", ctypes.c_void_p), ("chunk", ctypes.POINTER(_Chunk))]


class _SpaBuffer(ctypes.Structure):
    _fields_ = [("n_metas", ctypes.c_uint32), ("n_datas", ctypes.c_uint32),
                ("metas", ctypes.c_void_p), ("datas", ctypes.POINTER(_Data))]


class _PwBuffer(ctypes.Structure):
    _fields_ = [("buffer", ctypes.POINTER(_SpaBuffer)), ("user_data", ctypes.c_void_p),
                ("size", ctypes.c_uint64), ("requested", ctypes.c_uint64)]


def _pad8(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 8)


def _pod(kind: int, body: bytes) -> bytes:
    return _pad8(struct.pack("<II", len(body), kind) + body)


def pod_id(value: int) -> bytes:
    return _pod(_ID, struct.pack("<I", value))


def pod_int(value: int) -> bytes:
    return _pod(_INT, struct.pack("<i", value))


def pod_int_range(default: int, low: int, high: int) -> bytes:
    child = struct.pack("<II", 4, _INT)
    return _pod(_CHOICE, struct.pack("<II", _CHOICE_RANGE, 0) + child
                + struct.pack("<iii", default, low, high))


def pod_object(kind: int, param: int, properties: list[tuple[int, bytes]]) -> bytes:
    """An SPA object pod: (key, value pod) properties, each with flags 0."""
    body = struct.pack("<II", kind, param)
    for key, value in properties:
        body += struct.pack("<II", key, 0) + value
    return _pod(_OBJECT, body)


def stream_params(width: int, height: int, fps: float, fmt: str) -> list[bytes]:
    """The one format we offer (EnumFormat) and the buffers it takes (Buffers)."""
    spa_format, per_pixel = FORMATS[fmt]
    rate = Fraction(fps).limit_denominator(1001)
    stride = width if fmt == "I420" else width * 4
    size = int(width * height * per_pixel)
    enum_format = pod_object(_OBJECT_FORMAT, _PARAM_ENUM_FORMAT, [
        (_MEDIA_TYPE, pod_id(_MEDIA_VIDEO)),
        (_MEDIA_SUBTYPE, pod_id(_SUBTYPE_RAW)),
        (_VIDEO_FORMAT, pod_id(spa_format)),
        (_VIDEO_SIZE, _pod(_RECTANGLE, struct.pack("<II", width, height))),
        (_VIDEO_FRAMERATE, _pod(_FRACTION, struct.pack("<II", rate.numerator,
                                                        rate.denominator))),
    ])
    buffers = pod_object(_OBJECT_BUFFERS, _PARAM_BUFFERS, [
        (_BUFFERS_BUFFERS, pod_int_range(4, 2, 8)),
        (_BUFFERS_BLOCKS, pod_int(1)),
        (_BUFFERS_SIZE, pod_int(size)),
        (_BUFFERS_STRIDE, pod_int(stride)),
        (_BUFFERS_DATA_TYPE, pod_int(1 << _DATA_MEMFD | 1 << _DATA_MEMPTR)),
    ])
    return [enum_format, buffers]


def pick_format(width: int, height: int) -> str:
    """I420 where every plane's rows are whole multiples of 4 bytes, else BGRx."""
    return "I420" if width % 8 == 0 and height % 2 == 0 else "BGRx"


_library: ctypes.CDLL | None = None


def library() -> ctypes.CDLL:
    """libpipewire, loaded once with the prototypes used here; VirtualCameraError if absent."""
    global _library
    if _library is not None:
        return _library
    try:
        lib = ctypes.CDLL(LIBRARY, use_errno=True)
    except OSError as exc:
        raise VirtualCameraError(f"PipeWire's client library ({LIBRARY}) is not installed: "
                                 "`sudo apt install libpipewire-0.3-0` (or your "
                                 "distribution's pipewire package)") from exc
    vp, cp, u32 = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint32
    prototypes: dict[str, tuple[object, list[object]]] = {
        "pw_init": (None, [vp, vp]),
        "pw_thread_loop_new": (vp, [cp, vp]),
        "pw_thread_loop_get_loop": (vp, [vp]),
        "pw_thread_loop_start": (ctypes.c_int, [vp]),
        "pw_thread_loop_stop": (None, [vp]),
        "pw_thread_loop_destroy": (None, [vp]),
        "pw_thread_loop_lock": (None, [vp]),
        "pw_thread_loop_unlock": (None, [vp]),
        "pw_properties_new": (vp, [vp]),
        "pw_properties_set": (ctypes.c_int, [vp, cp, cp]),
        "pw_stream_new_simple": (vp, [vp, cp, vp, vp, vp]),
        "pw_stream_connect": (ctypes.c_int, [vp, ctypes.c_int, u32, ctypes.c_int, vp, u32]),
        "pw_stream_get_state": (ctypes.c_int, [vp, ctypes.POINTER(cp)]),
        "pw_stream_dequeue_buffer": (ctypes.POINTER(_PwBuffer), [vp]),
        "pw_stream_queue_buffer": (ctypes.c_int, [vp, ctypes.POINTER(_PwBuffer)]),
        "pw_stream_trigger_process": (ctypes.c_int, [vp]),
        "pw_stream_disconnect": (ctypes.c_int, [vp]),
        "pw_stream_destroy": (None, [vp]),
    }
    for name, (restype, argtypes) in prototypes.items():
        function = getattr(lib, name)
        function.restype, function.argtypes = restype, argtypes
    lib.pw_init(None, None)
    _library = lib
    return lib


class _Events(ctypes.Structure):
    """``struct pw_stream_events`` version 0 with no callbacks: the state is polled instead,
    so PipeWire's threads never have to call into Python."""

    _fields_ = [("version", ctypes.c_uint32)] + [(name, ctypes.c_void_p) for name in (
        "destroy", "state_changed", "control_info", "io_changed", "param_changed",
        "add_buffer", "remove_buffer", "process", "drained")]


class PipeWireStream:
    """One connection to the PipeWire daemon: a thread loop, and on it a driving output stream
    that offers exactly one format. ``send`` copies a frame into the next free buffer and
    triggers one graph cycle, so the consumer gets it at once and at the rate it is sent."""

    def __init__(self, width: int, height: int, fps: float, fmt: str,
                 name: str = NODE_NAME) -> None:
        self.lib = library()
        self.size = (width, height)
        self.frame_bytes = int(width * height * FORMATS[fmt][1])
        self.stride = width if fmt == "I420" else width * 4
        self._events = _Events(0)
        self._loop = self.lib.pw_thread_loop_new(b"rtmatte-pipewire", None)
        self._stream: int | None = None
        if not self._loop:
            raise VirtualCameraError("PipeWire: could not create a thread loop")
        self.lib.pw_thread_loop_start(self._loop)
        props = self.lib.pw_properties_new(None)
        for key, value in (("media.class", "Video/Source"), ("media.type", "Video"),
                           ("media.category", "Capture"), ("media.role", "Camera"),
                           ("node.name", name), ("node.description", name),
                           ("node.nick", name), ("application.name", "rtmatte")):
            self.lib.pw_properties_set(props, key.encode(), value.encode())
        params = stream_params(width, height, fps, fmt)
        self._param_bytes = [ctypes.create_string_buffer(p, len(p)) for p in params]
        pointers = (ctypes.c_void_p * len(params))(
            *[ctypes.addressof(p) for p in self._param_bytes])
        self.lib.pw_thread_loop_lock(self._loop)
        try:
            stream = self.lib.pw_stream_new_simple(
                self.lib.pw_thread_loop_get_loop(self._loop), name.encode(), props,
                ctypes.byref(self._events), None)
            if not stream:
                error = os.strerror(ctypes.get_errno())
                self.lib.pw_thread_loop_unlock(self._loop)
                self._destroy_loop()
                raise VirtualCameraError(f"PipeWire: could not create a stream ({error})")
            self._stream = stream
            failed = self.lib.pw_stream_connect(
                stream, _DIRECTION_OUTPUT, _ID_ANY,
                _FLAG_AUTOCONNECT | _FLAG_DRIVER | _FLAG_MAP_BUFFERS, pointers, len(params))
        finally:
            if self._stream is not None:
                self.lib.pw_thread_loop_unlock(self._loop)
        if failed < 0:
            self.close()
            raise VirtualCameraError(_unanswered())
        deadline = time.monotonic() + _OPEN_TIMEOUT_S
        while (state := self.state())[0] in (STATE_UNCONNECTED, STATE_CONNECTING):
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
        state, error = self.state()
        if state not in (STATE_PAUSED, STATE_STREAMING):
            self.close()
            raise VirtualCameraError(f"PipeWire did not take the camera node ({error})" if error
                                     else "PipeWire did not take the camera node within "
                                          f"{_OPEN_TIMEOUT_S:g} s")

    def state(self) -> tuple[int, str]:
        """The stream's state and PipeWire's error text, if any."""
        if self._stream is None:
            return STATE_UNCONNECTED, ""
        error = ctypes.c_char_p()
        state = self.lib.pw_stream_get_state(self._stream, ctypes.byref(error))
        return state, (error.value or b"").decode(errors="replace")

    def send(self, frame: np.ndarray) -> bool:
        """Copy ``frame`` into a free buffer and send it; False when no buffer is free (nobody
        is linked, or the consumer still holds them all)."""
        if self._stream is None:
            return False
        self.lib.pw_thread_loop_lock(self._loop)
        try:
            buffer = self.lib.pw_stream_dequeue_buffer(self._stream)
            if not buffer:
                return False
            data = buffer.contents.buffer.contents.datas[0]
            frame = np.ascontiguousarray(frame)
            sent = min(self.frame_bytes, data.maxsize, frame.nbytes)
            if data.data:
                ctypes.memmove(data.data, frame.ctypes.data, sent)
                data.chunk.contents.offset = 0
                data.chunk.contents.size = sent
                data.chunk.contents.stride = self.stride
                data.chunk.contents.flags = 0
            self.lib.pw_stream_queue_buffer(self._stream, buffer)
            self.lib.pw_stream_trigger_process(self._stream)
            return bool(data.data)
        finally:
            self.lib.pw_thread_loop_unlock(self._loop)

    def close(self) -> None:
        if self._stream is not None:
            self.lib.pw_thread_loop_lock(self._loop)
            self.lib.pw_stream_disconnect(self._stream)
            self.lib.pw_stream_destroy(self._stream)
            self._stream = None
            self.lib.pw_thread_loop_unlock(self._loop)
        self._destroy_loop()

    def _destroy_loop(self) -> None:
        if self._loop:
            self.lib.pw_thread_loop_stop(self._loop)
            self.lib.pw_thread_loop_destroy(self._loop)
            self._loop = None



def socket_path() -> str | None:
    """Where libpipewire looks for the daemon: ``$PIPEWIRE_RUNTIME_DIR`` or
    ``$XDG_RUNTIME_DIR``, then ``$PIPEWIRE_REMOTE`` or ``pipewire-0``; None when neither
    folder is set (a session without a runtime folder has no PipeWire)."""
    remote = os.environ.get("PIPEWIRE_REMOTE") or "pipewire-0"
    if os.path.isabs(remote):
        return remote
    folder = os.environ.get("PIPEWIRE_RUNTIME_DIR") or os.environ.get("XDG_RUNTIME_DIR")
    return os.path.join(folder, remote) if folder else None


def daemon_socket() -> str | None:
    """The PipeWire daemon's socket when something listens on it, else None: tried with a
    plain connect, so asking costs no library and leaves nothing behind."""
    path = socket_path()
    if path is None:
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(path)
        except OSError:
            return None
    return path


def _unanswered() -> str:
    path = socket_path()
    if path is None:
        return "no PipeWire daemon answers (XDG_RUNTIME_DIR is not set)"
    return f"no PipeWire daemon answers at {path}"


class PipeWireCamera:
    """The camera node as the virtual camera sink drives it (pyvirtualcam's ``send``,
    ``close``, ``device`` and ``backend``), plus ``readers``: whether a consumer is linked.

    When the daemon goes away (a crash, ``systemctl --user restart pipewire``) the stream
    errors; that is said in one line, frames are dropped meanwhile, a new connection is tried
    once a second, and its return is said too, so apps find the same node again.
    """

    backend = "pipewire"

    def __init__(self, width: int, height: int, fps: float, fmt: str,
                 name: str = NODE_NAME, notify: Callable[[str], None] | None = None) -> None:
        """``notify`` hears the daemon going away and coming back (None: nobody)."""
        self.device = name
        self._open = lambda: PipeWireStream(width, height, fps, fmt, name)
        self._notify = notify
        self._stream: PipeWireStream | None = self._open()
        self._retry_at = 0.0
        self.reconnects = 0

    def _alive(self) -> PipeWireStream | None:
        stream = self._stream
        if stream is not None:
            state, error = stream.state()
            if state not in (STATE_ERROR, STATE_UNCONNECTED):
                return stream
            stream.close()
            self._stream = None
            self._retry_at = time.monotonic() + _RETRY_S
            self._say(f"PipeWire connection lost ({error or 'disconnected'}); the camera "
                         f"node {self.device!r} returns when the daemon does")
            return None
        if time.monotonic() < self._retry_at:
            return None
        self._retry_at = time.monotonic() + _RETRY_S
        try:
            self._stream = self._open()
        except VirtualCameraError:
            return None
        self.reconnects += 1
        self._say(f"PipeWire is back: the camera node {self.device!r} is there again")
        return self._stream

    def _say(self, message: str) -> None:
        if self._notify is not None:
            self._notify(message)

    def send(self, frame: np.ndarray) -> None:
        stream = self._alive()
        if stream is not None:
            stream.send(frame)

    def readers(self) -> int:
        """1 while a consumer is linked and the node runs (its state is streaming), else 0."""
        stream = self._alive()
        return int(stream is not None and stream.state()[0] == STATE_STREAMING)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

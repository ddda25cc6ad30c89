"""The control panel's camera session: one live run at a time, driven from the page.

It is ``api.open_live`` iterated in a thread: the virtual camera (when asked for) and the
preview are fed by the same run, the background is switched on the running runner, and the
page reads the newest picture as JPEG and the figures below, measured on the pictures as they
are delivered. The OBS overlay (:mod:`rtmatte.server.overlay`) waits on :meth:`newest_after`
for each new picture with its matte.
"""

from __future__ import annotations

import collections
import itertools
import re
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import cv2
import numpy as np

from rtmatte import api
from rtmatte.compose.backgrounds import is_transparent, parse_background
from rtmatte.diagnostics.doctor import _v4l_devices
from rtmatte.errors import BackgroundError, RtmatteError
from rtmatte.server.errors import Conflict, RequestError
from rtmatte.server.redact import for_client
from rtmatte.server.uploads import background_spec, client_name, store
from rtmatte.settings import Settings
from rtmatte.sinks.vcam import is_loopback
from rtmatte.types import Frame, Matte

FILE_SOURCE = "file"
_CAMERA = re.compile(r"camera(:\d+)?|/dev/video\d+")
_OPEN_TIMEOUT_S = 120.0
_STOP_TIMEOUT_S = 15.0
_WINDOW_S = 2.0
_PREVIEW_LONG_SIDE = 960
_JPEG_QUALITY = 80
_NOTES = 5
_NO_ALPHA_IN_VCAM = ("a virtual camera carries no alpha: choose green and key it out in OBS, or "
                     "add the overlay page (/overlay) to OBS as a Browser Source, which has it")
#: the preview's checkerboard behind a transparent picture, as picture editors show one
_CHECKER_PX = 16
_CHECKER_GREYS = (153, 102)


@dataclass
class LiveRequest:
    """What the page asks for when it starts the camera."""

    source: str
    size: tuple[int, int] | None = None
    vcam: bool = False
    #: the camera frame rate to ask for (``serve --live --fps``)
    fps: float | None = None


@dataclass(frozen=True)
class Delivered:
    """One picture as the run delivered it, with its frame and matte (None: effect off)."""

    sequence: int
    picture: np.ndarray
    frame: Frame
    matte: Matte | None


class _Figures:
    """fps, latency and drops over the last couple of seconds of delivered pictures."""

    def __init__(self) -> None:
        self.recent: collections.deque[tuple[float, float]] = collections.deque()
        self.frames = 0
        self.first_index: int | None = None
        self.last_index = 0

    def add(self, frame: Frame) -> None:
        now = time.perf_counter()
        latency = now - frame.captured if frame.captured is not None else 0.0
        self.recent.append((now, latency))
        while self.recent and self.recent[0][0] < now - _WINDOW_S:
            self.recent.popleft()
        self.frames += 1
        if self.first_index is None:
            self.first_index = frame.index
        self.last_index = frame.index

    def as_dict(self) -> dict[str, Any]:
        span = self.recent[-1][0] - self.recent[0][0] if len(self.recent) > 1 else 0.0
        latencies = sorted(lat for _, lat in self.recent)
        middle = latencies[len(latencies) // 2] if latencies else 0.0
        produced = self.last_index - self.first_index + 1 if self.first_index is not None else 0
        return {"fps": round((len(self.recent) - 1) / span, 1) if span > 0 else 0.0,
                "latency_ms": round(1000 * middle, 1), "frames": self.frames,
                "dropped": max(0, produced - self.frames)}


class LiveSession:
    """The panel's one live run: start, switch background and effect, preview, stop."""

    def __init__(self, settings: Settings, file_source: Path | None = None,
                 vcam: api.VirtualCamera | None = None) -> None:
        self.settings = settings
        self.file_source = file_source
        self.vcam = vcam or api.VirtualCamera()
        self._bg, self._bg_label = settings.bg, settings.bg
        self._lock = threading.Lock()
        self._delivered = threading.Condition(self._lock)
        self._state = "idle"
        self._error: str | None = None
        self._request: LiveRequest | None = None
        self._thread: threading.Thread | None = None
        self._runner: api.LiveRunner | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        #: what the last run failed with, kept for the page's advice until the next start
        self._ended_with: BaseException | None = None
        #: the effect as chosen; it holds across runs, so it can be set before a start
        self._effect = True
        self._figures = _Figures()
        self._backend_name = ""
        self._notes: collections.deque[str] = collections.deque(maxlen=_NOTES)
        self._picture: np.ndarray | None = None
        self._newest: Delivered | None = None
        self._sequence = 0
        self._jpeg: tuple[int, bytes] | None = None
        self._folder: Path | None = None
        self._uploads = itertools.count(1)
        #: the server's paths the page knows by other names (messages show those names)
        self._names: dict[str, str] = {}
        if file_source is not None:
            self._names[str(file_source)] = file_source.name

    def sources(self) -> list[dict[str, str]]:
        """The sources the page may choose: the ``--source`` file, then the cameras. On Linux
        only the cameras found (by name, without opening them; virtual cameras left out), so a
        machine without one is offered none; elsewhere cameras cannot be listed unopened."""
        choices = []
        if self.file_source is not None:
            choices.append({"id": FILE_SOURCE, "label": f"video file: {self.file_source.name}"})
        if not sys.platform.startswith("linux"):
            return [*choices, {"id": "camera", "label": "camera"}]
        for device, label in _v4l_devices():
            if not is_loopback(label) and device != self.vcam.device:
                choices.append({"id": device, "label": f"{label} ({device})"})
        return choices

    def start(self, request: LiveRequest) -> None:
        """Open the run and return once it delivers its first picture, or raise the error it
        failed with (no camera, no virtual camera, a bad background)."""
        source = self._source(request.source)
        with self._lock:
            if self._state in ("starting", "running"):
                raise Conflict("the camera is already running; stop it first")
            if request.vcam and is_transparent(self._bg):
                raise BackgroundError(_NO_ALPHA_IN_VCAM)
            self._state, self._error, self._failure = "starting", None, None
            self._ended_with = None
            self._request = request
            self._figures = _Figures()
            self._picture, self._newest, self._jpeg = None, None, None
            self._ready.clear()
            self._thread = threading.Thread(target=self._run, args=(source, request),
                                            name="panel-live", daemon=True)
            self._thread.start()
        if not self._ready.wait(_OPEN_TIMEOUT_S):
            self.stop()
            raise RequestError(f"the source gave no picture within {_OPEN_TIMEOUT_S:g} s")
        if self._failure is not None:
            raise self._failure

    def _source(self, choice: str) -> str:
        if choice == FILE_SOURCE:
            if self.file_source is None:
                raise RequestError("no file source: start the server with --source FILE")
            return str(self.file_source)
        if not _CAMERA.fullmatch(choice):
            raise RequestError(f"source '{choice}': choose file, camera, camera:N or /dev/videoN")
        return choice

    def _run(self, source: str, request: LiveRequest) -> None:
        try:
            with api.open_live(source, bg=self._bg, settings=self.settings,
                               vcam=self.vcam if request.vcam else False, size=request.size,
                               fps=request.fps, notify=self._note,
                               loop=source == str(self.file_source)) as runner:
                self._backend_name = runner.backend_name
                with self._lock:
                    self._runner = runner
                    if self._state == "stopping":  # stopped while the model was loading
                        runner.request_stop()
                    else:
                        self._state = "running"
                    if not self._effect:
                        _set_effect(runner, False)
                for picture, frame, matte in runner:
                    self._deliver(picture, frame, matte)
                    self._ready.set()
            self._settle("stopped" if self._state == "stopping" else "ended")
        except RtmatteError as exc:
            self._settle("failed", exc)
        except Exception as exc:  # said on the page; the server carries on
            self._settle("failed", exc, f"unexpected error: {type(exc).__name__}: {exc}")

    def _settle(self, state: str, failure: BaseException | None = None,
                message: str | None = None) -> None:
        with self._lock:
            self._runner = None
            self._state = state
            if failure is not None:
                self._ended_with = failure
                self._error = for_client(message or str(failure), self._names)  # lock held
                if not self._ready.is_set():
                    self._failure = failure
        self._ready.set()

    def _deliver(self, picture: np.ndarray, frame: Frame, matte: Matte | None) -> None:
        with self._lock:
            self._picture = picture
            self._sequence += 1
            self._newest = Delivered(self._sequence, picture, frame, matte)
            self._figures.add(frame)
            self._delivered.notify_all()

    def newest_after(self, seen: int, timeout_s: float) -> Delivered | None:
        """The newest delivered picture once one newer than ``seen`` is there, waiting up to
        ``timeout_s`` for it (None then): a watcher is woken by the delivery itself, with no
        polling delay added to its latency."""
        with self._delivered:
            self._delivered.wait_for(lambda: self._newest is not None
                                     and self._newest.sequence > seen, timeout_s)
            newest = self._newest
        return newest if newest is not None and newest.sequence > seen else None

    def stop(self) -> None:
        with self._lock:
            runner, thread = self._runner, self._thread
            if self._state in ("starting", "running"):
                self._state = "stopping"
        if runner is not None:
            runner.request_stop()
        if thread is not None:
            thread.join(_STOP_TIMEOUT_S)

    def use_background(self, spec: str | None = None, upload: BinaryIO | None = None,
                       upload_name: str | None = None, saved: tuple[Path, str] | None = None,
                       ) -> None:
        """Switch the background, on the running picture at once; a bad one keeps the old.

        ``spec`` is a colour, blur[:N] or green screen; ``upload`` a picture or a video;
        ``saved`` a file the server keeps (the panel's gallery) and the name to show for it."""
        if saved is not None:
            spec, label = str(saved[0]), saved[1]
            with self._lock:
                self._names[spec] = label
        elif upload is not None:
            path, kind = store(upload, self._upload_folder(), f"background-{next(self._uploads)}",
                               upload_name)
            spec, label = str(path), f"uploaded {'picture' if kind == 'image' else 'video'}"
            with self._lock:
                self._names[spec] = client_name(upload_name, label)
        else:
            spec = background_spec(spec or "")
            label = spec
        with self._lock:
            runner = self._runner
            feeds_vcam = runner is not None and self._request is not None and self._request.vcam
        if is_transparent(spec) and feeds_vcam:  # no background: for the OBS overlay only
            raise BackgroundError(_NO_ALPHA_IN_VCAM)
        try:
            if runner is not None:
                _use_background(runner, spec)
            else:
                parse_background(spec)
        except BackgroundError as exc:
            message = self._for_page(str(exc))
            if upload is not None:  # an upload that cannot be used is not kept
                Path(spec).unlink(missing_ok=True)
            raise BackgroundError(message) from exc
        with self._lock:
            self._bg, self._bg_label = spec, label

    def _note(self, message: str) -> None:
        self._notes.append(self._for_page(message))

    def _for_page(self, message: str) -> str:
        with self._lock:
            names = dict(self._names)
        return for_client(message, names)

    def set_effect(self, on: bool) -> None:
        """On the running picture at once; at rest, for the next start."""
        with self._lock:
            self._effect = on
            if self._runner is not None:
                _set_effect(self._runner, on)

    def status(self) -> dict[str, Any]:
        with self._lock:
            runner = self._runner
            data: dict[str, Any] = {
                "state": self._state, "error": self._error, "background": self._bg_label,
                "effect": _effect_of(runner) if runner is not None else self._effect,
                "source": self._request.source if self._request else None,
                "vcam": bool(self._request and self._request.vcam),
                "engine": self._backend_name, "notes": list(self._notes),
            }
            data.update(self._figures.as_dict())
            if self._picture is not None:
                data["size"] = [self._picture.shape[1], self._picture.shape[0]]
        return data

    @property
    def background_spec(self) -> str:
        """The background in use as a --bg value (a file's path for pictures and videos)."""
        return self._bg

    @property
    def ended_with(self) -> BaseException | None:
        """The error the last run failed with (None while it runs, or when it did not fail)."""
        return self._ended_with

    @property
    def sequence(self) -> int:
        """How many pictures have been delivered (a preview waits for this to grow)."""
        return self._sequence

    @property
    def active(self) -> bool:
        return self._state in ("starting", "running")

    def preview_after(self, seen: int) -> tuple[int, bytes] | None:
        """The newest picture as JPEG when it is newer than ``seen``, else None."""
        with self._lock:
            picture, sequence, cached = self._picture, self._sequence, self._jpeg
        if picture is None or sequence <= seen:
            return None
        if cached is not None and cached[0] == sequence:
            return cached
        jpeg = (sequence, _encode(picture))
        with self._lock:
            self._jpeg = jpeg
        return jpeg

    def close(self) -> None:
        self.stop()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)

    def _upload_folder(self) -> Path:
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="rtmatte-panel-"))
        return self._folder


def start_beside(session: LiveSession, request: LiveRequest) -> threading.Thread:
    """``serve --live``: start the run beside the server's start, so the server answers while
    the model loads; says in one line on stderr when it runs, or why it did not start (the
    server carries on: the panel shows the error and can start it again)."""

    def start() -> None:
        try:
            session.start(request)
        except Exception as exc:  # the server carries on without it
            _say(f"the live run did not start: {exc}")
            return
        status = session.status()
        width, height = status.get("size") or (0, 0)
        source = session.file_source.name if request.source == FILE_SOURCE and \
            session.file_source is not None else request.source
        _say(f"live: {source} running, {width}x{height}, on {status['engine']}")

    thread = threading.Thread(target=start, name="serve-live", daemon=True)
    thread.start()
    return thread


def _say(message: str) -> None:
    print(f"rtmatte: {message}", file=sys.stderr, flush=True)


# What the panel changes on a running live run: the runner's own methods.

def _use_background(runner: api.LiveRunner, spec: str) -> None:
    """Switch the running picture's background; raises BackgroundError and keeps the old."""
    runner.use_background(spec)


def _set_effect(runner: api.LiveRunner, on: bool) -> None:
    runner.set_effect(on)


def _effect_of(runner: api.LiveRunner) -> bool:
    return runner.effect


def _encode(picture: np.ndarray) -> bytes:
    if picture.shape[2] == 4:
        picture = _on_checkerboard(picture)
    height, width = picture.shape[:2]
    scale = _PREVIEW_LONG_SIDE / max(height, width)
    if scale < 1:
        picture = cv2.resize(picture, (round(width * scale), round(height * scale)),
                             interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(picture, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
    if not ok:
        raise RtmatteError("the preview picture could not be encoded")
    return data.tobytes()


def _on_checkerboard(rgba: np.ndarray) -> np.ndarray:
    """A transparent picture (``--bg transparent``) over a checkerboard, for the JPEG preview."""
    height, width = rgba.shape[:2]
    rows, columns = np.indices((height, width)) // _CHECKER_PX
    board = np.where((rows + columns) % 2 == 0, *_CHECKER_GREYS).astype(np.float32)[..., None]
    alpha = rgba[..., 3:].astype(np.float32) / 255.0
    return (rgba[..., :3] * alpha + board * (1.0 - alpha) + 0.5).astype(np.uint8)

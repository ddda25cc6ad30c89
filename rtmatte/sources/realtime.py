"""Live frame sources: a capture thread that keeps only the newest frame, and a video file
released at its own timestamps so it behaves like a camera (``--realtime``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from rtmatte.errors import StreamError
from rtmatte.handover import Mailbox
from rtmatte.sources.base import LiveReader
from rtmatte.sources.file import VideoSource
from rtmatte.types import Frame, Notify

#: how often an idle capture thread asks whether someone watches again
_IDLE_POLL_S = 0.1


class Grabber:
    """Runs a reader in its own thread and posts each frame to a newest-wins mailbox.

    Reading never waits on the consumer, so a slow model can only cause dropped frames, never a
    backlog: the frame it takes next is always the most recent one the reader produced. While
    ``idle()`` says so (nobody watches the output), the reader is released and nothing is read:
    a camera's light goes off and no CPU is spent on pictures nobody sees.
    """

    def __init__(self, reader: LiveReader, idle: Callable[[], bool] | None = None) -> None:
        self.reader = reader
        self._idle = idle
        self.frames: Mailbox[Frame] = Mailbox()
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        # the callback is usually a method of the grabber's owner: kept, it would make a cycle
        # that holds the owner (and its model, threads and buffers) until a garbage collection
        self._idle = None

    @property
    def captured(self) -> int:
        return self.frames.posted

    def _run(self) -> None:
        released = False
        try:
            while not self._stop.is_set():
                if self._idle is not None and self._idle():
                    if not released:
                        self.reader.release()
                        released = True
                    self._stop.wait(_IDLE_POLL_S)
                    continue
                released = False
                frame = self.reader.read(self._stop)
                if frame is None:
                    break
                self.frames.put(frame)
        except BaseException as error:  # handed to the runner, which re-raises it
            self.error = error
        finally:
            self.frames.close()


class RealtimeFileReader:
    """A video file played on the wall clock: each frame is released when its timestamp is due.

    This gives the live path a reproducible camera: the same pictures at the same moments on
    every run, so latency and drop figures can be compared between runs and machines.
    """

    def __init__(self, path: Path, notify: Notify | None = None, loop: bool = False) -> None:
        """``loop``: start again from the first frame at the end, as a camera never ends (the
        panel's file source); timestamps and indices carry on increasing across the loops."""
        self._path = Path(path)
        self._loop = loop
        self._source = VideoSource(self._path, notify=notify)
        self._frames = iter(self._source)
        self._notify = notify
        #: added to each frame's pts and index: the length of the loops played before this one
        self._pts_shift, self._index_shift = 0, 0
        self._first_pts: int | None = None
        self._last: Frame | None = None
        self.busy_s = 0.0
        info = self._source.info
        self.time_base = info.time_base
        self.fps = float(info.rate)
        self._pending = self._next()
        if self._pending is None:
            self._source.close()
            raise StreamError(f"{path}: the video stream holds no frames")
        height, width = self._pending.rgb.shape[:2]
        self.size = (width, height)
        self.description = f"{Path(path).name}: {width}x{height} at {self.fps:g} fps, realtime"
        self._origin: tuple[float, float] | None = None

    def _next(self) -> Frame | None:
        began = time.perf_counter()
        try:
            frame = next(self._frames, None)
            if frame is None and self._loop and self._last is not None:
                frame = self._restart(self._last)
        except StreamError as exc:
            if self._notify:
                self._notify(f"{exc}; playback ends here")
            return None
        finally:
            self.busy_s += time.perf_counter() - began
        if frame is None:
            return None
        if self._last is None:
            self._first_pts = frame.pts
        frame.index += self._index_shift
        if frame.pts is not None:
            frame.pts += self._pts_shift
        self._last = frame
        return frame

    def _restart(self, last: Frame) -> Frame | None:
        """The file's first frame again, timed one frame after ``last``, the last one played."""
        self._source.close()
        self._source = VideoSource(self._path, notify=self._notify)
        self._frames = iter(self._source)
        if last.pts is not None and self._first_pts is not None:
            step = max(1, round(1.0 / (self.fps * float(self.time_base))))
            self._pts_shift = last.pts + step - self._first_pts
        self._index_shift = last.index + 1
        return next(self._frames, None)

    def read(self, stop: threading.Event) -> Frame | None:
        frame, self._pending = self._pending, None
        if frame is None:
            frame = self._next()
        if frame is None:
            return None
        if self._origin is None:
            self._origin = (time.perf_counter(), frame.seconds)
        due = self._origin[0] + frame.seconds - self._origin[1]
        if stop.wait(max(0.0, due - time.perf_counter())):
            return None
        frame.captured = time.perf_counter()
        return frame

    def release(self) -> None:
        """Pause playback: the clock restarts at the next read, which plays the next frame at
        once rather than rushing through the ones that fell due meanwhile."""
        self._origin = None

    def close(self) -> None:
        self._source.close()

"""The live runner: capture → matte → composite → outputs, with the newest frame always winning.

Why not :class:`~rtmatte.run.pipeline.Pipeline` with ``queue_size=1``: its stages block on a full
queue while holding an item, so with two stages every queue slot and every held item is one
more stale frame between the camera and the output (up to four frame times here), and the
producer cannot drop frames it is holding. Here each hand-over is a newest-wins
:class:`~rtmatte.handover.Mailbox`: the model always takes the freshest picture, and
compositing and output of one frame overlap the model's work on the next.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rtmatte.compose.background_switch import BackgroundSwitch
from rtmatte.errors import BackgroundError, SettingsError
from rtmatte.handover import Closed, Mailbox, Timetable
from rtmatte.matting.adaptive import LivePacer
from rtmatte.run.figures import RunFigures
from rtmatte.run.lookahead import Lookahead
from rtmatte.run.offline import holds_person
from rtmatte.run.pipeline import StageTiming
from rtmatte.sinks.base import Pumped, Sink, Watched
from rtmatte.sources.base import LiveReader
from rtmatte.sources.realtime import Grabber
from rtmatte.types import Frame, Matte, Notify

_POLL_S = 0.05
_PREVIEW_WAIT_MS = 10  # waitKey blocks this long: short enough to show 60 fps


class BackgroundWatch:
    """``--bg-watch FILE``: the file holds a --bg value; writing a new one switches to it.

    A file works from any script, scheduler or stream-deck button, on every OS, and can be
    checked by reading it back, unlike a signal.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._seen: tuple[float, int] | None = self._stamp()

    def _stamp(self) -> tuple[float, int] | None:
        try:
            status = self.path.stat()
        except OSError:
            return None
        return (status.st_mtime, status.st_size)

    def changed(self) -> str | None:
        """The new content when the file changed since the last look, else None."""
        stamp = self._stamp()
        if stamp is None or stamp == self._seen:
            return None
        self._seen = stamp
        try:
            text = self.path.read_text().strip()
        except OSError:
            return None
        return text or None


@dataclass(kw_only=True)
class LiveResult(RunFigures):
    """What a live run did: the file path's ``--stats`` keys plus latency and drops."""

    kind: str = "live"
    #: frames the camera gave (``frames``: those handed to the outputs)
    frames_in: int
    ratio_changes: int
    #: the model ran on every this-many frames at the end of the run
    matte_every: int = 1
    #: frames each one was held behind the camera (``--delay``)
    delay: int = 0
    #: (seconds since start, latency seconds) of every frame handed to the outputs
    latencies: list[tuple[float, float]] = field(default_factory=list, repr=False)

    @property
    def frames_out(self) -> int:
        return self.frames

    @property
    def frames_dropped(self) -> int:
        return self.frames_in - self.frames_out

    def latency_ms(self, since: float = 0.0, until: float = float("inf")) -> dict[str, float]:
        values = [lat for t, lat in self.latencies if since <= t < until]
        if not values:
            return {"p50": 0.0, "p95": 0.0, "max": 0.0}
        data = np.array(values) * 1000.0
        return {"p50": round(float(np.percentile(data, 50)), 2),
                "p95": round(float(np.percentile(data, 95)), 2),
                "max": round(float(data.max()), 2)}

    def as_dict(self) -> dict[str, Any]:
        return {
            "input": self.input, "output": self.output, "kind": self.kind,
            "frames": self.frames, "fps": round(self.fps, 3), "fps_out": round(self.fps, 3),
            "seconds": round(self.seconds, 4), "backend": self.backend,
            "downsample_ratio": self.downsample_ratio, "ratio_changes": self.ratio_changes,
            "matte_every": self.matte_every, "delay": self.delay,
            "stages": self.stages, "latency_ms": self.latency_ms(),
            "frames_in": self.frames_in, "frames_out": self.frames_out,
            "frames_dropped": self.frames_dropped,
        }


class LiveRunner:
    """Runs one live session until the source ends, :meth:`request_stop`, or a window's q.

    Every output is a :class:`~rtmatte.sinks.base.Sink`; a :class:`~rtmatte.sinks.base.Pumped`
    one (the preview window) is also pumped by :meth:`run`, which must then be called from the
    main thread (some platforms draw windows there only); a
    :class:`~rtmatte.sinks.base.Watched` one (a virtual camera) says when the model may idle.
    Everything else happens in worker threads.
    """

    def __init__(self, reader: LiveReader, pacer: LivePacer, switch: BackgroundSwitch,
                 sinks: Sequence[Sink], *, watch: BackgroundWatch | None = None,
                 notify: Notify | None = None, input_name: str = "",
                 output_name: str = "", judge_nobody: Callable[[], None] | None = None) -> None:
        """``judge_nobody`` is called when a run ends without a delivered frame that held
        anyone: a post chain that saw nobody (``--keep X,Y`` raises, as at the end of a file
        run). The chain in use cannot judge it: it starts afresh at each change of working size
        and whenever everyone leaves the frame."""
        self.reader = reader
        self.pacer = pacer
        self.switch = switch
        self.sinks = list(sinks)
        self.watch = watch
        self.notify = notify
        self._effect = True
        self.input_name = input_name
        self.output_name = output_name
        self._judge_nobody = judge_nobody
        self._someone = False  # a delivered frame held a person
        self.result: LiveResult | None = None
        self._windows = [s for s in self.sinks if isinstance(s, Pumped)]
        self._vcams = [s for s in self.sinks if isinstance(s, Watched)]
        self._grabber = Grabber(reader, idle=self._idle)
        self._was_idle = False
        self._interval_s = 1.0 / reader.fps
        #: with a delay, every frame is handed on at its capture time plus the delay
        self._mattes: Mailbox[tuple[Frame, Matte | None]] | Timetable[tuple[Frame, Matte | None]]
        self._mattes = Timetable(self._interval_s) if pacer.delay else Mailbox()
        self._stop = threading.Event()
        self._errors: list[BaseException] = []
        self._timing = {name: StageTiming() for name in ("matte", "composite", "output")}
        self._latencies: list[tuple[float, float]] = []
        self._started = 0.0
        self._ran = False

    def __iter__(self) -> Iterator[tuple[np.ndarray, Frame, Matte | None]]:
        """Run in a worker thread and yield each delivered (picture, frame, matte), newest
        first when the consumer is slower than the source (older ones are dropped for it
        alone; the other sinks still get every frame). For a server or a panel."""
        if self._windows:
            raise RuntimeError("a live run with a preview window must be run() on the main "
                               "thread; leave the window out to iterate")
        self._claim()  # here, not in the worker: a closed run raises instead of never ending
        box = _Latest()
        self.sinks.append(box)
        worker = threading.Thread(target=self._run_quietly, args=(box,), name="live",
                                  daemon=True)
        worker.start()
        try:
            while True:
                try:
                    item = box.pictures.get(timeout=_POLL_S)
                except Closed:
                    break
                if item is not None:
                    yield item
        finally:
            self.request_stop()
            worker.join()
        if self._errors:
            raise self._errors[0]

    def _run_quietly(self, box: _Latest) -> None:
        try:
            self._run()
        except BaseException as error:  # re-raised by __iter__ in the consumer's thread
            if error not in self._errors:
                self._errors.append(error)
        finally:
            box.close()  # however the run ended, the consumer's wait ends with it

    @property
    def backend_name(self) -> str:
        """What runs the model (e.g. ``openvino/CPU/bf16``), for figures shown while it runs."""
        return self.pacer.matter.backend.name

    @property
    def effect(self) -> bool:
        """Whether pictures get the new background (off: the camera's own pictures pass)."""
        return self._effect

    def set_effect(self, on: bool) -> None:
        """Turn the effect on or off while the run goes on (the panel's button, the space key)."""
        self._effect = on

    def use_background(self, spec: str) -> None:
        """Switch the running picture's background to the --bg value ``spec``; raises
        BackgroundError and keeps the one in use when it is bad."""
        self.switch.use(spec)

    def request_stop(self) -> None:
        """Stop soon (signal handlers and key handlers call this); outputs are then finalized."""
        self._stop.set()

    def run(self) -> LiveResult:
        """Run to the end, :meth:`request_stop` or Ctrl-C; every output is finalized either way
        (a live recording cannot be made again, so what was recorded is kept)."""
        self._claim()
        return self._run()

    def _claim(self) -> None:
        if self._ran:
            raise RuntimeError("a live run runs once, inside its `with` block; open another")
        self._ran = True

    def _run(self) -> LiveResult:
        matte_loop = self._lookahead_loop if self.pacer.delay else self._matte_loop
        workers = [threading.Thread(target=self._guard, args=(matte_loop,), name="matte",
                                    daemon=True),
                   threading.Thread(target=self._guard, args=(self._output_loop,), name="output",
                                    daemon=True)]
        grabbing = False
        self._started = time.perf_counter()
        try:
            self.pacer.prepare(*self.reader.size)
            self._started = time.perf_counter()
            self._grabber.start()
            grabbing = True
            for worker in workers:
                worker.start()
            while any(w.is_alive() for w in workers):
                self._tick()
                if self._stop.is_set():
                    break
        except KeyboardInterrupt:
            self._stop.set()
        finally:
            # every thread is stopped and joined before the outputs close and before this
            # returns: none may still be inside the model's native code when the process exits
            self._stop.set()
            if grabbing:
                self._grabber.stop()
            for worker in workers:
                if worker.ident is not None:  # started
                    worker.join()
            seconds = time.perf_counter() - self._started
            try:
                self._judge()
            finally:
                self._close()
        error = self._grabber.error or (self._errors[0] if self._errors else None)
        if error is not None:
            raise error
        self.result = self._result(seconds)
        return self.result

    def _judge(self) -> None:
        """A run in which nobody appeared is judged as a file run's clip would be; what it
        refuses is refused once every output is finalized (a live recording cannot be made
        again, so it is kept)."""
        if self._someone or self._errors or self._grabber.error or self._judge_nobody is None:
            return
        try:
            self._judge_nobody()
        except SettingsError as exc:
            self._errors.append(SettingsError(f"{exc} (what was recorded is kept)"))

    def _tick(self) -> None:
        """The main thread's share: window and keys, background file, or just waiting."""
        if self._windows:
            key = self._windows[0].pump(_PREVIEW_WAIT_MS)
            for window in self._windows[1:]:
                window.pump(0)
            if key == "q":
                self._stop.set()
            elif key == "b":
                self._say(f"background: {self.switch.cycle()}")
            elif key == " ":
                self._effect = not self._effect
        else:
            self._stop.wait(_POLL_S)
        if self.watch is not None:
            spec = self.watch.changed()
            if spec is not None:
                try:
                    self.use_background(spec)
                    self._say(f"background: {spec}")
                except BackgroundError as exc:
                    self._say(f"{self.watch.path}: {exc}; keeping {self.switch.current}")

    def _guard(self, loop: Callable[[], None]) -> None:
        try:
            loop()
        except BaseException as error:  # re-raised by run() in the main thread
            self._errors.append(error)
            self._stop.set()
        finally:
            self._mattes.close()

    def _watched(self) -> bool:
        return not self._vcams or any(v.watched for v in self._vcams)

    def _idle(self) -> bool:
        """Asked by the capture thread: nobody watches any virtual camera (``--on-demand``), so
        the camera is let go and the model idles; the virtual camera repeats its last picture."""
        idle = not self._watched()
        if idle != self._was_idle:
            self._was_idle = idle
            self._say("nobody is watching the virtual camera; the camera is released and the "
                      "model idles" if idle else
                      "the virtual camera has a viewer; opening the camera, matting again")
        return idle

    def _lost(self) -> int:
        """Frames dropped so far at either hand-over."""
        return self._grabber.frames.dropped + self._mattes.dropped

    def _matte_loop(self) -> None:
        timing = self._timing["matte"]
        lost = self._lost()
        while not self._stop.is_set():
            try:
                frame = self._grabber.frames.get(timeout=_POLL_S)
            except Closed:
                return
            if frame is None or not self._watched():  # one grabbed just before going idle
                continue
            if not self._effect:
                self._mattes.put((frame, None))
                continue
            began = time.perf_counter()
            now_lost = self._lost()
            matte = self.pacer(frame.rgb, dropped=now_lost - lost)
            lost = now_lost
            timing.busy_s += time.perf_counter() - began
            timing.items += 1
            self._mattes.put((frame, matte))

    def _lookahead_loop(self) -> None:
        """The matte loop with ``--delay``: frames wait their delay out in a
        :class:`~rtmatte.run.lookahead.Lookahead` while the model runs beside them."""
        assert isinstance(self._mattes, Timetable)
        lookahead = Lookahead(self.pacer, self._interval_s, self._mattes.put,
                              self._grabber.frames.nudge)
        timing = self._timing["matte"]
        lost = self._lost()
        try:
            while not self._stop.is_set():
                try:
                    frame = self._grabber.frames.get(timeout=lookahead.wait_s())
                except Closed:
                    lookahead.finish()
                    return
                began = time.perf_counter()
                if frame is not None and self._watched():
                    now_lost = self._lost()
                    lookahead.push(frame, now_lost - lost, plain=not self._effect)
                    lost = now_lost
                    timing.items += 1
                lookahead.resolve()
                timing.busy_s += time.perf_counter() - began
        finally:
            lookahead.close()

    def _output_loop(self) -> None:
        while True:
            try:
                item = self._mattes.get(timeout=_POLL_S)
            except Closed:
                return
            if item is None:
                continue
            frame, matte = item
            began = time.perf_counter()
            picture = frame.rgb if matte is None else self.switch.compositor(frame, matte)
            if not self._someone and matte is not None and holds_person(matte.alpha):
                self._someone = True
            handed = time.perf_counter()
            self._count("composite", handed - began)
            if frame.captured is not None:
                self._latencies.append((handed - self._started, handed - frame.captured))
            for sink in self.sinks:
                sink.write(picture, frame, matte)
            self._count("output", time.perf_counter() - handed)

    def _count(self, stage: str, seconds: float) -> None:
        timing = self._timing[stage]
        timing.busy_s += seconds
        timing.items += 1

    def _close(self) -> None:
        """Release everything even when one release fails; the first failure is re-raised."""
        failures: list[BaseException] = []
        for closer in [*(s.close for s in self.sinks), self.reader.close]:
            try:
                closer()
            except Exception as error:
                failures.append(error)
        if failures and not self._errors:
            self._errors.append(failures[0])

    def _result(self, seconds: float) -> LiveResult:
        stages = {"capture": StageTiming(self.reader.busy_s,
                                         self._grabber.captured)}
        stages.update(self._timing)
        return LiveResult(
            input=self.input_name, output=self.output_name,
            frames_in=self._grabber.captured, frames=len(self._latencies), seconds=seconds,
            backend=self.backend_name, downsample_ratio=self.pacer.ratio,
            ratio_changes=self.pacer.changes, matte_every=self.pacer.every,
            delay=self.pacer.delay,
            stages={name: timing.as_dict() for name, timing in stages.items()},
            latencies=list(self._latencies),
        )

    def close(self) -> None:
        """Release everything of a runner that was never run (its sinks leave no files)."""
        if not self._ran:
            self._ran = True
            self._close()
            if self._errors:
                raise self._errors[0]

    def _say(self, message: str) -> None:
        if self.notify is not None:
            self.notify(message)


class _Latest:
    """The sink behind iteration: keeps only the newest delivered frame for the consumer."""

    def __init__(self) -> None:
        self.pictures: Mailbox[tuple[np.ndarray, Frame, Matte | None]] = Mailbox()

    def write(self, picture: np.ndarray, frame: Frame, matte: Matte | None) -> None:
        self.pictures.put((picture, frame, matte))

    def close(self) -> None:
        self.pictures.close()

    def abort(self) -> None:
        self.pictures.close()

"""``--delay N``: the output runs N frames behind the camera, and the matte gets to see ahead.

With the model in the frame's path (the default), a frame the model skips gets the last model
matte carried *forward* along the motion, and a frame the model runs on waits for it, so one
run may take only about one frame interval. Users who can give some latency (a streamer whose
sound can be delayed to match, a recording) get a better matte from it:

- a frame between two model frames is carried from *both* of them and blended by nearness in
  time, which halves the error either flow makes (docs/live-cpu.md, "--delay");
- the model runs off the frame's path, in its own thread, so one run may take most of the
  delay: a bigger working size fits.

Every frame is handed on at its capture time plus the delay, a fixed latency the sound can be
matched to. A frame whose next model frame is not ready by then gets the last known matte
carried forward instead, as without a delay: late frames are never the price of lookahead.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rtmatte.matting.adaptive import LivePacer
from rtmatte.matting.carry import Keyframe, MotionCarry
from rtmatte.matting.ladder import LOOKAHEAD_SPARE
from rtmatte.types import Frame, Matte

#: the longest the matte thread sleeps without news (seconds)
_POLL_S = 0.05


@dataclass(eq=False)
class _Waiting:
    """A frame waiting for its matte."""

    frame: Frame
    seq: int
    due: float
    grey: np.ndarray | None = None
    #: a frame the model runs on; its matte is set by the model thread
    key: bool = False
    matte: Matte | None = None


class Lookahead:
    """Frames in, ((frame, matte), due time) out to ``deliver``, in capture order; the delay is
    ``pacer.delay`` frame intervals of ``interval_s``.

    :meth:`push`, :meth:`resolve` and :meth:`finish` belong to one thread (the live runner's
    matte thread); the model runs in a thread of its own, which calls ``wake`` when a run is
    done so that the frames waiting for it are resolved at once.
    """

    def __init__(self, pacer: LivePacer, interval_s: float,
                 deliver: Callable[[tuple[Frame, Matte | None], float], None],
                 wake: Callable[[], None]) -> None:
        self.pacer = pacer
        self.delay_s = pacer.delay * interval_s
        self.spare_s = LOOKAHEAD_SPARE * interval_s
        self._deliver = deliver
        self._wake = wake
        self._carry = MotionCarry()
        self._waiting: deque[_Waiting] = deque()
        self._seq = 0
        self._since_key: int | None = None
        self._dropped = 0
        #: the newest model frame at or before the oldest waiting frame whose matte is known
        self._known: tuple[int, Keyframe] | None = None
        #: a model frame handed on (late) before its matte came; it becomes known when it does
        self._late_key: _Waiting | None = None
        self._cond = threading.Condition()
        self._job: tuple[_Waiting, int] | None = None
        self._busy = False
        self._closed = False
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._model_loop, name="model", daemon=True)
        self._thread.start()

    def push(self, frame: Frame, dropped: int = 0, plain: bool = False) -> None:
        """A new frame from the camera; ``dropped``: frames lost since the last one; ``plain``:
        hand it on without a matte (the effect is switched off)."""
        self._raise()
        captured = frame.captured if frame.captured is not None else time.perf_counter()
        entry = _Waiting(frame, self._seq, captured + self.delay_s)
        self._seq += 1
        self._dropped += dropped
        if not plain:
            self.pacer.start(frame.rgb.shape)
            entry.grey = self._carry.grey(frame.rgb)
            with self._cond:
                turn = self._since_key is None or self._since_key + 1 >= self.pacer.every
                if turn and not self._busy:
                    entry.key, self._busy = True, True
                    self._job, self._dropped = (entry, self._dropped), 0
                    self._since_key = 0
                    self._cond.notify_all()
                elif self._since_key is not None:
                    self._since_key += 1
        self._waiting.append(entry)

    def wait_s(self) -> float:
        """How long the matte thread may wait for the next frame before :meth:`resolve` has
        work: until the oldest waiting frame must be handed on, at most :data:`_POLL_S`."""
        if not self._waiting:
            return _POLL_S
        left = self._waiting[0].due - self.spare_s - time.perf_counter()
        return min(_POLL_S, max(0.001, left))

    def resolve(self, final: bool = False) -> None:
        """Hand on, in order, every waiting frame whose matte can be made now; a frame whose
        time has come gets the last known matte carried forward. ``final``: no more frames or
        model runs will come, so every waiting frame is handed on."""
        self._raise()
        if self._late_key is not None and self._late_key.matte is not None:
            self._remember(self._late_key)
            self._late_key = None
        while self._waiting:
            head = self._waiting[0]
            if head.grey is None:
                self._hand_on(head, None)
            elif head.key and head.matte is not None:
                self._remember(head)
                self._hand_on(head, head.matte)
            elif (matte := self._between(head)) is not None:
                self._hand_on(head, matte)
            elif self._known is not None and (final or time.perf_counter()
                                              >= head.due - self.spare_s):
                if head.key:
                    self._late_key = head
                self._hand_on(head, self._carry.carry(head.grey, self._known[1]))
            else:
                return

    def finish(self) -> None:
        """The stream ended: wait for the model's last run, then hand on every waiting frame."""
        with self._cond:
            while self._busy and self.error is None:
                self._cond.wait(_POLL_S)
        self.resolve(final=True)

    def close(self) -> None:
        """Stop the model thread (after its current run)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()

    def _between(self, head: _Waiting) -> Matte | None:
        """``head``'s matte from the known model frame before it and the next one after it,
        when both are known."""
        if head.key or self._known is None:
            return None
        after = next((entry for entry in self._waiting if entry.key), None)
        if after is None or after.matte is None or after.grey is None:
            return None
        seq, before = self._known
        weight = (head.seq - seq) / (after.seq - seq)
        return self._carry.between(head.grey, before, Keyframe(after.grey, after.matte), weight)

    def _remember(self, key: _Waiting) -> None:
        assert key.grey is not None and key.matte is not None
        if self._known is None or key.seq > self._known[0]:
            self._known = (key.seq, Keyframe(key.grey, key.matte))

    def _hand_on(self, entry: _Waiting, matte: Matte | None) -> None:
        self._waiting.popleft()
        self._deliver((entry.frame, matte), entry.due)

    def _model_loop(self) -> None:
        while True:
            with self._cond:
                while self._job is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                assert self._job is not None
                (entry, dropped), self._job = self._job, None
            try:
                entry.matte = self.pacer.fresh_matte(entry.frame.rgb, dropped)
            except BaseException as error:  # re-raised in the matte thread
                self.error = error
            with self._cond:
                self._busy = False
                self._cond.notify_all()
            self._wake()
            if self.error is not None:
                return

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

"""The live path, driven by --realtime playback of real clips through the real model."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from rtmatte import cli
from rtmatte.cli.live import background_specs, is_live_run
from rtmatte.compose.background_switch import BackgroundSwitch
from rtmatte.handover import Closed, Mailbox, Timetable
from rtmatte.matting.adaptive import LivePacer
from rtmatte.matting.backends.onnx import OnnxBackend
from rtmatte.matting.ladder import AdaptiveResolution, ladder_for
from rtmatte.matting.matter import Matter
from rtmatte.matting.models.fetch import ensure_model
from rtmatte.post import PostChain
from rtmatte.run.live import BackgroundWatch, LiveResult, LiveRunner
from rtmatte.samples import make_clip
from rtmatte.sources.camera import parse_camera
from rtmatte.sources.realtime import RealtimeFileReader
from rtmatte.types import Frame

FPS = 24


@pytest.fixture(scope="session")
def live_backend() -> OnnxBackend:
    return OnnxBackend(ensure_model("rvm-mobilenetv3"))


@pytest.fixture(scope="session")
def live_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two seconds of the portrait at 320x240, 24 fps, like a small webcam."""
    return make_clip(tmp_path_factory.mktemp("live") / "talk.mp4", frames=2 * FPS,
                     size=(320, 240), fps=FPS, audio=False)


class SlowBackend:
    """The real ONNX backend plus a fixed delay: a machine far too slow for the frame rate."""

    def __init__(self, inner: OnnxBackend, delay_s: float) -> None:
        self.inner = inner
        self.delay_s = delay_s
        self.name = f"slow {inner.name}"
        self.whole_frame_only = inner.whole_frame_only

    def initial_state(self) -> object:
        return self.inner.initial_state()

    def infer(self, rgb: np.ndarray, state: object, downsample_ratio: float):
        time.sleep(self.delay_s)
        return self.inner.infer(rgb, state, downsample_ratio)


class StampSink:
    """An output that notes when each frame reached it."""

    def __init__(self) -> None:
        self.frames: list[tuple[float, Frame, np.ndarray]] = []
        self.closed = False

    def write(self, picture: np.ndarray, frame: Frame, matte=None) -> None:
        self.frames.append((time.perf_counter(), frame, picture))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


def run_live(clip: Path, backend, *, bg: str = "#00b140", adapt: bool = True,
             watch: BackgroundWatch | None = None,
             ratio: float | None = None) -> tuple[LiveResult, StampSink, BackgroundSwitch]:
    reader = RealtimeFileReader(clip)
    matter = LivePacer(Matter(backend, downsample_ratio=ratio), PostChain(), 1.0 / reader.fps,
                        adapt=adapt)
    sink = StampSink()
    backgrounds = BackgroundSwitch([bg])
    runner = LiveRunner(reader, matter, backgrounds, [sink], watch=watch)
    return runner.run(), sink, backgrounds


def test_realtime_playback_is_on_time(live_clip: Path, live_backend: OnnxBackend) -> None:
    """Frames are taken at their own timestamps, however fast or slow the machine: a run that
    played as fast as the model allowed would take them sooner. How fast the frames get
    through (latency, frames per second) is a speed target: tools/live_bench.py measures it."""
    result, sink, _ = run_live(live_clip, live_backend)
    assert result.frames_in == 2 * FPS
    assert result.frames_out == len(sink.frames) >= 2
    assert sink.closed
    frames = [frame for _, frame, _ in sink.frames]
    pts = [frame.pts for frame in frames]
    assert pts == sorted(pts) and len(set(pts)) == len(pts)
    assert all(t >= frame.captured for t, frame, _ in sink.frames)
    assert sink.frames[0][2].shape == (240, 320, 3)
    # on the clock: no frame taken before its time, counted from the run's start (which comes
    # before the first frame is read; 1 ms: the clock's resolution). Lateness is not asserted:
    # it is the machine's load, not the player
    with av.open(str(live_clip)) as container:
        start = float(next(container.decode(video=0)).time)
    assert len(result.latencies) == len(frames)
    for frame, (handed, latency) in zip(frames, result.latencies, strict=True):
        assert handed - latency >= frame.seconds - start - 0.001, (frame.pts, handed, latency)
    assert round(frames[-1].seconds * FPS) == 2 * FPS - 1  # the newest is run last: the end
    assert result.seconds >= (2 * FPS - 1) / FPS - 0.001


def test_slow_model_drops_frames_instead_of_queueing(live_clip: Path,
                                                     live_backend: OnnxBackend) -> None:
    """Every model run lasts at least ``delay`` (3.6 frame times): a queue would leave some 30
    frames still to run once the clip's last frame came in; dropping leaves at most two (the
    one taken just before that frame, then that frame), however slow the machine."""
    starts: list[float] = []

    class Timed(SlowBackend):
        def infer(self, rgb: np.ndarray, state: object, downsample_ratio: float):
            starts.append(time.perf_counter())
            return super().infer(rgb, state, downsample_ratio)

    delay = 0.15
    result, sink, _ = run_live(live_clip, Timed(live_backend, delay), ratio=0.25)
    assert result.frames_in == 2 * FPS
    assert result.frames_out == len(sink.frames) >= 1
    last = sink.frames[-1][1]  # the newest frame is always the one run next: the clip's last
    assert last.pts == max(frame.pts for _, frame, _ in sink.frames)
    assert round(last.seconds * FPS) == 2 * FPS - 1, last.seconds
    after_last = [s for s in starts if s > last.captured]
    assert len(after_last) <= 2, (len(after_last), len(starts))
    assert result.frames_dropped >= result.frames_in - len(starts) > 0, result.as_dict()


def test_background_file_switches_while_running(tmp_path: Path,
                                                live_backend: OnnxBackend) -> None:
    """The file is rewritten once three frames are out; the run is stopped once three frames
    with the new background are out. Neither waits on the clock: if the switch never took
    effect the run would play its whole minute and end on the old background."""
    clip = make_clip(tmp_path / "long.mp4", frames=60 * 8, size=(160, 120), fps=8, audio=False)
    choice = tmp_path / "bg.txt"
    choice.write_text("#00ff00\n")

    def share(picture: np.ndarray, colour: tuple[int, int, int]) -> float:
        return float(np.all(np.abs(picture.astype(int) - colour) < 30, axis=-1).mean())

    class Switching(StampSink):
        def write(self, picture: np.ndarray, frame: Frame, matte=None) -> None:
            super().write(picture, frame, matte)
            if len(self.frames) == 3:
                choice.write_text("#0000ff\n")
            if sum(share(p, (0, 0, 255)) > 0.1 for _, _, p in self.frames) == 3:
                runner.request_stop()

    reader = RealtimeFileReader(clip)
    matter = LivePacer(Matter(live_backend, downsample_ratio=0.25), PostChain(),
                        1.0 / reader.fps, adapt=False)
    sink = Switching()
    backgrounds = BackgroundSwitch(["#00ff00"])
    runner = LiveRunner(reader, matter, backgrounds, [sink], watch=BackgroundWatch(choice))
    result = runner.run()
    assert backgrounds.current == "#0000ff"
    assert result.frames_in < 60 * 8  # stopped on the new background, not by the clip's end
    pictures = [picture for _, _, picture in sink.frames]
    for before in pictures[:3]:
        assert share(before, (0, 255, 0)) > 0.1 and share(before, (0, 0, 255)) == 0
    assert share(pictures[-1], (0, 0, 255)) > 0.1 and share(pictures[-1], (0, 255, 0)) == 0
    # once switched it stays switched
    blue = [share(p, (0, 0, 255)) > 0.1 for p in pictures]
    assert blue == sorted(blue)


def test_cli_stats_and_recording(live_clip: Path, tmp_path: Path) -> None:
    stats, out = tmp_path / "s.json", tmp_path / "rec.mp4"
    code = cli.main([str(live_clip), "--realtime", "--bg", "blur", "--stats", str(stats),
                     "-o", str(out), "--quiet"])
    assert code == 0
    import json

    data = json.loads(stats.read_text())
    for key in ("frames", "fps", "backend", "downsample_ratio", "stages", "latency_ms",
                "frames_in", "frames_out", "frames_dropped", "fps_out"):
        assert key in data
    assert set(data["latency_ms"]) == {"p50", "p95", "max"}
    assert data["frames_in"] == 2 * FPS
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == data["frames_out"]


def _loopback_present() -> bool:
    names = Path("/sys/class/video4linux").glob("*/name")
    return any("loopback" in n.read_text().lower() or "rtmatte" in n.read_text().lower()
               for n in names)


@pytest.mark.skipif(_loopback_present(), reason="a virtual camera exists here")
def test_vcam_without_device_exits_2_with_setup(live_clip: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    code = cli.main([str(live_clip), "--realtime", "--vcam", "--bg", "blur"])
    message = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in message
    if sys.platform.startswith("linux"):
        assert "sudo modprobe v4l2loopback devices=1 exclusive_caps=1" in message
        assert "/etc/modules-load.d" in message
    else:
        assert "OBS" in message


def test_headless_preview_says_what_to_install(live_clip: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    from rtmatte.sinks.preview import gui_problem

    if gui_problem() is None:
        pytest.skip("this machine can show a window")
    assert cli.main([str(live_clip), "--preview"]) == 2
    assert "--preview" in capsys.readouterr().err


def test_live_inputs_and_flags() -> None:
    parser = cli.build_parser()
    assert is_live_run(parser.parse_args(["camera", "--vcam"]))
    assert is_live_run(parser.parse_args(["camera:1"]))
    assert is_live_run(parser.parse_args(["/dev/video0"]))
    assert is_live_run(parser.parse_args(["talk.mp4", "--realtime"]))
    assert is_live_run(parser.parse_args(["talk.mp4", "--preview"]))
    assert not is_live_run(parser.parse_args(["talk.mp4"]))
    assert parse_camera("camera") == 0 and parse_camera("camera:2") == 2
    assert parse_camera("/dev/video4") == "/dev/video4" and parse_camera("cam.mp4") is None
    assert background_specs("beach.jpg,blur,#00b140") == ["beach.jpg", "blur", "#00b140"]
    assert background_specs("blur") == ["blur"]
    args = parser.parse_args(["camera:1", "--size", "1280x720", "--fps", "30"])
    assert args.size == (1280, 720) and args.fps == 30


def test_camera_without_destination_is_refused(capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["camera"]) == 2
    assert "--vcam, --preview or -o" in capsys.readouterr().err


def test_mailbox_keeps_only_the_newest() -> None:
    box: Mailbox[int] = Mailbox()
    for item in range(5):
        box.put(item)
    assert box.get(timeout=0) == 4
    assert box.dropped == 4 and box.posted == 5
    assert box.get(timeout=0) is None
    box.put(9)
    box.close()
    assert box.get(timeout=0) == 9  # the last item survives the close
    with pytest.raises(Closed):
        box.get(timeout=0)


def test_adaptive_resolution_goes_down_fast_and_up_slowly(monkeypatch) -> None:
    import rtmatte.matting.ladder as live_matter

    rungs = ladder_for(480, 640)
    assert rungs[0].ratio == 0.75 and rungs[0].input_long == 640
    # the bottom: the smallest size, its matte carried by motion (the order: test_ladder.py)
    assert (rungs[-1].internal, rungs[-1].every) == (128, 2)
    assert rungs[-1].input_long == 256
    assert all(r.every == 1 for r in ladder_for(480, 640, every=1))
    control = AdaptiveResolution(rungs, budget_s=0.040)
    for _ in range(4):  # 2 settling runs, then the faster of 2 timed ones picks the rung
        control.observe(0.150)  # far too slow: one jump, several rungs at once
    assert control.index >= 3 and control.changes == 1
    low = control.index
    monkeypatch.setattr(live_matter, "_UP_AFTER_S", 0.0)
    monkeypatch.setattr(live_matter, "_RETRY_SLOW_RUNG_S", 0.0)
    for _ in range(4):
        control.observe(0.010)
    # one step up, to the nearest better rung that fits: the one just above (256 px every
    # frame, more model a frame) does not, so it is the one above that
    assert control.index == low - 2 and control.changes == 2
    dropping = AdaptiveResolution(rungs, budget_s=0.040)
    for _ in range(8):
        dropping.observe(0.020, dropped=1)  # the model fits, yet every other frame is lost
    assert dropping.index >= 1
    hiccup = AdaptiveResolution(rungs, budget_s=0.040)
    for lost in (0, 0, 0, 3, 0, 0, 0, 0, 0, 0):  # one burst of loss in a steady run
        hiccup.observe(0.020, dropped=lost)
    assert hiccup.index == 0
    fixed = AdaptiveResolution(rungs, budget_s=0.040, enabled=False)
    fixed.observe(1.0)
    assert fixed.index == 0


def test_every_other_frame_carries_the_alpha(live_backend: OnnxBackend) -> None:
    from rtmatte.samples import clip_frame

    calls = []

    class Counting(SlowBackend):
        def infer(self, rgb, state, downsample_ratio):
            calls.append(rgb.shape)
            return self.inner.infer(rgb, state, downsample_ratio)

    matter = LivePacer(Matter(Counting(live_backend, 0.0), downsample_ratio=0.25), PostChain(),
                        1 / 24, every=2, carry=False)
    frames = [clip_frame(i, 6, 320, 240) for i in range(6)]
    mattes = [matter(rgb) for rgb in frames]
    assert len(calls) == 3
    assert mattes[1].alpha is mattes[0].alpha
    assert np.array_equal(mattes[1].fgr, frames[1])  # the current pixels


class _StandInCapture:
    """cv2.VideoCapture's surface: a 64x48 camera giving ``pictures`` frames per opening (None:
    endless), counting its openings and releases."""

    pictures: int | None = None
    opened = 0
    released = 0

    def __init__(self, target: int | str) -> None:
        type(self).opened += 1
        self.left = self.pictures

    def isOpened(self) -> bool:
        return True

    def set(self, prop: int, value: float) -> bool:
        return True

    def get(self, prop: int) -> float:
        return {3: 64.0, 4: 48.0, 5: 30.0}.get(prop, 0.0)

    def read(self):
        if self.left == 0:
            return False, None
        if self.left is not None:
            self.left -= 1
        time.sleep(0.002)  # a camera paces its pictures
        return True, np.zeros((48, 64, 3), np.uint8)

    def release(self) -> None:
        type(self).released += 1


def test_camera_reconnects_after_a_disconnect() -> None:
    from rtmatte.sources.camera import CameraReader

    class FlakyCapture(_StandInCapture):
        """Three pictures, then the cable is pulled."""

        pictures = 3

    notes: list[str] = []
    reader = CameraReader("camera:3", notify=notes.append, opener=FlakyCapture, retry_s=0.01)
    stop = threading.Event()
    frames = [reader.read(stop) for _ in range(6)]
    assert all(f is not None and f.rgb.shape == (48, 64, 3) for f in frames)
    assert reader.reconnects == 1 and FlakyCapture.opened == 2
    assert any("stopped giving pictures" in n for n in notes)
    assert any("is back" in n for n in notes)
    stamps = [f.pts for f in frames]
    assert stamps == sorted(stamps) and len(set(stamps)) == 6
    stop.set()
    assert reader.read(stop) is None


def test_an_idle_grabber_lets_go_of_the_camera_and_takes_it_back() -> None:
    from rtmatte.sources.camera import CameraReader
    from rtmatte.sources.realtime import Grabber

    class EndlessCapture(_StandInCapture):
        pass

    notes: list[str] = []
    reader = CameraReader("camera:2", notify=notes.append, opener=EndlessCapture)
    nobody_watches = threading.Event()
    grabber = Grabber(reader, idle=nobody_watches.is_set)
    grabber.start()
    try:
        assert grabber.frames.get(timeout=60.0) is not None  # a hang bound only
        nobody_watches.set()
        # the deadlines only bound a hang: each wait ends on what it waits for
        deadline = time.monotonic() + 60.0
        while EndlessCapture.released == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert EndlessCapture.released == 1  # the camera's light goes off
        # the capture thread posts each frame before it asks whether anyone watches, so the
        # count is final once the release was seen
        posted = grabber.captured
        time.sleep(0.3)
        assert grabber.captured == posted  # nothing is read while idle
        nobody_watches.clear()
        deadline = time.monotonic() + 60.0
        while grabber.captured == posted and time.monotonic() < deadline:
            time.sleep(0.01)
        assert grabber.captured > posted and EndlessCapture.opened == 2
    finally:
        grabber.stop()
        reader.close()
    assert "camera camera:2 released" in notes and "camera camera:2 opened again" in notes
    assert reader.reconnects == 0  # a release on purpose is not a disconnect


def test_a_paused_file_resumes_at_its_own_pace(sample_clip) -> None:
    from rtmatte.sources.realtime import RealtimeFileReader

    reader = RealtimeFileReader(sample_clip)
    stop = threading.Event()
    try:
        first = reader.read(stop)
        reader.release()
        time.sleep(0.3)  # seven frame times at 24 fps pass while paused
        began = time.perf_counter()
        resumed = [reader.read(stop) for _ in range(4)]
        seconds = time.perf_counter() - began
    finally:
        reader.close()
    assert first is not None and all(f is not None for f in resumed)
    assert [f.index for f in resumed] == [first.index + 1 + i for i in range(4)]
    assert seconds >= 2.5 / 24  # played at the clip's rate, not rushed to catch up


def test_a_timetable_hands_items_on_in_order_at_their_due_times() -> None:
    table: Timetable[int] = Timetable(stale_s=0.05)
    start = time.perf_counter()
    table.put(1, start + 0.03)
    table.put(2, start + 0.06)
    # (an item not yet due stays: see 5 below, due in 10 s, which a busy machine cannot miss)
    assert table.get(timeout=1.0) == 1
    assert time.perf_counter() >= start + 0.03
    assert table.get(timeout=1.0) == 2
    assert time.perf_counter() >= start + 0.06
    # a consumer that fell behind skips what went stale, once something newer is due
    now = time.perf_counter()
    table.put(3, now - 0.2)
    table.put(4, now - 0.1)
    table.put(5, now + 10)
    assert table.get(timeout=0.0) == 4 and table.dropped == 1
    table.close()
    assert table.get(timeout=0.0) is None  # 5 is not due; closing does not rush it
    assert table.posted == 5


def test_a_delay_offers_the_cadences_it_leaves_time_for() -> None:
    rungs = ladder_for(540, 960, delay=6)
    assert (rungs[0].internal, rungs[0].every) == (480, 1)
    # size first, then cadence: a bigger size carried from both sides beats a smaller one
    assert [(r.internal, r.every) for r in rungs[:5]] == [(480, 1), (480, 2), (480, 3),
                                                          (480, 4), (384, 1)]
    # a frame after a model frame waits every - 1 intervals for the next: with 2 frames of
    # delay, every 3rd frame would leave the model no time at all
    assert {r.every for r in ladder_for(540, 960, delay=2)} == {1, 2}
    assert {r.every for r in ladder_for(540, 960, every=3, delay=6)} == {3}


def test_one_stall_does_not_drop_the_size() -> None:
    rungs = ladder_for(540, 960)
    control = AdaptiveResolution(rungs, budget_s=1 / 30)
    control.index = 4
    for _ in range(6):
        control.observe(0.012)
    control.observe(0.600)  # one run stalled for half a second
    assert control.index == 4
    for _ in range(10):  # the machine really got slower: the size follows
        control.observe(0.060)
    assert control.index > 4


@pytest.mark.parametrize("delay", [0, 3])
def test_a_finished_live_run_lets_go_of_its_model_at_once(live_clip: Path,
                                                          live_backend: OnnxBackend,
                                                          delay: int) -> None:
    """Nothing of a finished run waits for a garbage collection: a server that opens one live
    run after another must not pile up models, threads and frame buffers."""
    import gc
    import weakref

    matter = LivePacer(Matter(live_backend, downsample_ratio=0.5), PostChain(), 1.0 / FPS,
                        adapt=False, delay=delay)
    runner = LiveRunner(RealtimeFileReader(live_clip), matter, BackgroundSwitch(["#00b140"]),
                        [StampSink()])
    gone = weakref.ref(matter)
    gc.disable()
    try:
        runner.run()
        del runner, matter
        assert gone() is None
    finally:
        gc.enable()

"""The virtual camera output against pyvirtualcam's real Camera class and backend registry."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import pyvirtualcam
from conftest import HANG_S, wait_until

from rtmatte.errors import VirtualCameraError
from rtmatte.sinks import vcam
from rtmatte.sinks.vcam import VirtualCameraSink, device_readers, open_camera


class RecordingBackend:
    """A pyvirtualcam backend (the documented duck-typed interface) that keeps what it is sent."""

    instances: ClassVar[list[RecordingBackend]] = []
    device_name = "rtmatte-test-camera"

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int,
                 device: str | None, **kw: object) -> None:
        self.args = {"width": width, "height": height, "fps": fps, "fourcc": fourcc,
                     "device": device}
        self.sent: list[tuple[float, np.ndarray]] = []
        self.closed = 0
        self._changed = threading.Condition()
        RecordingBackend.instances.append(self)

    def send(self, frame: np.ndarray) -> None:
        with self._changed:
            self.sent.append((time.perf_counter(), frame.copy()))
            self._changed.notify_all()

    def wait_for(self, ready: Callable[[list[np.ndarray]], bool], what: str) -> None:
        """Return once ``ready`` holds for the frames sent so far (an event, not a sleep)."""
        with self._changed:
            if not self._changed.wait_for(lambda: ready([f for _, f in self.sent]), HANG_S):
                raise AssertionError(f"the camera never got {what}")

    def close(self) -> None:
        self.closed += 1

    def device(self) -> str:
        return self.args["device"] or self.device_name

    def native_fourcc(self) -> int | None:
        return None


@pytest.fixture
def test_backend() -> type[RecordingBackend]:
    RecordingBackend.instances.clear()
    pyvirtualcam.register_backend("rtmatte-test", RecordingBackend)
    yield RecordingBackend
    pyvirtualcam.camera.BACKENDS.pop("rtmatte-test", None)


def test_frames_reach_the_camera_at_its_rate(test_backend: type[RecordingBackend]) -> None:
    sink = VirtualCameraSink(64, 48, 50.0, backend="rtmatte-test")
    backend = test_backend.instances[0]
    assert backend.args["width"] == 64 and backend.args["height"] == 48
    assert backend.args["fps"] == 50.0
    assert backend.args["fourcc"] == pyvirtualcam.util.encode_fourcc(
        pyvirtualcam.PixelFormat.RGB.value)
    picture = np.full((48, 64, 3), 200, np.uint8)
    sink.write(picture, None)
    backend.wait_for(lambda sent: sum(f.max() == 200 for f in sent) >= 8, "the picture 8 times")
    sink.write(np.full((96, 128, 3), 10, np.uint8), None)  # another size: fitted to the camera
    backend.wait_for(lambda sent: sent[-1].max() == 10, "the second picture")
    sink.close()
    assert backend.closed == 1
    stamps = [t for t, _ in backend.sent]
    frames = [f for _, f in backend.sent]
    assert all(f.dtype == np.uint8 and f.shape == (48 * 64 * 3,) for f in frames)
    # paced: never faster than 50 a second, however late a tick came (a late tick is sent at
    # once, which can only bring one send forward); as fast as possible would be thousands
    assert stamps[-1] - stamps[0] >= (len(stamps) - 2) / 50 * 0.99, (len(stamps), stamps)
    assert frames[-1].max() == 10
    assert sink.repeats >= 7  # one picture, sent again every tick until a new one came


def test_no_device_message_says_how_to_set_one_up(monkeypatch) -> None:
    class Missing:
        def __init__(self, **kw: object) -> None:
            raise RuntimeError("No v4l2 loopback device found at /dev/video[0-99].")

    monkeypatch.setitem(pyvirtualcam.camera.BACKENDS, "rtmatte-missing", Missing)
    with pytest.raises(VirtualCameraError) as caught:
        open_camera(640, 480, 30, backend="rtmatte-missing")
    message = str(caught.value)
    assert "No v4l2 loopback device" in message
    if sys.platform.startswith("linux"):
        assert 'sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label="rtmatte"' \
            in message
        assert "/etc/modprobe.d/" in message
    with pytest.raises(VirtualCameraError, match="unknown"):
        open_camera(640, 480, 30, backend="no-such-backend")


def _holder(node: Path) -> subprocess.Popen:
    """A process that holds ``node`` open until the test lets it go (closes its stdin)."""
    return subprocess.Popen([sys.executable, "-c", "import sys; f=open(sys.argv[1]); "
                             "print(1, flush=True); sys.stdin.read()", str(node)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def test_readers_of_the_device_are_counted(tmp_path: Path) -> None:
    node = tmp_path / "video42"
    node.write_bytes(b"")
    assert device_readers(str(node)) == 0
    holder = _holder(node)
    try:
        holder.stdout.readline()
        assert device_readers(str(node)) == 1
        with node.open():  # our own descriptor is not a viewer
            assert device_readers(str(node)) == 1
    finally:
        holder.kill()
        holder.wait()


def test_on_demand_follows_viewers(test_backend: type[RecordingBackend], tmp_path: Path,
                                   monkeypatch) -> None:
    monkeypatch.setattr(vcam, "_READER_POLL_S", 0.02)
    node = tmp_path / "video43"
    node.write_bytes(b"")
    sink = VirtualCameraSink(32, 24, 100.0, device=str(node), backend="rtmatte-test",
                             on_demand=True)
    try:
        assert sink.on_demand
        wait_until(lambda: not sink.watched, "nobody watching seen")
        with _holder(node) as holder:
            holder.stdout.readline()
            wait_until(lambda: sink.watched, "the viewer seen")
            holder.kill()
        wait_until(lambda: not sink.watched, "the viewer's leaving seen")
    finally:
        sink.close()


def _loopback_device() -> str | None:
    for name in sorted(Path("/sys/class/video4linux").glob("video*/name")):
        label = name.read_text().lower()
        if "loopback" in label or "rtmatte" in label or "dummy" in label:
            return f"/dev/{name.parent.name}"
    return None


@pytest.mark.skipif(_loopback_device() is None, reason="no v4l2loopback device here")
def test_real_v4l2loopback_device() -> None:
    sink = VirtualCameraSink(640, 480, 30.0, device=_loopback_device())
    try:
        for value in range(10):
            sink.write(np.full((480, 640, 3), value * 20, np.uint8), None)
            wait_until(lambda before=sink.sent: sink.sent > before, "a frame sent")  # paced
    finally:
        sink.close()
    assert sink.sent >= 10 and sink.backend == "v4l2loopback"


def test_live_run_feeds_the_virtual_camera(test_backend: type[RecordingBackend],
                                           tmp_path: Path) -> None:
    from rtmatte import cli
    from rtmatte.samples import make_clip

    clip = make_clip(tmp_path / "talk.mp4", frames=24, size=(320, 240), fps=24, audio=False)
    assert cli.main([str(clip), "--realtime", "--vcam", "--vcam-backend", "rtmatte-test",
                     "--bg", "#00b140", "--quiet"]) == 0
    backend = test_backend.instances[0]
    assert (backend.args["width"], backend.args["height"], backend.args["fps"]) == (320, 240, 24)
    assert backend.closed == 1
    pictures = [f.reshape(240, 320, 3) for _, f in backend.sent if f.any()]
    assert pictures, "only the black start-up frame was sent"
    green = np.all(np.abs(pictures[-1].astype(int) - (0, 177, 64)) < 30, axis=-1)
    assert green.mean() > 0.1  # the chroma-key background is there, the person too
    assert green.mean() < 0.9


def test_v4l2loopback_gets_i420_from_opencv(test_backend: type[RecordingBackend],
                                            monkeypatch) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("I420 is handed over to v4l2loopback only")
    # the real Camera class, with this test's backend standing in for the kernel device
    monkeypatch.setitem(pyvirtualcam.camera.BACKENDS, "v4l2loopback", RecordingBackend)
    sink = VirtualCameraSink(64, 48, 100.0, backend="v4l2loopback")
    backend = test_backend.instances[0]
    backend.wait_for(lambda sent: len(sent) >= 1, "its start-up frame")
    sink.write(np.full((48, 64, 3), 255, np.uint8), None)
    backend.wait_for(lambda sent: sent[-1][0] == 235, "the white picture")
    sink.close()
    assert sink.format == "I420"
    assert backend.args["fourcc"] == pyvirtualcam.util.encode_fourcc("I420")
    frames = [f for _, f in backend.sent]
    assert all(f.shape == (64 * 48 * 3 // 2,) and f.dtype == np.uint8 for f in frames)
    assert frames[0][0] == 16 and frames[-1][0] == 235  # black start-up frame, then white

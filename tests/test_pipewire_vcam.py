"""The PipeWire camera end to end: a private PipeWire daemon and WirePlumber (their own
XDG_RUNTIME_DIR, no system service), rtmatte feeding its camera node, and a real consumer,
GStreamer's ``pipewiresrc``, receiving the frames."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import HANG_S, wait_until

from rtmatte.sinks import pipewire, vcam
from rtmatte.sinks.vcam import PIPEWIRE, VirtualCameraSink, choose_backend

_PROGRAMS = ("pipewire", "wireplumber", "dbus-run-session", "pw-dump", "gst-launch-1.0",
             "gst-inspect-1.0")
_ELEMENTS = ("pipewiresrc", "fdsink")


def _missing() -> list[str]:
    missing = [name for name in _PROGRAMS if shutil.which(name) is None]
    if "gst-inspect-1.0" not in missing:
        missing += [element for element in _ELEMENTS if subprocess.run(
            ["gst-inspect-1.0", element], capture_output=True, check=False).returncode != 0]
    return missing


class PrivatePipeWire:
    """A PipeWire daemon and WirePlumber (on a D-Bus session bus of its own, which it needs)
    in a fresh runtime folder; ``env`` is what a client needs to reach them."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.env = {key: value for key, value in os.environ.items()
                    if key not in ("PIPEWIRE_REMOTE", "PIPEWIRE_RUNTIME_DIR",
                                   "DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY")}
        self.env |= {"XDG_RUNTIME_DIR": str(folder), "XDG_CONFIG_HOME": str(folder / "config"),
                     "XDG_STATE_HOME": str(folder / "state")}
        self.processes: list[subprocess.Popen] = []

    def start(self) -> None:
        log = (self.folder / "daemons.log").open("ab")
        options = {"env": self.env, "stdout": log, "stderr": log, "start_new_session": True}
        self.processes.append(subprocess.Popen(["pipewire"], **options))
        wait_until(lambda: self._answers(), "the private PipeWire daemon answering", timeout=60)
        self.processes.append(subprocess.Popen(["dbus-run-session", "--", "wireplumber"],
                                               **options))
        wait_until(lambda: any(o["type"] == "PipeWire:Interface:Client" and
                               o["info"]["props"].get("application.name") == "WirePlumber"
                               for o in self.dump()), "WirePlumber connecting", timeout=60)

    def _answers(self) -> bool:
        for process in self.processes:
            if process.poll() is not None:
                raise AssertionError(f"a daemon exited: {self.log()}")
        return (self.folder / "pipewire-0").exists() and self.dump() is not None

    def dump(self) -> list[dict]:
        done = subprocess.run(["pw-dump"], env=self.env, capture_output=True, check=False)
        return json.loads(done.stdout or "[]") if done.returncode == 0 else []

    def node(self, name: str) -> dict | None:
        for entry in self.dump():
            props = (entry.get("info") or {}).get("props") or {}
            if entry["type"] == "PipeWire:Interface:Node" and props.get("node.name") == name:
                return props
        return None

    def log(self) -> str:
        return (self.folder / "daemons.log").read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        """WirePlumber, then the daemon, each with its own process group (dbus-daemon too)."""
        for process in reversed(self.processes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)
        self.processes.clear()


@pytest.fixture
def private_pipewire() -> Iterator[PrivatePipeWire]:
    if not sys.platform.startswith("linux"):
        pytest.skip("PipeWire cameras are Linux")
    missing = _missing()
    if missing:
        message = f"not installed: {', '.join(missing)} (.ci/run installs them)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    folder = Path(tempfile.mkdtemp(prefix="rtmatte-pw-"))  # short: a socket path's limit
    daemons = PrivatePipeWire(folder)
    try:
        daemons.start()
        yield daemons
    finally:
        daemons.stop()
        shutil.rmtree(folder, ignore_errors=True)


class Consumer:
    """``gst-launch-1.0 pipewiresrc target-object=rtmatte`` writing raw frames (I420, or BGRx)
    to a pipe, each taken with the time it arrived."""

    def __init__(self, env: dict[str, str], size: tuple[int, int], fps: int,
                 frames: int | None = None, fmt: str = "I420") -> None:
        width, height = size
        self.frame_bytes = width * height * 3 // 2 if fmt == "I420" else width * height * 4
        caps = f"video/x-raw,format={fmt},width={width},height={height},framerate={fps}/1"
        limit = [f"num-buffers={frames}"] if frames else []
        self.process = subprocess.Popen(
            ["gst-launch-1.0", "-q", "pipewiresrc", f"target-object={pipewire.NODE_NAME}",
             *limit, "!", caps, "!", "fdsink", "fd=1", "sync=false"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.received: list[tuple[float, np.ndarray]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while len(data := self.process.stdout.read(self.frame_bytes)) == self.frame_bytes:
            self.received.append((time.monotonic(), np.frombuffer(data, np.uint8)))

    def finish(self) -> list[tuple[float, np.ndarray]]:
        """Wait for the consumer to end by itself (``frames`` given) and its frames."""
        self.process.wait(timeout=HANG_S)
        self._reader.join(HANG_S)
        return self.received

    def stop(self) -> list[tuple[float, np.ndarray]]:
        if self.process.poll() is None:
            self.process.terminate()
        return self.finish()


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    error = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if error == 0 else 10 * np.log10(255 ** 2 / error)


def test_live_run_reaches_a_pipewire_consumer(private_pipewire: PrivatePipeWire,
                                              tmp_path: Path) -> None:
    from rtmatte.samples import make_clip

    size, fps = (320, 240), 24
    clip = make_clip(tmp_path / "talk.mp4", frames=48, size=size, fps=fps, audio=False)
    recording = tmp_path / "rec.mp4"
    log = tmp_path / "rtmatte.log"
    # --on-demand: the clip plays only once the consumer is linked; -o records the same run
    # losslessly (--crf 0), so the comparison measures the camera path, not the encoder
    with log.open("wb") as err:
        run = subprocess.Popen(
            [sys.executable, "-m", "rtmatte.cli", str(clip), "--realtime", "--vcam",
             "--vcam-backend", "pipewire", "--on-demand", "--bg", "#00b140", "-o",
             str(recording), "--crf", "0"], env=private_pipewire.env, stderr=err)
    consumer = None
    try:
        def node_up() -> bool:
            if run.poll() is not None:
                raise AssertionError(f"rtmatte exited: {log.read_text()}")
            return private_pipewire.node(pipewire.NODE_NAME) is not None

        wait_until(node_up, "the rtmatte camera node")
        props = private_pipewire.node(pipewire.NODE_NAME)
        # what the camera portal shows an app (WirePlumber's access-portal.lua matches these)
        assert (props["media.class"], props["media.role"]) == ("Video/Source", "Camera")
        assert props["node.description"] == pipewire.NODE_NAME
        consumer = Consumer(private_pipewire.env, size, fps)
        assert run.wait(timeout=HANG_S) == 0, log.read_text()
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        received = consumer.stop() if consumer else []
    assert "virtual camera rtmatte (pipewire)" in log.read_text()

    recorded = [f.to_ndarray(format="yuv420p").ravel()
                for f in av.open(str(recording)).decode(video=0)]
    black = cv2.cvtColor(np.zeros((size[1], size[0], 3), np.uint8),
                         cv2.COLOR_RGB2YUV_I420).ravel()
    playing = [(t, f) for t, f in received if not np.array_equal(f, black)]
    assert len(recorded) >= 24 and playing, (len(recorded), len(received))
    # the camera runs at the run's rate: every tick sends (the newest picture, or the last one
    # again), and a tick comes late only when its thread does; never faster
    span = playing[-1][0] - playing[0][0]
    rate = (len(playing) - 1) / span
    assert span >= 1.0 and 0.75 * fps <= rate <= 1.1 * fps, (rate, span, len(playing))

    pictures = [f for i, (_, f) in enumerate(playing)
                if i == 0 or not np.array_equal(f, playing[i - 1][1])]  # a repeat is the same
    matched = []
    for picture in pictures:
        scores = [_psnr(picture, frame) for frame in recorded]
        best = int(np.argmax(scores))
        assert scores[best] >= 35, (best, scores[best])
        matched.append(best)
    # in the run's order, each recorded frame at most once; a camera keeps the newest picture
    # at each tick, so a burst of frames delivered within one tick shows its last only
    assert matched == sorted(set(matched)), matched
    assert len(matched) >= len(recorded) // 3, (len(matched), len(recorded))


def test_viewers_and_a_daemon_restart(private_pipewire: PrivatePipeWire, monkeypatch,
                                      tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(vcam, "_SYS_V4L", tmp_path)  # as on a machine without v4l2loopback
    for key in ("PIPEWIRE_REMOTE", "PIPEWIRE_RUNTIME_DIR"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", private_pipewire.env["XDG_RUNTIME_DIR"])
    assert choose_backend(None, None, loops=[])[0] == PIPEWIRE  # no loopback: PipeWire's turn
    assert choose_backend(None, None, loops=[("/dev/video10", "rtmatte")])[0] == "v4l2loopback"
    size, fps = (320, 240), 30
    said: list[str] = []  # what the run's notify hears (--quiet: nothing is said)
    sink = VirtualCameraSink(*size, fps, on_demand=True, backend=None, notify=said.append)

    def told(words: str) -> bool:
        return any(words in line for line in said)

    try:
        assert (sink.backend, sink.device, sink.format) == (PIPEWIRE, "rtmatte", "I420")
        assert sink.on_demand
        first = np.zeros((size[1], size[0], 3), np.uint8)
        first[:, :, 0] = np.linspace(0, 255, size[0], dtype=np.uint8)
        sink.write(first)
        wait_until(lambda: not sink.watched, "nobody watching seen")
        staying = Consumer(private_pipewire.env, size, fps)
        wait_until(lambda: sink.watched, "the viewer seen")
        passing = Consumer(private_pipewire.env, size, fps, frames=5)  # two apps at once
        frames = [f for _, f in passing.finish()]
        assert len(frames) == 5
        assert np.array_equal(frames[-1], cv2.cvtColor(first, cv2.COLOR_RGB2YUV_I420).ravel())
        wait_until(lambda: len(staying.received) > 5, "the first viewer still served")
        assert sink.watched  # one viewer left: still watched
        staying.stop()
        wait_until(lambda: not sink.watched, "the last viewer's leaving seen")

        private_pipewire.stop()
        wait_until(lambda: told("PipeWire connection lost"), "the loss said")
        assert not sink.watched
        private_pipewire.start()
        wait_until(lambda: told("PipeWire is back:"), "the reconnection said")
        second = np.full((size[1], size[0], 3), 200, np.uint8)
        sink.write(second)
        wait_until(lambda: private_pipewire.node(pipewire.NODE_NAME) is not None,
                   "the node back")
        frames = [f for _, f in Consumer(private_pipewire.env, size, fps, frames=3).finish()]
        assert len(frames) == 3
        assert np.array_equal(frames[-1], cv2.cvtColor(second, cv2.COLOR_RGB2YUV_I420).ravel())
    finally:
        sink.close()
    lines = [line for line in said if "PipeWire" in line]
    assert len(lines) == 2, lines
    assert capsys.readouterr().err == ""  # library code prints nothing


def test_doctor_and_the_cli_say_which_backend(private_pipewire: PrivatePipeWire, monkeypatch,
                                              tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    from rtmatte import cli
    from rtmatte.diagnostics import doctor
    from rtmatte.samples import make_clip

    monkeypatch.setattr(doctor, "_V4L", tmp_path / "no-video4linux")
    monkeypatch.setattr(vcam, "_SYS_V4L", tmp_path / "no-video4linux")
    monkeypatch.setenv("XDG_RUNTIME_DIR", private_pipewire.env["XDG_RUNTIME_DIR"])
    said = [c.detail for c in doctor.check_virtual_camera()]
    assert any(line.startswith("--vcam uses pipewire: no v4l2loopback device, and a PipeWire "
                               "daemon answers") for line in said), said
    clip = make_clip(tmp_path / "talk.mp4", frames=4, size=(64, 48), fps=24, audio=False)
    capsys.readouterr()
    # --vcam alone picks the PipeWire camera here (no v4l2loopback), and says so and why
    assert cli.main([str(clip), "--realtime", "--vcam", "--bg", "blur"]) == 0
    err = capsys.readouterr().err
    assert "rtmatte: --vcam uses PipeWire: no v4l2loopback device" in err, err
    assert "virtual camera rtmatte (pipewire)" in err, err
    private_pipewire.stop()
    said = [c.detail for c in doctor.check_virtual_camera()]
    assert "--vcam uses v4l2loopback: no v4l2loopback device, and no PipeWire daemon answers" \
        in said, said
    capsys.readouterr()
    code = cli.main([str(clip), "--realtime", "--vcam", "--vcam-backend", "pipewire",
                     "--bg", "blur", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "--vcam-backend pipewire: no PipeWire daemon answers" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_a_width_i420_rows_cannot_carry_goes_out_as_bgrx(private_pipewire: PrivatePipeWire,
                                                         monkeypatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", private_pipewire.env["XDG_RUNTIME_DIR"])
    size = (90, 50)  # 45-byte chroma rows: consumers would read them at 48
    sink = VirtualCameraSink(*size, 30.0, backend="pipewire")
    try:
        assert sink.format == "BGRx"
        picture = np.random.default_rng(1).integers(0, 256, (size[1], size[0], 3), np.uint8)
        sink.write(picture)
        wait_until(lambda: private_pipewire.node(pipewire.NODE_NAME) is not None, "the node")
        frames = [f for _, f in Consumer(private_pipewire.env, size, 30, frames=3,
                                         fmt="BGRx").finish()]
    finally:
        sink.close()
    assert len(frames) == 3
    assert np.array_equal(frames[-1].reshape(size[1], size[0], 4)[:, :, 2::-1], picture)

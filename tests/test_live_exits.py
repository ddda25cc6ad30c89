"""How a live run ends, from the command line: Ctrl-C and SIGTERM finalize the recording and
still exit 130 / 143, a bug exits 1 and says to rerun with --debug, two runs to one output never
replace each other's recording, and a live-only flag on a file run is refused, not ignored.

Every signal is sent on an event (the recording has frames in it), never after a sleep, and the
clips play for far longer than any of these runs lasts, so no run can end before its signal.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from rtmatte import api
from rtmatte.cli import main
from rtmatte.samples import make_clip

FPS = 12
LONG_FRAMES = 40 * FPS  # 40 s of playback: every run here is stopped long before its end
#: the threads of a live run (rtmatte.run.live, rtmatte.sources.realtime, rtmatte.run.lookahead)
_RUN_THREADS = {"live", "matte", "output", "capture", "model"}


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("live-exits") / "long.mp4", frames=LONG_FRAMES,
                     size=(160, 120), fps=FPS, audio=False)


def start_live(clip: Path, out: Path, *extra: str) -> subprocess.Popen:
    """``rtmatte CLIP --realtime -o OUT`` in its own process, with Ctrl-C delivered as a
    terminal would (a test runner started in the background has SIGINT ignored, and a child
    inherits that)."""
    return subprocess.Popen(
        [sys.executable, "-m", "rtmatte.cli", str(clip), "--realtime", "-o", str(out), *extra],
        stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_until_recording(folder: Path, processes: list[subprocess.Popen],
                         count: int = 1) -> None:
    """Return once ``count`` runs have frames in their staged recording in ``folder``."""
    while True:
        if sum(_size(p) > 0 for p in folder.glob(".rtmatte-partial-*/*")) >= count:
            return
        for process in processes:
            assert process.poll() is None, process.communicate()[1]
        time.sleep(0.05)  # a poll interval: what is waited for is the file, not the time


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # gone between the listing and the look
        return 0


def frames_in(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def mean_colour(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        first = next(container.decode(video=0)).to_ndarray(format="rgb24")
    return first.reshape(-1, 3).mean(axis=0)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_finalizes_the_recording_and_exits_like_a_file_run(long_clip, tmp_path,
                                                                      signum, code):
    out = tmp_path / "rec.mp4"
    process = start_live(long_clip, out, "--bg", "#00b140")
    wait_until_recording(tmp_path, [process])
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    assert "Traceback" not in err
    assert "finalized" in err.splitlines()[-1]
    assert 0 < frames_in(out) < LONG_FRAMES
    assert list(tmp_path.iterdir()) == [out]  # no staging folder left


def test_a_bug_exits_1_and_says_to_rerun_with_debug(long_clip, tmp_path, capsys, monkeypatch):
    """A caller's sink (``api.open_live(sinks=...)``) that fails mid-run is a bug, not bad input:
    exit 1 with one line pointing at --debug, the recording so far still finalized, every
    thread stopped."""

    class Broken:
        def __init__(self) -> None:
            self.frames = 0

        def write(self, picture, frame, matte=None) -> None:
            self.frames += 1
            if self.frames == 3:
                raise ZeroDivisionError("a bug in the third frame")

        def close(self) -> None:
            pass

        def abort(self) -> None:
            pass

    opened = api.open_live
    monkeypatch.setattr(api, "open_live", lambda *a, **k: opened(*a, sinks=[Broken()], **k))
    out = tmp_path / "rec.mp4"
    assert main([str(long_clip), "--realtime", "--bg", "blur", "-o", str(out), "--quiet"]) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "rerun with --debug" in lines[0], lines
    assert "ZeroDivisionError" in lines[0] and "Traceback" not in lines[0]
    assert 0 < frames_in(out) < LONG_FRAMES
    assert list(tmp_path.iterdir()) == [out]
    assert not [t.name for t in threading.enumerate() if t.name in _RUN_THREADS]
    with pytest.raises(ZeroDivisionError):
        main([str(long_clip), "--realtime", "--bg", "blur", "-o", str(tmp_path / "b.mp4"),
              "--quiet", "--debug"])


def test_a_second_run_to_an_existing_recording_is_refused(long_clip, tmp_path, capsys):
    out = tmp_path / "rec.mp4"
    out.write_bytes(b"the first run's recording")
    assert main([str(long_clip), "--realtime", "-o", str(out), "--quiet"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"the first run's recording"
    assert list(tmp_path.iterdir()) == [out]


def test_two_runs_to_one_output_never_replace_each_others_recording(long_clip, tmp_path):
    """Both start before either finishes, so both pass the check at the start: the one that
    finishes second must not replace the first's file. It exits 2 and keeps its own recording
    beside it, under a name it says."""
    out = tmp_path / "rec.mp4"
    green = start_live(long_clip, out, "--bg", "#00ff00", "--quiet")
    blue = start_live(long_clip, out, "--bg", "#0000ff", "--quiet")
    wait_until_recording(tmp_path, [green, blue], count=2)
    for process in (green, blue):
        process.send_signal(signal.SIGTERM)
    errors = {}
    for name, process in (("green", green), ("blue", blue)):
        errors[name] = process.communicate(timeout=60)[1]
    codes = {green.returncode, blue.returncode}
    assert codes == {143, 2}, errors
    first, second = ("green", "blue") if green.returncode == 143 else ("blue", "green")
    kept = tmp_path / "rec-2.mp4"
    assert str(kept) in errors[second] and "--overwrite" in errors[second]
    assert sorted(tmp_path.iterdir()) == [kept, out]
    channel = {"green": 1, "blue": 2}
    # each file holds its own run's pictures: the background's colour dominates
    assert np.argmax(mean_colour(out)) == channel[first]
    assert np.argmax(mean_colour(kept)) == channel[second]


@pytest.mark.parametrize("flag", [["--delay", "3"], ["--matte-every", "2"], ["--fps", "30"],
                                  ["--size", "640x480"], ["--no-crop"], ["--no-adapt"]])
def test_a_live_only_flag_on_a_file_run_is_refused(sample_clip, tmp_path, capsys, flag):
    out = tmp_path / "o.mp4"
    assert main([str(sample_clip), "-o", str(out), *flag, "--quiet"]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and flag[0] in lines[0] and "--realtime" in lines[0], lines
    assert list(tmp_path.iterdir()) == []

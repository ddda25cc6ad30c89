"""Shared fixtures: the real model (fetched as a user's machine would) and real clips."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from rtmatte.cli import main
from rtmatte.matting.models.fetch import ensure_model
from rtmatte.samples import clip_frame, make_clip

CLIP_FRAMES = 24
CLIP_SIZE = (320, 240)
CLIP_FPS = 24

#: only a bound on a run that hangs: every wait in the tests ends on an event (a file written,
#: a frame sent, the process gone), however slow the machine
HANG_S = 600


@pytest.fixture(scope="session")
def model_file() -> Path:
    return ensure_model("rvm-mobilenetv3")


@pytest.fixture(scope="session")
def sample_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-second 320x240 H.264 clip of the astronaut portrait with a stereo AAC track."""
    path = tmp_path_factory.mktemp("clips") / "talk.mp4"
    return make_clip(path, frames=CLIP_FRAMES, size=CLIP_SIZE, fps=CLIP_FPS)


@pytest.fixture(scope="session")
def background_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import cv2

    from rtmatte.samples import sunset_background

    path = tmp_path_factory.mktemp("bg") / "beach.jpg"
    cv2.imwrite(str(path), cv2.cvtColor(sunset_background(400, 300), cv2.COLOR_RGB2BGR))
    return path


def decode_rgb(path: Path, codec: str | None = None, fmt: str = "rgb24") -> list[np.ndarray]:
    """Every frame of the first video stream; ``codec`` forces a decoder (e.g. libvpx-vp9)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if codec is None:
            return [f.to_ndarray(format=fmt) for f in container.decode(stream)]
        decoder = av.CodecContext.create(codec, "r")
        frames = []
        for packet in container.demux(stream):
            for frame in decoder.decode(packet if packet.size else None):
                frames.append(frame.to_ndarray(format=fmt))
        return frames


def stream_summary(path: Path) -> dict:
    """Frame counts, pts and durations of each stream, read by demuxing (no trust in headers)."""
    summary: dict = {"video_pts": [], "audio_packets": 0, "audio_seconds": 0.0}
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        summary["time_base"] = video.time_base
        summary["size"] = (video.codec_context.width, video.codec_context.height)
        summary["audio_streams"] = len(container.streams.audio)
        for packet in container.demux():
            if packet.size == 0:
                continue
            if packet.stream.type == "video":
                summary["video_pts"].append(packet.pts)
            elif packet.stream.type == "audio":
                summary["audio_packets"] += 1
                summary["audio_seconds"] += float((packet.duration or 0) * packet.time_base)
    summary["video_pts"].sort()
    summary["frames"] = len(summary["video_pts"])
    return summary


def seconds_of(pts: list[int], time_base: Fraction) -> list[float]:
    return [float(p * time_base) for p in pts]


def region_means(alpha: np.ndarray) -> tuple[float, float]:
    """Mean alpha on the person (the orange suit) and on the background (wall corner and flag) of
    a frame showing the sample portrait (``rtmatte.samples``), at any size."""
    height, width = alpha.shape[:2]

    def box(x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
        return alpha[int(y0 * height):int(y1 * height), int(x0 * width):int(x1 * width)]

    person = box(0.15, 0.4, 0.6, 0.9)
    background = np.concatenate([box(0.88, 0.98, 0.02, 0.15).ravel(),
                                 box(0.0, 0.06, 0.15, 0.45).ravel()])
    return float(person.mean()), float(background.mean())


def run_side_by_side(first, second, frames: int, width: int, height: int, ratio: float):
    """Two backends on the same frames of the sample clip, each carrying its own state.

    Returns the ((alpha, fgr), (ref_alpha, ref_fgr)) pairs of every frame and both final states.
    """
    states = [first.initial_state(), second.initial_state()]
    pairs = []
    for index in range(frames):
        rgb = clip_frame(index, frames, width, height)
        alpha, fgr, states[0] = first.infer(rgb, states[0], ratio)
        ref_alpha, ref_fgr, states[1] = second.infer(rgb, states[1], ratio)
        pairs.append(((alpha, fgr), (ref_alpha, ref_fgr)))
    return pairs, states


@pytest.fixture(scope="session")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """25 s of video: far longer than any run lasts before the signal a test sends it."""
    return make_clip(tmp_path_factory.mktemp("long") / "long.mp4", frames=600, size=(320, 240),
                     fps=24)


def start_as_from_terminal(command: list[str], **options) -> subprocess.Popen:
    """The command in its own process, taking Ctrl-C as from a terminal (a test runner started
    in the background has SIGINT ignored, and a child would inherit that)."""
    return subprocess.Popen(command, preexec_fn=lambda: signal.signal(signal.SIGINT,
                                                                      signal.SIG_DFL), **options)


def wait_until(ready: Callable[[], bool], what: str, timeout: float = HANG_S) -> None:
    """Return once ``ready()`` is true; ``timeout`` only bounds a hang (a poll, not a sleep
    that hopes the event happened meanwhile)."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} never happened")
        time.sleep(0.02)


def wait_for_staging(folder: Path, process: subprocess.Popen) -> None:
    """Return once a staged file in ``folder`` has bytes in it (the job is writing)."""

    def writing() -> bool:
        for staged in folder.glob(".rtmatte-partial-*/*"):
            try:
                if staged.stat().st_size > 0:
                    return True
            except OSError:  # gone between the listing and the look
                continue
        assert process.poll() is None, process.communicate()
        return False

    wait_until(writing, "the job writing its output")


def run(*args: str | Path) -> int:
    """The command line in this process, quiet: its exit code."""
    return main([str(a) for a in args] + ["--quiet"])


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The one line a refusal printed (no traceback, no 'unexpected error')."""
    err = capsys.readouterr().err
    assert "Traceback" not in err and "unexpected error" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def everything_under(folder: Path) -> list[str]:
    """Every name under ``folder``, hidden ones (staging folders) too."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@contextmanager
def tmpfs(path: Path, options: str) -> Iterator[Path]:
    """A small tmpfs mounted at ``path`` with mount ``options`` ('size=64k', 'ro,size=16k'):
    a real full disk, or one that cannot be written. Needs root; skips the test otherwise."""
    path.mkdir(exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium driven by Playwright (its own browser download is blocked).
    A machine without it fails the browser tests rather than skipping them: CI installs it."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.fail("Debian's chromium is needed for the browser tests (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True)
        yield launched
        launched.close()

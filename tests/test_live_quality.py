"""The live path's matte against exact ground truth: what carrying the matte by motion buys over
holding it, and carrying it from both sides (``--delay``) over carrying it forward, on a clip
where the person and the background both move (the real model)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from rtmatte.compose.background_switch import BackgroundSwitch
from rtmatte.evaluation.material import ClipFrame, ClipSpec, render_clip
from rtmatte.evaluation.metrics import ClipScores
from rtmatte.evaluation.variants import load_person_layer
from rtmatte.matting.adaptive import LivePacer
from rtmatte.matting.backends.onnx import OnnxBackend
from rtmatte.matting.carry import MotionCarry
from rtmatte.matting.matter import Matter
from rtmatte.matting.models.fetch import ensure_model
from rtmatte.post import PostChain
from rtmatte.run.live import LiveRunner
from rtmatte.sources.realtime import RealtimeFileReader
from rtmatte.types import Frame, Matte

SIZE = (320, 240)
FPS = 24
#: the person crosses the frame while the camera pans behind her: held alpha lags both ways
WALK = ClipSpec("walk-pan", "rocket",
                ((0.0, -0.2, 0.0, 1.0), (1.0, 0.2, 0.0, 1.05)),
                scene=((0.0, -0.1, 0.0, 1.1), (1.0, 0.1, 0.02, 1.15)))


@pytest.fixture(scope="module")
def clip() -> list[ClipFrame]:
    return list(render_clip(WALK, load_person_layer(), 24, SIZE))


@pytest.fixture(scope="module")
def backend() -> OnnxBackend:
    return OnnxBackend(ensure_model("rvm-mobilenetv3"))


def scores(alphas: list[tuple[int, np.ndarray]], clip: list[ClipFrame]) -> dict[str, float]:
    result = ClipScores()
    for index, alpha in alphas:
        result.add(alpha, clip[index].alpha, spatial=False)
    return result.summary()


def matte_clip(backend: OnnxBackend, clip: list[ClipFrame], every: int, carry: bool,
               ratio: float | None = None) -> dict[str, float]:
    """LivePacer fed the clip frame by frame at a fixed size, the model on every ``every``-th."""
    matter = LivePacer(Matter(backend, downsample_ratio=ratio), PostChain(), 1 / FPS,
                        adapt=False, every=every, carry=carry)
    return scores([(i, matter(f.rgb).alpha) for i, f in enumerate(clip)], clip)


def test_carrying_by_motion_beats_holding_the_alpha(backend: OnnxBackend,
                                                     clip: list[ClipFrame]) -> None:
    every_frame = matte_clip(backend, clip, 1, carry=False)
    held = matte_clip(backend, clip, 2, carry=False)
    carried = matte_clip(backend, clip, 2, carry=True)
    # measured at 320x240 (docs/live-cpu.md): held alpha ~2.5x the every-frame dtSSD, carried
    # within ~1.3x of it; the bounds leave room for another engine or CPU
    assert carried["dtssd"] < 0.6 * held["dtssd"]
    assert carried["mad"] < 0.8 * held["mad"]
    assert carried["dtssd"] < 1.6 * every_frame["dtssd"]
    assert carried["mad"] < 1.4 * every_frame["mad"]


class _Recorder:
    def __init__(self) -> None:
        self.alphas: list[tuple[int, np.ndarray]] = []

    def write(self, picture: np.ndarray, frame: Frame, matte: Matte | None) -> None:
        assert matte is not None
        self.alphas.append((frame.index, matte.alpha.copy()))

    def close(self) -> None:
        return None

    def abort(self) -> None:
        return None


@pytest.fixture(scope="module")
def clip_file(clip: list[ClipFrame], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The clip as a near-lossless H.264 file, for the live path to play in real time."""
    path = tmp_path_factory.mktemp("live") / "walk.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(FPS))
        stream.width, stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "8", "preset": "veryfast"}
        for frame in clip:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame.rgb, "rgb24")))
        container.mux(stream.encode())
    return path


def test_live_path_carries_the_matte_on_time(backend: OnnxBackend, clip: list[ClipFrame],
                                             clip_file: Path) -> None:
    """Through the live runner in real time, every 2nd frame carried: each delivered matte is
    scored against the exact alpha of its own frame, so a carried matte that lags shows."""
    recorder = _Recorder()
    # ratio 0.5: a model run small enough to keep up on a busy 2-core machine
    matter = LivePacer(Matter(backend, downsample_ratio=0.5), PostChain(), 1 / FPS,
                        adapt=False, every=2)
    LiveRunner(RealtimeFileReader(clip_file), matter, BackgroundSwitch(["#00b140"]),
               [recorder]).run()
    assert len(recorder.alphas) >= len(clip) // 3
    live = scores(recorder.alphas, clip)
    offline = matte_clip(backend, clip, 1, carry=False, ratio=0.5)
    # measured 1.13x and 1.16x; the alpha held instead of carried gives 2.2x and 2.7x
    assert live["mad"] < 1.35 * offline["mad"]
    assert live["dtssd"] < 1.45 * offline["dtssd"]


def test_carrying_from_both_sides_beats_carrying_forward(backend: OnnxBackend,
                                                         clip: list[ClipFrame]) -> None:
    """What ``--delay`` buys: a frame between two model frames carried from both of them
    against carried from the earlier one alone, the model on every 3rd frame."""
    matter = LivePacer(Matter(backend), PostChain(), 1 / FPS, adapt=False, every=3)
    matter.start(clip[0].rgb.shape)
    carry = MotionCarry()
    keys = {i: carry.keyframe(clip[i].rgb, matter.fresh_matte(clip[i].rgb))
            for i in range(0, len(clip), 3)}
    forward, both = [], []
    for index, frame in enumerate(clip):
        before = index - index % 3
        if index == before or before + 3 not in keys:
            continue
        grey = carry.grey(frame.rgb)
        forward.append((index, carry.carry(grey, keys[before]).alpha))
        both.append((index, carry.between(grey, keys[before], keys[before + 3],
                                          (index - before) / 3).alpha))
    forward_scores, both_scores = scores(forward, clip), scores(both, clip)
    # measured MAD 0.81x and dtSSD 0.71x of carrying forward (dtSSD here is between
    # consecutive carried frames, which skip the model frames)
    assert both_scores["mad"] < 0.95 * forward_scores["mad"]
    assert both_scores["dtssd"] < 0.85 * forward_scores["dtssd"]


def test_live_path_with_a_delay_hands_every_frame_on_in_order_and_late(
        backend: OnnxBackend, clip: list[ClipFrame], clip_file: Path) -> None:
    """``--delay 4``: frames come out in capture order, none before its capture time plus the
    delay, with a matte as good as the in-path one's bounds."""
    recorder = _Recorder()
    matter = LivePacer(Matter(backend, downsample_ratio=0.5), PostChain(), 1 / FPS,
                        adapt=False, every=2, delay=4)
    result = LiveRunner(RealtimeFileReader(clip_file), matter, BackgroundSwitch(["#00b140"]),
                        [recorder]).run()
    indices = [index for index, _ in recorder.alphas]
    assert indices == sorted(set(indices))
    assert len(indices) >= len(clip) // 3
    assert result.delay == 4
    assert min(latency for _, latency in result.latencies) >= 4 / FPS - 1e-3
    live = scores(recorder.alphas, clip)
    offline = matte_clip(backend, clip, 1, carry=False, ratio=0.5)
    # measured 1.09x and 0.99x (without the delay: 1.13x and 1.16x); a frame whose next model
    # frame comes too late is carried forward instead, as without the delay
    assert live["mad"] < 1.3 * offline["mad"]
    assert live["dtssd"] < 1.25 * offline["dtssd"]

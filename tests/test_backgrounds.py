"""Backgrounds: video backgrounds looping on exact time, cut-off background videos, colours."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from rtmatte.compose.backgrounds import ColourBackground, VideoBackground, parse_background
from rtmatte.compose.colours import parse_colour
from rtmatte.errors import BackgroundError, StreamError
from rtmatte.sources.file import VideoSource
from rtmatte.types import Frame

SIZE = (96, 64)  # width, height
#: frame k of a numbered clip has its lower half at grey level LEVEL0 + STEP * k
LEVEL0, STEP = 4, 4


def _write_numbered(path: Path, frames: int, rate: Fraction, time_base: Fraction) -> Path:
    """A clip whose frame k shows grey level 4 + 4k below a strip of noise.

    The noise makes each frame a packet of real size, so a cut through the file's bytes falls
    part way through the stream as it would in a long video.
    """
    rng = np.random.default_rng(7)
    width, height = SIZE
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = time_base
        for k in range(frames):
            rgb = np.full((height, width, 3), LEVEL0 + STEP * k, np.uint8)
            rgb[: height // 2] = rng.integers(0, 256, (height // 2, width, 3), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = round(k / (rate * time_base))
            frame.time_base = time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def _number(picture: np.ndarray) -> int:
    """Which frame of a numbered clip ``picture`` shows."""
    lower = picture[picture.shape[0] * 3 // 4:]
    return round((float(lower.mean()) - LEVEL0) / STEP)


def _input_frame(pts: int, time_base: Fraction) -> Frame:
    width, height = SIZE
    return Frame(rgb=np.zeros((height, width, 3), np.uint8), index=0, pts=pts,
                 time_base=time_base)


ALPHA = np.zeros(SIZE[::-1], np.float32)


@pytest.mark.parametrize(
    ("name", "bg_rate", "bg_time_base", "bg_frames", "in_rate", "in_time_base"),
    [
        ("bg.mp4", Fraction(25), Fraction(1, 12800), 25, Fraction(25), Fraction(1, 90000)),
        ("bg.mp4", Fraction(25), Fraction(1, 12800), 25, Fraction(50), Fraction(1, 90000)),
        # MPEG-TS: time base 1/90000 and timestamps that start at 1.4 s, not 0
        ("bg.ts", Fraction(30), Fraction(1, 90000), 30, Fraction(30), Fraction(1, 90000)),
        ("bg.mp4", Fraction(24000, 1001), Fraction(1, 24000), 24,
         Fraction(24000, 1001), Fraction(1, 120000)),
    ],
)
def test_looping_video_background_shows_the_frame_that_is_due(
        tmp_path, name, bg_rate, bg_time_base, bg_frames, in_rate, in_time_base) -> None:
    clip = _write_numbered(tmp_path / name, bg_frames, bg_rate, bg_time_base)
    with VideoSource(clip) as source:
        assert [_number(frame.rgb) for frame in source] == list(range(bg_frames))
    background = VideoBackground(clip)
    ticks = in_time_base ** -1 / in_rate
    assert ticks.denominator == 1
    shown, due = [], []
    for i in range(int(3 * in_rate)):  # 3 s of input behind a background of about 1 s
        shown.append(_number(background.render(_input_frame(i * int(ticks), in_time_base),
                                               ALPHA)))
        due.append(math.floor(i / in_rate * bg_rate) % bg_frames)
    assert shown == due


def test_video_background_begins_with_each_input_whatever_its_first_timestamp(tmp_path) -> None:
    clip = _write_numbered(tmp_path / "bg.mp4", 25, Fraction(25), Fraction(1, 12800))
    background = VideoBackground(clip)
    time_base = Fraction(1, 90000)
    shown = [_number(background.render(_input_frame(i * 3600, time_base), ALPHA))
             for i in range(30)]
    assert shown == [i % 25 for i in range(30)]
    background.restart()
    start = 126000  # an MPEG-TS input: its first frame is at 1.4 s
    shown = [_number(background.render(_input_frame(start + i * 3600, time_base), ALPHA))
             for i in range(5)]
    assert shown == [0, 1, 2, 3, 4]


def _cut(path: Path, share: float) -> Path:
    data = path.read_bytes()
    cut = path.with_name(f"cut_{path.name}")
    cut.write_bytes(data[: int(len(data) * share)])
    return cut


def test_cut_off_background_video_says_so_once_and_loops_what_can_be_read(tmp_path) -> None:
    clip = _write_numbered(tmp_path / "office.mkv", 60, Fraction(30), Fraction(1, 1000))
    cut = _cut(clip, 0.6)
    readable = []
    with VideoSource(cut) as source, pytest.raises(StreamError):
        for frame in source:  # what VideoSource does with it: frames, then StreamError
            readable.append(_number(frame.rgb))
    count = len(readable)
    assert 10 < count < 50 and readable == list(range(count))

    messages: list[str] = []
    background = parse_background(str(cut), notify=messages.append)
    assert isinstance(background, VideoBackground)
    # the input is a 30 fps Matroska file too: timestamps on the same millisecond grid
    time_base = Fraction(1, 1000)
    for _ in range(2):  # two inputs in a row: restart does not say it again
        background.restart()
        shown = [_number(background.render(_input_frame(round(i * 1000 / 30), time_base),
                                           ALPHA)) for i in range(3 * count)]
        assert shown == [i % count for i in range(3 * count)]
    assert messages == [f"background video {cut} is cut off after {count} frames (of 60); "
                        "looping the part that can be read"]


def test_background_video_with_no_readable_frame_is_refused(tmp_path) -> None:
    clip = _write_numbered(tmp_path / "office.mkv", 60, Fraction(30), Fraction(1, 1000))
    cut = _cut(clip, 0.02)  # the header and part of the first frame
    with VideoSource(cut) as source:
        assert list(source) == []
    with pytest.raises(BackgroundError, match="no frame that can be read"):
        VideoBackground(cut)
    with pytest.raises(BackgroundError, match="no frame that can be read"):
        parse_background(str(cut), notify=print)


@pytest.mark.parametrize("spec", ["#0x1234", "#12345", "#ggg", "# 123", "#+12", "#1_2",
                                  "#0x12", "#-12", "#1234567", "#", "#１２３"])
def test_malformed_hex_colours_are_refused_with_how_to_write_one(spec) -> None:
    with pytest.raises(BackgroundError, match="#rrggbb or #rgb"):
        parse_colour(spec)
    with pytest.raises(BackgroundError, match="#rrggbb or #rgb"):
        parse_background(spec)


@pytest.mark.parametrize(("spec", "rgb"), [
    ("#00b140", (0, 177, 64)), ("#00B140", (0, 177, 64)), ("#fff", (255, 255, 255)),
    ("#A1c", (170, 17, 204)), (" #123456 ", (18, 52, 86)), ("navy", (20, 30, 80)),
    ("Green", (0, 177, 64)),
])
def test_hex_and_named_colours_are_accepted(spec, rgb) -> None:
    assert parse_colour(spec) == rgb
    background = parse_background(spec)
    assert isinstance(background, ColourBackground) and background.rgb == rgb


def test_text_that_is_no_colour_is_left_to_the_other_kinds(tmp_path) -> None:
    assert parse_colour("office.jpg") is None
    with pytest.raises(BackgroundError, match="no such file"):
        parse_background(str(tmp_path / "office.jpg"))

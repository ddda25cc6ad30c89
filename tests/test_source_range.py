"""A ranged read of a video file: what a cluster worker decodes for its chunk. The frames from a
time range must be the whole read's frames at those times, bit for bit, even where the range
starts between keyframes (the decoder seeks to the keyframe before and skips up to the start)."""

from __future__ import annotations

import numpy as np
import pytest

from rtmatte.samples import make_clip
from rtmatte.sources.file import VideoSource

SIZE = (96, 64)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    # a keyframe every 10 frames, so a range from frame 13 starts 3 frames past one
    return make_clip(tmp_path_factory.mktemp("range") / "clip.mp4", frames=40, size=SIZE,
                     fps=25, audio=False, keyframe_every=10)


def _whole(clip):
    with VideoSource(clip) as source:
        return list(source)


def test_a_range_between_keyframes_is_the_whole_reads_frames(clip):
    whole = _whole(clip)
    start, stop = whole[13].pts, whole[27].pts
    with VideoSource(clip, start=start, stop=stop) as source:
        part = list(source)
    assert [f.pts for f in part] == [f.pts for f in whole[13:27]]
    assert [f.index for f in part] == list(range(14))
    for got, want in zip(part, whole[13:27], strict=True):
        assert np.array_equal(got.rgb, want.rgb)


def test_a_range_without_a_stop_runs_to_the_end(clip):
    whole = _whole(clip)
    with VideoSource(clip, start=whole[31].pts) as source:
        part = list(source)
    assert [f.pts for f in part] == [f.pts for f in whole[31:]]
    assert np.array_equal(part[-1].rgb, whole[-1].rgb)

"""One long video split into chunks and joined, without Ray: the chunk, seam and join steps a
cluster worker and the driver run, called here in one process on a small real clip.

The join must give every frame the unsplit run's exact timestamp (a segment container that
rounds its start must not move the frames after a join), and the mattes must be the unsplit
run's: a chunk's head is made from the state the chunk before it really ended with, and its
body is kept only where the chunk's own run has caught up with that state.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import decode_rgb, stream_summary

from rtmatte import api
from rtmatte.cluster.chunks import join_segments, matte_chunk, matte_seam, plan_chunks
from rtmatte.cluster.handoff import AGREE, Handoff
from rtmatte.run.offline import Job
from rtmatte.samples import clip_frame, make_clip
from rtmatte.settings import load_settings

SIZE = (160, 120)


def _settings(bg: str):
    return load_settings(overrides={"backend": "onnx", "bg": bg})


def _split_and_join(source: Path, target: Path, settings, warmup: float, head: float):
    """Every chunk, then every seam (in order, as the driver would once both chunks are done),
    then the join; returns the plan and the seams' reports."""
    plan = plan_chunks(source, target, 0.6, "test", warmup, head)
    assert plan is not None
    job = Job(settings)
    for chunk in plan.chunks:
        matte_chunk(job, chunk)
    reports = []
    for chunk in plan.chunks[1:]:
        result = matte_seam(job, chunk, plan.chunks[chunk.number - 1].end)
        reports.append(result.stages["seam"])
    assert plan.complete
    join_segments(plan, overwrite=False)
    return plan, reports


@pytest.mark.parametrize("suffix", [".mov", ".mp4"])
def test_the_join_keeps_every_timestamp_and_the_unsplit_mattes(tmp_path, suffix):
    # 30 fps with a keyframe every 10 frames: the chunks start at 1/3 s and 2/3 s, times a
    # millisecond clock cannot hold (a QuickTime edit list rounded them by 10 ticks of 1/15360)
    source = make_clip(tmp_path / "long.mp4", frames=60, size=SIZE, fps=30, keyframe_every=10)
    settings = _settings("transparent" if suffix == ".mov" else "#00b140")
    api.process(source, tmp_path / f"whole{suffix}", settings=settings)
    plan, reports = _split_and_join(source, tmp_path / f"split{suffix}", settings, 0.3, 0.2)
    assert [c.start_pts * c.time_base for c in plan.chunks] == [0, Fraction(2, 3), Fraction(4, 3)]

    whole = stream_summary(tmp_path / f"whole{suffix}")
    split = stream_summary(tmp_path / f"split{suffix}")
    assert split["time_base"] == whole["time_base"]
    assert split["frames"] == whole["frames"] == 60
    assert split["video_pts"] == whole["video_pts"]  # every one, exactly
    assert split["audio_packets"] == whole["audio_packets"] > 0
    assert not plan.folder.exists()
    if suffix != ".mov":
        return
    alpha_whole = np.stack(decode_rgb(tmp_path / "whole.mov", fmt="rgba"))[..., 3] / 255.0
    alpha_split = np.stack(decode_rgb(tmp_path / "split.mov", fmt="rgba"))[..., 3] / 255.0
    error = np.abs(alpha_whole - alpha_split).mean(axis=(1, 2))
    # the first chunk, the next one's head and the pieces its seam made again ran from the real
    # state: the unsplit run's own frames; later ones were kept where the states agreed
    second, report = plan.chunks[1], reports[0]
    exact = sum(plan.chunks[0].counts) + second.head_frames + sum(
        second.counts[:report["pieces_redone"]])
    assert error[:exact].max() == 0.0
    assert error.max() <= 0.01, error.round(4).tolist()
    for seam in reports:  # redone while the states were apart, kept from the first agreement
        apart = seam["gaps"][:seam["pieces_redone"]]
        assert all(gap > AGREE for gap in apart)
        assert seam["redone"] or seam["gaps"][-1] <= AGREE


def test_a_seam_that_agrees_keeps_the_body_and_a_new_state_asks_for_a_new_head(tmp_path):
    """A still shot: the chunk's own run reaches the real state within its warm-up, so the
    seam writes only the head and the body the chunk's worker made stands."""
    source = tmp_path / "still.mp4"
    picture = clip_frame(0, 1, *SIZE)
    with av.open(str(source), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        stream.options = {"g": "10", "keyint_min": "10", "crf": "18"}
        for index in range(60):
            frame = av.VideoFrame.from_ndarray(picture, "rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    settings = _settings("transparent")
    plan = plan_chunks(source, tmp_path / "split.mov", 0.6, "test", 1.0, 0.2)
    assert plan is not None
    job = Job(settings)
    for chunk in plan.chunks:
        matte_chunk(job, chunk)
    second = plan.chunks[1]
    pieces = [second.piece(i).stat().st_mtime_ns for i in range(len(second.marks))]
    report = matte_seam(job, second, plan.chunks[0].end).stages["seam"]
    assert report["gaps"][0] <= AGREE and report["pieces_redone"] == 0
    assert [second.piece(i).stat().st_mtime_ns for i in range(len(second.marks))] == pieces
    assert plan.head_done(second)

    # the chunk before it ending elsewhere (a seam redid it) makes this head stale
    other = Handoff.load(plan.chunks[0].end)
    other.alpha = None if other.alpha is None else other.alpha * 0.5
    other.save(plan.chunks[0].end)
    assert not plan.head_done(second) and not plan.complete

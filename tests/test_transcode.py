"""End to end through the CLI: real model, real clips with audio, real codecs."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import CLIP_FRAMES, decode_rgb, region_means, stream_summary

from rtmatte.cli import main
from rtmatte.samples import clip_frame, portrait

pytestmark = pytest.mark.slow


def run(*args: str | Path) -> int:
    return main([str(a) for a in args] + ["--quiet"])


def test_background_image_keeps_frames_timing_and_audio(sample_clip, background_image,
                                                        tmp_path) -> None:
    out = tmp_path / "talk_beach.mp4"
    stats_file = tmp_path / "stats.json"
    assert run(sample_clip, "--bg", background_image, "-o", out, "--stats", stats_file) == 0
    source, result = stream_summary(sample_clip), stream_summary(out)
    assert result["frames"] == source["frames"] == CLIP_FRAMES
    assert result["size"] == source["size"]
    in_times = [float(p * source["time_base"]) for p in source["video_pts"]]
    out_times = [float(p * result["time_base"]) for p in result["video_pts"]]
    np.testing.assert_allclose(out_times, in_times, atol=1e-3)
    assert result["audio_streams"] == 1
    assert result["audio_packets"] == source["audio_packets"]
    assert result["audio_seconds"] == pytest.approx(source["audio_seconds"], abs=1e-3)
    stats = json.loads(stats_file.read_text())
    assert stats["frames"] == CLIP_FRAMES
    assert stats["fps"] > 0
    # --backend auto on a CPU: whichever engine measured fastest here (docs/engines.md)
    assert stats["backend"].startswith(("onnxruntime", "openvino"))
    assert stats["downsample_ratio"] == 1.0
    assert {"decode", "infer", "composite", "encode"} <= set(stats["stages"])
    # the background really replaced the wall: the top-right corner now holds the sunset sky
    last = decode_rgb(out)[-1]
    corner = last[5:30, -40:-5].reshape(-1, 3).mean(axis=0)
    wall = clip_frame(CLIP_FRAMES - 1, CLIP_FRAMES, 320, 240)[5:30, -40:-5].reshape(-1, 3)
    assert np.abs(corner - wall.mean(axis=0)).max() > 40


def test_colour_and_blur_backgrounds(sample_clip, tmp_path) -> None:
    green = tmp_path / "green.mp4"
    assert run(sample_clip, "--bg", "#00b140", "-o", green) == 0
    frame = decode_rgb(green)[12]
    corner = frame[5:30, -40:-5].reshape(-1, 3).mean(axis=0)
    np.testing.assert_allclose(corner, [0, 177, 64], atol=12)
    blurred = tmp_path / "blur.mp4"
    assert run(sample_clip, "--bg", "blur", "-o", blurred) == 0
    assert stream_summary(blurred)["frames"] == CLIP_FRAMES


def test_default_output_name_is_beside_the_input(sample_clip, tmp_path) -> None:
    clip = tmp_path / "talk.mp4"
    clip.write_bytes(sample_clip.read_bytes())
    assert run(clip, "--bg", "black") == 0
    assert (tmp_path / "talk.rtmatte.mp4").is_file()
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


@pytest.mark.parametrize(("suffix", "decoder"), [(".mov", None), (".webm", "libvpx-vp9")])
def test_transparent_video_carries_alpha(sample_clip, tmp_path, suffix, decoder) -> None:
    out = tmp_path / f"cutout{suffix}"
    assert run(sample_clip, "--bg", "transparent", "-o", out) == 0
    frames = decode_rgb(out, codec=decoder, fmt="rgba")
    assert len(frames) == CLIP_FRAMES
    person, background = region_means(frames[-1][..., 3] / 255.0)
    assert person > 0.9 and background < 0.1
    assert stream_summary(out)["audio_streams"] == 1


def test_transparent_into_mp4_is_refused_naming_what_works(sample_clip, tmp_path, capsys):
    out = tmp_path / "cutout.mp4"
    assert run(sample_clip, "--bg", "transparent", "-o", out) == 2
    message = capsys.readouterr().err
    assert ".mov" in message and ".webm" in message
    assert not out.exists()


def test_image_to_png_with_alpha(tmp_path) -> None:
    source = tmp_path / "portrait.jpg"
    cv2.imwrite(str(source), cv2.cvtColor(portrait(), cv2.COLOR_RGB2BGR))
    out = tmp_path / "portrait.png"
    assert run(source, "--bg", "transparent", "-o", out) == 0
    rgba = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert rgba.shape == (512, 512, 4)
    person, background = region_means(rgba[..., 3] / 255.0)
    assert person > 0.95 and background < 0.05


def test_folder_of_videos_and_images(sample_clip, background_image, tmp_path) -> None:
    clips = tmp_path / "clips"
    clips.mkdir()
    (clips / "a.mp4").write_bytes(sample_clip.read_bytes())
    cv2.imwrite(str(clips / "b.jpg"), cv2.cvtColor(portrait(), cv2.COLOR_RGB2BGR))
    (clips / "notes.txt").write_text("not media")
    out = tmp_path / "out"
    assert run(clips, "--bg", background_image, "-o", out) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4", "b.jpg"]
    assert stream_summary(out / "a.mp4")["frames"] == CLIP_FRAMES


def test_alpha_output_writes_one_lossless_png_per_frame(sample_clip, tmp_path) -> None:
    pattern = tmp_path / "alpha" / "%05d.png"
    assert run(sample_clip, "--bg", "blur", "-o", tmp_path / "o.mp4",
               "--alpha-output", pattern) == 0
    files = sorted((tmp_path / "alpha").glob("*.png"))
    assert [f.name for f in files[:2]] == ["00001.png", "00002.png"]
    assert len(files) == CLIP_FRAMES
    matte = cv2.imread(str(files[-1]), cv2.IMREAD_UNCHANGED)
    assert matte.ndim == 2 and matte.dtype == np.uint8


def _write_clip(path: Path, size: tuple[int, int], pts: list[int], time_base: Fraction,
                rotation: int = 0) -> None:
    width, height = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        if rotation:
            stream.set_display_rotation(rotation)
        for index, stamp in enumerate(pts):
            picture = clip_frame(index, len(pts), width, height)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts, frame.time_base = stamp, time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def test_variable_frame_rate_timestamps_are_kept(tmp_path) -> None:
    time_base = Fraction(1, 1000)
    stamps = [0, 40, 70, 150, 160, 200, 290, 300, 330, 400]
    clip = tmp_path / "vfr.mp4"
    _write_clip(clip, (160, 120), stamps, time_base)
    out = tmp_path / "vfr_out.mp4"
    assert run(clip, "--bg", "white", "-o", out) == 0
    summary = stream_summary(out)
    times = [round(float(p * summary["time_base"]) * 1000) for p in summary["video_pts"]]
    assert times == stamps


def test_odd_sizes_encode_to_yuv420p(tmp_path) -> None:
    clip = tmp_path / "odd.mkv"
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("ffv1", rate=24)
        stream.width, stream.height, stream.pix_fmt = 161, 121, "yuv444p"
        for index in range(6):
            frame = av.VideoFrame.from_ndarray(clip_frame(index, 6, 161, 121), format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    out = tmp_path / "odd_out.mp4"
    assert run(clip, "--bg", "navy", "-o", out) == 0
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.codec_context.width, stream.codec_context.height) == (162, 122)
    assert stream_summary(out)["frames"] == 6


def test_rotated_phone_video_is_written_upright(tmp_path) -> None:
    clip = tmp_path / "phone.mp4"
    _write_clip(clip, (160, 128), list(range(6)), Fraction(1, 24), rotation=90)
    out = tmp_path / "phone_out.mp4"
    assert run(clip, "--bg", "white", "-o", out) == 0
    frames = decode_rgb(out)
    assert frames[0].shape[:2] == (160, 128)  # turned upright: the sides swapped


def test_video_background_loops_in_step_with_the_input(sample_clip, tmp_path) -> None:
    from rtmatte.compose.backgrounds import VideoBackground
    from rtmatte.types import Frame

    short = tmp_path / "short_bg.mp4"
    _write_clip(short, (160, 120), list(range(6)), Fraction(1, 24))  # 0.25 s long
    background = VideoBackground(short)
    alpha = np.zeros((120, 160), np.float32)

    def at(seconds: float) -> np.ndarray:
        frame = Frame(rgb=np.zeros((120, 160, 3), np.uint8), index=0,
                      pts=round(seconds * 1000), time_base=Fraction(1, 1000))
        return background.render(frame, alpha).copy()

    first, second, looped = at(0.0), at(1 / 24), at(0.25)
    assert np.abs(first.astype(int) - second).mean() > 0.5  # it moves with time
    np.testing.assert_allclose(looped, first, atol=1)  # and starts over after 0.25 s
    out = tmp_path / "on_video.mp4"
    assert run(sample_clip, "--bg", short, "-o", out) == 0
    assert stream_summary(out)["frames"] == CLIP_FRAMES

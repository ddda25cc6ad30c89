"""Bad input gets one clear message and exit code 2, and nothing is lost."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import (
    CLIP_FRAMES,
    HANG_S,
    start_as_from_terminal,
    stream_summary,
    wait_for_staging,
)

from rtmatte.cli import main


def run(*args: str | Path) -> int:
    return main([str(a) for a in args] + ["--quiet"])


def error_of(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_missing_input(capsys, tmp_path) -> None:
    assert run(tmp_path / "nope.mp4", "--bg", "blur") == 2
    assert "no such file" in error_of(capsys)


def test_a_text_file_is_not_a_video(capsys, tmp_path) -> None:
    fake = tmp_path / "fake.mp4"
    fake.write_text("this is not a video\n" * 50)
    assert run(fake, "--bg", "blur", "-o", tmp_path / "o.mp4") == 2
    assert "not a video" in error_of(capsys)
    assert not (tmp_path / "o.mp4").exists()


def test_a_file_with_only_audio_has_no_video_stream(capsys, tmp_path) -> None:
    audio = tmp_path / "voice.m4a"
    with av.open(str(audio), "w") as container:
        stream = container.add_stream("aac", rate=48000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 48000), np.float32), format="fltp",
                                           layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 48000, 0, Fraction(1, 48000)
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    assert run(audio, "--bg", "blur", "-o", tmp_path / "o.mp4") == 2
    assert "no video stream" in error_of(capsys)


def test_a_stream_corrupt_mid_file_keeps_what_can_be_kept(capsys, sample_clip, tmp_path):
    # a Matroska recording cut off mid-write (a crash, a full disk): the header says 24 frames,
    # the data stops a third of the way
    whole = tmp_path / "whole.mkv"
    with av.open(str(sample_clip)) as source, av.open(str(whole), "w") as target:
        copies = {s.index: target.add_stream_from_template(s) for s in source.streams}
        for packet in source.demux():
            if packet.dts is not None:
                packet.stream = copies[packet.stream.index]
                target.mux(packet)
    broken = tmp_path / "broken.mkv"
    data = whole.read_bytes()
    broken.write_bytes(data[: int(len(data) * 0.3)])
    out = tmp_path / "out.mp4"
    assert run(broken, "--bg", "blur", "-o", out) == 2
    message = error_of(capsys)
    assert "frames" in message and "out.partial.mp4" in message
    assert not out.exists()
    kept = stream_summary(tmp_path / "out.partial.mp4")
    assert 0 < kept["frames"] < CLIP_FRAMES
    assert f"{kept['frames']} frames" in message


def test_an_unreadable_background(capsys, sample_clip, tmp_path) -> None:
    assert run(sample_clip, "--bg", tmp_path / "missing.jpg", "-o", tmp_path / "o.mp4") == 2
    assert "no such file" in error_of(capsys)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\x00garbage" * 10)
    assert run(sample_clip, "--bg", bad, "-o", tmp_path / "o.mp4") == 2
    assert "not an image" in error_of(capsys)
    assert not (tmp_path / "o.mp4").exists()


def test_an_output_that_cannot_be_written(capsys, sample_clip, tmp_path) -> None:
    assert run(sample_clip, "--bg", "blur", "-o", tmp_path / "no" / "such" / "dir.mp4") == 2
    assert "does not exist" in error_of(capsys)


def test_an_existing_output_is_not_overwritten_without_the_flag(capsys, sample_clip, tmp_path):
    out = tmp_path / "o.mp4"
    out.write_bytes(b"precious")
    assert run(sample_clip, "--bg", "blur", "-o", out) == 2
    assert "--overwrite" in error_of(capsys)
    assert out.read_bytes() == b"precious"
    assert run(sample_clip, "--bg", "blur", "-o", out, "--overwrite") == 0
    assert stream_summary(out)["frames"] == CLIP_FRAMES


def test_an_unknown_model(capsys, sample_clip, tmp_path) -> None:
    assert run(sample_clip, "--model", "rvm-nonexistent", "-o", tmp_path / "o.mp4") == 2
    message = error_of(capsys)
    assert "unknown model" in message and "rvm-mobilenetv3" in message


def test_a_model_file_that_is_not_a_model(capsys, sample_clip, tmp_path) -> None:
    fake = tmp_path / "fake.onnx"
    fake.write_bytes(os.urandom(2048))
    assert run(sample_clip, "--model", fake, "-o", tmp_path / "o.mp4") == 2
    assert "cannot load model" in error_of(capsys)


def test_bad_settings_values(capsys, sample_clip, tmp_path) -> None:
    assert run(sample_clip, "--downsample-ratio", "3", "-o", tmp_path / "o.mp4") == 2
    assert "downsample ratio" in error_of(capsys)
    config = tmp_path / "c.toml"
    config.write_text("bgg = 'blur'\n")
    assert run(sample_clip, "--config", config, "-o", tmp_path / "o.mp4") == 2
    assert "unknown setting 'bgg'" in error_of(capsys)


def test_debug_shows_the_traceback(sample_clip, tmp_path) -> None:
    from rtmatte.errors import InputError

    with pytest.raises(InputError):
        main([str(tmp_path / "nope.mp4"), "--debug"])


def test_ctrl_c_mid_transcode_leaves_no_file_behind(tmp_path, long_clip) -> None:
    """Ctrl-C once the job is writing (the 25 s clip cannot be done by then): exit 130 with one
    line, and nothing left but the input."""
    import shutil
    import signal
    import subprocess
    import sys

    clip = shutil.copy(long_clip, tmp_path / "long.mp4")
    out = tmp_path / "out.mp4"
    process = start_as_from_terminal(
        [sys.executable, "-m", "rtmatte.cli", str(clip), "--bg", "blur", "-o", str(out)],
        stderr=subprocess.PIPE, text=True)
    wait_for_staging(tmp_path, process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=HANG_S)
    assert process.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.mp4"]


def test_an_output_extension_that_cannot_hold_the_result(capsys, sample_clip, tmp_path):
    assert run(sample_clip, "-o", tmp_path / "out.xyz") == 2
    assert ".mp4" in error_of(capsys)
    assert run(sample_clip, "-o", tmp_path / "out.png") == 2
    assert "a video is written as" in error_of(capsys)
    picture = tmp_path / "p.png"
    import cv2

    from rtmatte.samples import portrait

    cv2.imwrite(str(picture), portrait())
    assert run(picture, "-o", tmp_path / "p.mp4") == 2
    assert "a picture is written as" in error_of(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.png"]


def test_float16_on_a_cpu_is_refused_before_any_work(capsys, sample_clip, tmp_path) -> None:
    out = tmp_path / "o.mp4"
    assert run(sample_clip, "--bg", "blur", "-o", out, "--precision", "fp16",
               "--device", "cpu") == 2
    assert "fp16 runs on an NVIDIA GPU" in error_of(capsys)
    assert not out.exists()


def test_an_unknown_precision_in_a_config_file_is_refused(capsys, sample_clip, tmp_path) -> None:
    config = tmp_path / "rtmatte.toml"
    config.write_text('precision = "fp8"\n')
    assert run(sample_clip, "--config", config, "-o", tmp_path / "o.mp4") == 2
    assert "precision must be one of auto, fp16, fp32" in error_of(capsys)

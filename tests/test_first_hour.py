"""What a newcomer meets in the first hour: the README's own exported model under the default
backend, a picture with nobody in it, and the panel's file source standing in for a camera."""

from __future__ import annotations

import threading
import time
from fractions import Fraction
from itertools import pairwise
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import HANG_S
from fastapi.testclient import TestClient

from rtmatte.cli import main
from rtmatte.samples import clip_frame, make_clip
from rtmatte.server.app import create_app
from rtmatte.server.config import ServerConfig
from rtmatte.settings import load_settings
from rtmatte.sources.realtime import RealtimeFileReader

NOBODY = "no person found in"


def write_picture(path: Path, rgb: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def gradient(width: int, height: int, shift: int = 0) -> np.ndarray:
    """A smooth colour ramp: a picture with no person in it."""
    y, x = np.mgrid[0:height, 0:width]
    return np.dstack([(x * 255) // width, (y * 255) // height,
                      ((x + y + shift) * 127) // (width + height)]).astype(np.uint8)


def test_a_graph_exported_for_one_size_runs_under_the_default_backend(model_file, tmp_path,
                                                                       capsys) -> None:
    pytest.importorskip("torch")
    exported = tmp_path / "rvm_320x240.onnx"
    assert main(["models", "export", str(exported), "--ratio", "0.25", "--size", "320x240"]) == 0
    capsys.readouterr()
    portrait = write_picture(tmp_path / "portrait.png", clip_frame(3, 24, 320, 240))
    out = tmp_path / "out.png"
    assert main([str(portrait), "--model", str(exported), "-o", str(out), "--bg",
                 "transparent"]) == 0
    said = capsys.readouterr().err
    assert "fixed to 320x240" in said and "ONNX Runtime" in said, said
    alpha = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)[..., 3]
    assert alpha.shape == (240, 320) and alpha.max() == 255  # the person was cut out

    other = write_picture(tmp_path / "wide.png", clip_frame(3, 24, 400, 300))
    refused = tmp_path / "refused.png"
    assert main([str(other), "--model", str(exported), "-o", str(refused)]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines()
             if "fixed to" not in line]
    assert len(lines) == 1 and "320x240" in lines[0] and "400x300" in lines[0], lines
    assert not refused.exists()


def test_a_picture_with_nobody_is_written_and_said(model_file, tmp_path, capsys) -> None:
    empty = write_picture(tmp_path / "wall.png", gradient(320, 240))
    out = tmp_path / "wall.out.png"
    assert main([str(empty), "-o", str(out), "--bg", "transparent"]) == 0
    said = capsys.readouterr().err
    assert f"{NOBODY} wall.png" in said, said
    assert cv2.imread(str(out), cv2.IMREAD_UNCHANGED)[..., 3].max() == 0  # still written
    portrait = write_picture(tmp_path / "portrait.png", clip_frame(0, 1, 320, 240))
    assert main([str(portrait), "-o", str(tmp_path / "p.png"), "--bg", "transparent"]) == 0
    assert NOBODY not in capsys.readouterr().err


def test_a_clip_with_nobody_is_said_once(model_file, sample_clip, tmp_path, capsys) -> None:
    clip = tmp_path / "empty room.mp4"
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(8))
        stream.width, stream.height, stream.pix_fmt = 160, 128, "yuv420p"
        for index in range(8):
            frame = av.VideoFrame.from_ndarray(gradient(160, 128, 8 * index), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    assert main([str(clip), "-o", str(tmp_path / "o.mp4"), "--bg", "#00ff00"]) == 0
    said = capsys.readouterr().err
    assert said.count(NOBODY) == 1 and "empty room.mp4" in said, said
    assert main([str(sample_clip), "-o", str(tmp_path / "p.mp4"), "--bg", "#00ff00"]) == 0
    assert NOBODY not in capsys.readouterr().err


def test_the_panels_file_source_plays_on_like_a_camera(model_file, tmp_path) -> None:
    clip_frames = 8
    clip = make_clip(tmp_path / "talk.mp4", frames=clip_frames, size=(160, 128), fps=8,
                     audio=False)  # one second
    config = ServerConfig(token="test-token-first-hour-0123", port=7861,
                          settings=load_settings(), source=clip,
                          vcam_device="/dev/rtmatte-test-no-such-device")
    auth = {"Authorization": f"Bearer {config.token}"}
    with TestClient(create_app(config), base_url="http://127.0.0.1:7861") as client:
        started = client.post("/api/live/start", headers=auth, json={"source": "file"})
        assert started.status_code == 200, started.text
        try:
            deadline = time.monotonic() + HANG_S  # a hang bound only
            status = client.get("/api/live", headers=auth).json()
            while status["frames"] <= 2 * clip_frames:
                assert status["state"] == "running", status  # never "ended"
                assert time.monotonic() < deadline, "the clip never looped"
                time.sleep(0.05)
                status = client.get("/api/live", headers=auth).json()
        finally:
            stopped = client.post("/api/live/stop", headers=auth)
        assert stopped.json()["state"] == "stopped"


def test_a_looped_file_keeps_its_timestamps_increasing(tmp_path) -> None:
    clip = make_clip(tmp_path / "short.mp4", frames=6, size=(96, 64), fps=12, audio=False)
    reader = RealtimeFileReader(clip, loop=True)
    try:
        frames = [reader.read(threading.Event()) for _ in range(15)]  # two loops and a half
    finally:
        reader.close()
    assert all(frame is not None for frame in frames)
    pts = [frame.pts for frame in frames]
    assert all(later > earlier for earlier, later in pairwise(pts)), pts
    assert [frame.index for frame in frames] == list(range(15))
    steps = {later - earlier for earlier, later in pairwise(pts)}
    assert len(steps) == 1, pts  # evenly spaced across the seams too


def test_the_servers_picture_path_refuses_a_point_where_nobody_is_as_the_api_does() -> None:
    """The server dresses a model's matte outside the model lock (``dress``); a ``keep`` point
    on a picture with nobody in it is refused there as by ``api.remove_background``."""
    import dataclasses

    import numpy as np

    from rtmatte.errors import SettingsError
    from rtmatte.run.engine import dress
    from rtmatte.settings import Settings
    from rtmatte.types import Matte

    settings = Settings()
    settings = dataclasses.replace(settings, post=dataclasses.replace(settings.post, keep="5,5"))
    rgb = np.full((48, 64, 3), 120, np.uint8)
    nobody = Matte(alpha=np.zeros((48, 64), np.float32), fgr=rgb)
    with pytest.raises(SettingsError, match="nobody"):
        dress(settings, rgb, nobody, None, None)

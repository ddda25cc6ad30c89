"""What a run can refuse is refused before the slow part, and the same way on every path.

* An output the run must not write (a name taken without --overwrite, a container that cannot
  carry transparency, an --alpha-output sequence already there) is refused before the model
  loads: the runs below name a model file that is no ONNX graph at all, so reaching the model
  would end in "cannot load model" instead of the refusal.
* ``--keep X,Y`` where nobody ever appears is refused by live runs and split (``--chunk-seconds``)
  runs as by a file run.
* The configured ``max_picture_pixels`` holds for live backgrounds, the planning of split runs
  and a background uploaded with a video job, not only the default.

Each run is a whole ``rtmatte`` process from the virtual environment, as a user starts it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from rtmatte.samples import clip_frame, make_clip, sunset_background

RTMATTE = str(Path(sys.executable).with_name("rtmatte"))


def rtmatte(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RTMATTE, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONWARNINGS": "ignore"})


def said(done: subprocess.CompletedProcess[str]) -> list[str]:
    """rtmatte's own lines on stderr (Ray's log lines left out), never a traceback."""
    assert "Traceback" not in done.stderr and "unexpected error" not in done.stderr, done.stderr
    return [line for line in done.stderr.splitlines() if line.startswith("rtmatte:")]


def write_clip(path: Path, pictures: list[np.ndarray], fps: int = 24,
               keyframe_every: int = 12) -> Path:
    """An H.264 clip of ``pictures`` with a keyframe every ``keyframe_every`` frames."""
    height, width = pictures[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"g": str(keyframe_every), "keyint_min": str(keyframe_every),
                          "sc_threshold": "0"}
        for picture in pictures:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(picture, "rgb24")))
        container.mux(stream.encode())
    return path


def nobody_clip(path: Path, frames: int = 12) -> Path:
    """A clip of a sunset sliding by: no person anywhere."""
    sky = sunset_background(320, 240)
    return write_clip(path, [np.roll(sky, 4 * i, axis=1) for i in range(frames)])


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    make_clip(tmp_path / "talk.mp4", frames=4, size=(160, 120), fps=24)
    (tmp_path / "junk.onnx").write_bytes(os.urandom(4096))  # no graph: loading it fails
    return tmp_path


@pytest.mark.parametrize(("flags", "there", "refusal"), [
    (["-o", "taken.mp4"], ["taken.mp4"], "taken.mp4 already exists"),
    (["--bg", "transparent", "-o", "cutout.mp4"], [], "cannot carry transparency"),
    (["-o", "new.mp4", "--alpha-output", "alpha/%03d.png"], ["alpha/001.png"],
     "001.png already exists"),
])
def test_an_output_that_must_not_be_written_is_refused_before_the_model_loads(
        folder: Path, flags: list[str], there: list[str], refusal: str) -> None:
    for name in there:
        (folder / name).parent.mkdir(exist_ok=True)
        (folder / name).write_bytes(b"someone's file")
    done = rtmatte("talk.mp4", "--bg", "blur", *flags, "--model", "junk.onnx", cwd=folder)
    lines = said(done)
    assert done.returncode == 2 and len(lines) == 1 and refusal in lines[0], done.stderr
    for name in there:
        assert (folder / name).read_bytes() == b"someone's file"
    assert not (folder / "new.mp4").exists()


def test_a_folder_whose_every_output_is_taken_is_refused_before_the_model_loads(
        folder: Path) -> None:
    (folder / "clips").mkdir()
    (folder / "talk.mp4").rename(folder / "clips" / "a.mp4")
    (folder / "out").mkdir()
    (folder / "out" / "a.mp4").write_bytes(b"an earlier result")
    done = rtmatte("clips", "--bg", "blur", "-o", "out", "--model", "junk.onnx", cwd=folder)
    assert done.returncode == 2, done.stderr
    assert "already exists" in done.stderr and "cannot load model" not in done.stderr
    assert (folder / "out" / "a.mp4").read_bytes() == b"an earlier result"


def test_a_taken_output_on_ray_is_refused_before_the_cluster_starts(folder: Path) -> None:
    pytest.importorskip("ray")
    (folder / "taken.mp4").write_bytes(b"someone's file")
    done = rtmatte("talk.mp4", "--bg", "blur", "-o", "taken.mp4", "--ray", "local",
                   "--model", "junk.onnx", cwd=folder)
    lines = said(done)
    assert done.returncode == 2 and "taken.mp4 already exists" in lines[-1], done.stderr
    assert not any(line.startswith("rtmatte: ray:") for line in lines), lines  # no worker
    assert (folder / "taken.mp4").read_bytes() == b"someone's file"


def test_a_live_run_refuses_a_keep_point_where_nobody_ever_was_and_keeps_its_recording(
        model_file: Path, tmp_path: Path) -> None:
    nobody_clip(tmp_path / "empty.mp4")
    done = rtmatte("empty.mp4", "--realtime", "--bg", "blur", "--keep", "100,100", "-o",
                   "recording.mp4", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "--keep 100,100: nobody is at that point" in said(done)[-1]
    with av.open(str(tmp_path / "recording.mp4")) as container:  # finalized, and kept
        assert sum(1 for _ in container.decode(video=0)) > 0
    # where the person is, the same live run passes
    make_clip(tmp_path / "talk.mp4", frames=6, size=(320, 240), fps=24, audio=False)
    done = rtmatte("talk.mp4", "--realtime", "--bg", "blur", "--keep", "160,120", "-o",
                   "kept.mp4", cwd=tmp_path)
    assert done.returncode == 0, done.stderr


def test_live_backgrounds_obey_the_configured_picture_limit(model_file: Path,
                                                            tmp_path: Path) -> None:
    make_clip(tmp_path / "talk.mp4", frames=4, size=(160, 120), fps=24, audio=False)
    cv2.imwrite(str(tmp_path / "wide.png"), sunset_background(320, 240))  # 76,800 pixels
    done = rtmatte("talk.mp4", "--realtime", "--bg", "wide.png", "-o", "out.mp4",
                   "--max-picture-pixels", "50000", cwd=tmp_path)
    assert done.returncode == 2 and "wide.png" in said(done)[-1], done.stderr
    assert not (tmp_path / "out.mp4").exists()


def test_a_job_background_over_the_servers_limit_is_refused_at_upload(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from rtmatte.server.app import create_app
    from rtmatte.server.config import ServerConfig
    from rtmatte.settings import load_settings

    clip = make_clip(tmp_path / "talk.mp4", frames=4, size=(160, 120), fps=24)
    ok, wide = cv2.imencode(".png", sunset_background(320, 240))
    assert ok
    config = ServerConfig(token="t" * 24, port=7860, max_upload_mb=2.0,
                          settings=load_settings(overrides={"max_picture_pixels": 50_000}))
    with TestClient(create_app(config), base_url="http://127.0.0.1:7860") as client:
        answer = client.post("/api/jobs", headers={"Authorization": f"Bearer {'t' * 24}"},
                             files={"file": ("talk.mp4", clip.read_bytes()),
                                    "bg_file": ("my-beach.png", wide.tobytes())})
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"].startswith("my-beach.png: ")


@pytest.mark.ray
def test_a_split_run_refuses_a_keep_point_where_nobody_ever_was(model_file: Path,
                                                                tmp_path: Path) -> None:
    nobody_clip(tmp_path / "empty.mp4", frames=48)
    done = rtmatte("empty.mp4", "--bg", "blur", "--keep", "100,100", "-o", "out.mp4",
                   "--ray", "local", "--chunk-seconds", "0.5", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert any(line.startswith("rtmatte: ray:") for line in said(done))  # it was split
    assert "--keep 100,100: nobody is at that point" in said(done)[-1]
    assert not (tmp_path / "out.mp4").exists()
    # someone who appears in the last chunk only is enough, as in an unsplit run
    sky = sunset_background(320, 240)
    pictures = [sky] * 36 + [clip_frame(i, 12, 320, 240) for i in range(12)]
    write_clip(tmp_path / "late.mp4", pictures)
    done = rtmatte("late.mp4", "--bg", "blur", "--keep", "160,120", "-o", "late_out.mp4",
                   "--ray", "local", "--chunk-seconds", "0.5", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "late_out.mp4").is_file()


@pytest.mark.ray
def test_a_split_run_plans_with_the_configured_picture_limit(model_file: Path,
                                                             tmp_path: Path) -> None:
    nobody_clip(tmp_path / "wide.mp4", frames=48)  # 320x240: 76,800 pixels a frame
    done = rtmatte("wide.mp4", "--bg", "blur", "-o", "out.mp4", "--max-picture-pixels",
                   "50000", "--ray", "local", "--chunk-seconds", "0.5", cwd=tmp_path)
    lines = said(done)
    assert done.returncode == 2 and "its frames are" in lines[-1], done.stderr
    assert not any(line.startswith("rtmatte: ray:") for line in lines), lines  # no worker

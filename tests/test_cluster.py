"""Batches on a real local Ray: the same outputs as one machine, failures alone, dead workers'
files retried, reruns resumed from the manifest, long videos split and joined.

Each test marked ``ray`` shares one local Ray (2 CPUs, loopback only) started by the fixture;
the runs inside use it as ``--ray`` would use an existing cluster.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import CLIP_FPS, CLIP_FRAMES, CLIP_SIZE, decode_rgb, stream_summary

from rtmatte import api
from rtmatte.cli.main import main
from rtmatte.cluster.driver import ClusterOptions, process_on_cluster
from rtmatte.cluster.manifest import MANIFEST_NAME
from rtmatte.cluster.worker import _access_problem
from rtmatte.samples import make_clip
from rtmatte.settings import load_settings

BG = "#00b140"


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _settings(**values):
    return load_settings(overrides={"backend": "onnx", "bg": BG, **values})


def _clips(folder: Path, count: int) -> list[Path]:
    folder.mkdir()
    return [make_clip(folder / f"clip{n}.mp4", frames=CLIP_FRAMES, size=CLIP_SIZE, fps=CLIP_FPS)
            for n in range(count)]


def _alpha_frames(folder: Path) -> np.ndarray:
    names = sorted(folder.glob("*.png"))
    return np.stack([cv2.imread(str(n), cv2.IMREAD_GRAYSCALE) for n in names]).astype(np.int16)


@pytest.mark.ray
def test_one_file_on_ray_matches_one_machine_and_reruns_resume(local_ray, tmp_path, capsys):
    source = make_clip(tmp_path / "talk.mp4", frames=CLIP_FRAMES, size=CLIP_SIZE, fps=CLIP_FPS)
    common = [str(source), "--bg", BG, "--backend", "onnx", "--quiet"]
    assert main([*common, "-o", str(tmp_path / "one.mp4"), "--alpha-output",
                 str(tmp_path / "a1" / "%05d.png")]) == 0
    stats = tmp_path / "ray.json"
    on_ray = [*common[:-1], "-o", str(tmp_path / "ray.mp4"), "--alpha-output",
              str(tmp_path / "a2" / "%05d.png"), "--ray", "local"]
    assert main([*on_ray, "--quiet", "--stats", str(stats)]) == 0

    one, ray = stream_summary(tmp_path / "one.mp4"), stream_summary(tmp_path / "ray.mp4")
    assert ray["frames"] == one["frames"] == CLIP_FRAMES
    assert ray["video_pts"] == one["video_pts"] and ray["time_base"] == one["time_base"]
    assert ray["audio_packets"] == one["audio_packets"] > 0
    assert ray["audio_seconds"] == pytest.approx(one["audio_seconds"])
    alpha_one, alpha_ray = _alpha_frames(tmp_path / "a1"), _alpha_frames(tmp_path / "a2")
    assert alpha_one.shape == alpha_ray.shape == (CLIP_FRAMES, CLIP_SIZE[1], CLIP_SIZE[0])
    assert np.abs(alpha_one - alpha_ray).max() <= 2  # of 255: the same model and settings
    pictures = zip(decode_rgb(tmp_path / "one.mp4"), decode_rgb(tmp_path / "ray.mp4"),
                   strict=True)
    assert max(np.abs(a.astype(int) - b).mean() for a, b in pictures) < 1.0
    assert json.loads(stats.read_text())["frames"] == CLIP_FRAMES

    manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
    (record,) = manifest["files"]
    assert record["output"] == str(tmp_path / "ray.mp4") and record["frames"] == CLIP_FRAMES
    made = os.stat(tmp_path / "ray.mp4").st_mtime_ns

    capsys.readouterr()
    assert main(on_ray) == 0  # no --overwrite needed: nothing is written
    assert "1 of 1 file already done" in capsys.readouterr().err
    assert os.stat(tmp_path / "ray.mp4").st_mtime_ns == made
    # redone over its own earlier outputs (video and matte sequence), still without --overwrite
    assert main([*on_ray, "--force", "--quiet"]) == 0
    assert os.stat(tmp_path / "ray.mp4").st_mtime_ns != made


@pytest.mark.ray
def test_a_corrupt_file_fails_alone_and_a_rerun_skips_the_rest(local_ray, tmp_path, capsys):
    clips = _clips(tmp_path / "in", 2)
    broken = tmp_path / "in" / "broken.mp4"
    broken.write_bytes(clips[0].read_bytes()[:20000])  # cut off: no index, not a video
    out = tmp_path / "out"
    stats = tmp_path / "stats.json"
    command = [str(tmp_path / "in"), "--bg", BG, "--backend", "onnx", "-o", str(out),
               "--ray", "local", "--stats", str(stats)]
    assert main([*command, "--quiet"]) == 3
    assert sorted(p.name for p in out.glob("*.mp4")) == ["clip0.mp4", "clip1.mp4"]
    said = capsys.readouterr().err.strip().splitlines()[-1]
    assert "1 of 3 files failed" in said and "broken.mp4" in said
    figures = json.loads(stats.read_text())
    assert [Path(f["input"]).name for f in figures["failed"]] == ["broken.mp4"]
    assert len(figures["files"]) == 2 and figures["frames"] == 2 * CLIP_FRAMES
    assert not [p for p in out.iterdir() if p.name.startswith(".rtmatte-partial")]

    made = {p.name: p.stat().st_mtime_ns for p in out.glob("*.mp4")}
    assert main(command) == 3  # the broken file fails again; the two done are not redone
    assert "2 of 3 files already done" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.mp4")} == made


@pytest.mark.ray
def test_a_killed_worker_file_is_retried_and_finishes(local_ray, tmp_path):
    clips = _clips(tmp_path / "in", 3)
    out = tmp_path / "out"
    out.mkdir()
    killed: list[int] = []
    done = threading.Event()

    def kill_first_writer() -> None:
        """SIGKILL the first worker process seen writing an output (its staging folder)."""
        pattern = re.compile(r"^\.rtmatte-partial-[0-9a-f]{8}-(\d+)-")
        while not done.is_set() and not killed:
            for entry in os.listdir(out):
                match = pattern.match(entry)
                if match and int(match[1]) != os.getpid():
                    os.kill(int(match[1]), signal.SIGKILL)
                    killed.append(int(match[1]))
                    break
            done.wait(0.02)

    watcher = threading.Thread(target=kill_first_writer)
    watcher.start()
    said: list[str] = []
    try:
        results = process_on_cluster(
            tmp_path / "in", out, settings=_settings(),
            options=ClusterOptions(address="local", workers=2, cpus_per_worker=1),
            notify=said.append)
    finally:
        done.set()
        watcher.join()
    assert killed, "no worker was seen writing"
    assert any("died during" in line and "attempt 2 of 3" in line for line in said), said
    assert sorted(Path(r.output).name for r in results) == [c.name for c in clips]
    for clip in clips:
        assert stream_summary(out / clip.name)["frames"] == CLIP_FRAMES
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert len(manifest["files"]) == 3


@pytest.mark.ray
def test_a_chunked_video_keeps_frames_timestamps_audio_and_seams(local_ray, tmp_path):
    source = make_clip(tmp_path / "long.mp4", frames=48, size=CLIP_SIZE, fps=CLIP_FPS,
                       keyframe_every=6)
    settings = _settings(bg="transparent")
    api.process(source, tmp_path / "whole.mov", settings=settings)
    # 0.5 s chunks of 12 frames, each warmed up over the 12 frames before it and its own first
    # 6 frames (the head, written again by a seam task from the previous chunk's real state)
    said: list[str] = []
    (result,) = process_on_cluster(
        source, tmp_path / "split.mov", settings=settings, notify=said.append,
        options=ClusterOptions(address="local", chunk_seconds=0.5, warmup_seconds=0.5,
                               head_seconds=0.25))
    assert result.stages["chunks"]["items"] == 4
    assert result.stages["seams"]["items"] >= 3

    whole, split = stream_summary(tmp_path / "whole.mov"), stream_summary(tmp_path / "split.mov")
    assert split["frames"] == whole["frames"] == 48
    assert split["video_pts"] == whole["video_pts"] and split["time_base"] == whole["time_base"]
    assert split["audio_packets"] == whole["audio_packets"] > 0
    assert split["audio_seconds"] == pytest.approx(whole["audio_seconds"])

    alpha_whole = np.stack(decode_rgb(tmp_path / "whole.mov", fmt="rgba"))[..., 3] / 255.0
    alpha_split = np.stack(decode_rgb(tmp_path / "split.mov", fmt="rgba"))[..., 3] / 255.0
    error = np.abs(alpha_whole - alpha_split)
    assert error[:18].max() == 0  # the first chunk and the next one's head: the real state
    per_frame = error.mean(axis=(1, 2))
    assert per_frame.max() <= 0.01  # the stated bound (docs/scale.md)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".rtmatte-chunks")]


def test_ray_missing_says_how_to_install(tmp_path, monkeypatch, capsys, sample_clip):
    monkeypatch.setitem(sys.modules, "ray", None)
    assert main([str(sample_clip), "-o", str(tmp_path / "o.mp4"), "--ray", "local"]) == 2
    assert "pip install 'rtmatte[ray]'" in capsys.readouterr().err
    assert not (tmp_path / "o.mp4").exists()


def test_cluster_flags_need_ray(tmp_path, capsys, sample_clip):
    assert main([str(sample_clip), "-o", str(tmp_path / "o.mp4"), "--chunk-seconds", "60"]) == 2
    assert "--ray" in capsys.readouterr().err


def test_a_worker_that_cannot_reach_the_files_says_so(tmp_path, sample_clip):
    assert _access_problem("node1", [str(sample_clip)], [str(tmp_path)]) is None
    missing = _access_problem("node1", [str(tmp_path / "gone.mp4")], [str(tmp_path)])
    assert "node1 cannot read" in missing and "filesystem every worker reaches" in missing
    blocked = _access_problem("node1", [str(sample_clip)], [str(sample_clip)])
    assert "node1 cannot write into" in blocked

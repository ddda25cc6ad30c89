"""Promises of README.md and docs/guarantees.md held through the command line and the API, each
in a form that fails when the promise is broken: a link at the output name is replaced and its
target left alone, a run clears only its own machine's and user's dead staging folders, two
inputs bound for one name are refused before any work, and ``--bg blur`` really blurs the
background while the person stays sharp."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import CLIP_FRAMES, decode_rgb, stream_summary

from rtmatte import api
from rtmatte.cli import main
from rtmatte.compose.backgrounds import parse_background
from rtmatte.errors import BackgroundError, OutputError
from rtmatte.matting import backends
from rtmatte.matting.backends import BackendEntry, register_backend
from rtmatte.samples import clip_frame, make_clip
from rtmatte.settings import load_settings
from rtmatte.sinks import atomic
from rtmatte.types import Frame


def run(*args: str | Path) -> int:
    return main([str(a) for a in args] + ["--quiet"])


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def picture(path: Path, size: tuple[int, int] = (96, 128)) -> Path:
    rgb = clip_frame(0, 1, size[1], size[0])
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


# an output name holds a complete file: a link there is replaced, never followed ---------------

def test_a_link_at_the_output_name_is_replaced_and_its_target_kept(tmp_path: Path) -> None:
    source = picture(tmp_path / "in.png")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    victim = elsewhere / "victim.png"
    victim.write_bytes(b"precious picture")
    victim_stats = elsewhere / "victim.json"
    victim_stats.write_text("precious stats\n")
    out, stats = tmp_path / "out.png", tmp_path / "run.json"
    out.symlink_to(victim)
    stats.symlink_to(victim_stats)
    assert run(source, "--bg", "blur", "-o", out, "--stats", stats, "--overwrite") == 0
    assert victim.read_bytes() == b"precious picture"
    assert victim_stats.read_text() == "precious stats\n"
    assert not out.is_symlink() and cv2.imread(str(out)).shape == (96, 128, 3)
    assert not stats.is_symlink() and json.loads(stats.read_text())


def test_a_dangling_link_at_a_video_output_name_is_replaced(sample_clip: Path,
                                                            tmp_path: Path) -> None:
    """Through the API, with overwrite: the link's target (in a folder the user never named)
    is not created."""
    away = tmp_path / "away"
    out = tmp_path / "out.mp4"
    out.symlink_to(away / "planted.mp4")
    away.mkdir()
    settings = dataclasses.replace(load_settings(), overwrite=True)
    results = api.process(sample_clip, out, bg="#00b140", settings=settings)
    assert results[0].frames == CLIP_FRAMES
    assert not out.is_symlink() and len(decode_rgb(out)) == CLIP_FRAMES
    assert list(away.iterdir()) == []


# a killed run's staging folder: only rtmatte's own, this machine's, the user's, process gone ---

def test_the_next_run_clears_only_its_own_dead_staging_folders(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)
    host = atomic._HOST
    other_host = "0123abcd" if host != "0123abcd" else "fedc4321"
    out_folder = tmp_path / "out"
    out_folder.mkdir()
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("mine\n")
    names = {
        "dead": f".rtmatte-partial-{host}-{gone.pid}-aaaa",
        "other host": f".rtmatte-partial-{other_host}-{gone.pid}-bbbb",
        "other user": f".rtmatte-partial-{host}-{gone.pid}-cccc",
        "alive": f".rtmatte-partial-{host}-{alive.pid}-dddd",
    }
    if os.getuid() != 0:
        del names["other user"]  # only root can hand a folder to someone else
    for name in names.values():
        (out_folder / name).mkdir()
        (out_folder / name / "o.mp4").write_bytes(b"half")
    if "other user" in names:
        os.chown(out_folder / names["other user"], 4242, 4242)
    link = out_folder / f".rtmatte-partial-{host}-{gone.pid}-eeee"
    link.symlink_to(precious, target_is_directory=True)
    try:
        assert run(picture(tmp_path / "in.png"), "--bg", "blur", "-o", out_folder / "o.png") == 0
    finally:
        alive.stdin.close()
        alive.wait()
    left = sorted(p.name for p in out_folder.iterdir())
    expected = sorted([*(n for k, n in names.items() if k != "dead"), link.name, "o.png"])
    assert left == expected
    assert (precious / "keep.txt").read_text() == "mine\n"


# two inputs to one name are refused up front -------------------------------------------------

@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a.mov and a.mp4: with --bg transparent both would become a.mov."""
    folder = tmp_path_factory.mktemp("twins")
    make_clip(folder / "a.mp4", frames=3, size=(64, 48), audio=False)
    make_clip(folder / "a.mov", frames=3, size=(64, 48), audio=False)
    return folder


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_two_inputs_to_one_name_in_another_folder_are_refused(capsys, twins: Path,
                                                              tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run(twins, "--bg", "transparent", "-o", out) == 2
    message = one_line(capsys)
    assert "a.mov and a.mp4 would both be written to" in message and "a.mov" in message
    assert not out.exists() or _files(out) == []


def test_two_inputs_to_one_name_beside_themselves_are_refused(capsys, twins: Path,
                                                              tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.mov", "a.mp4"):
        (folder / name).write_bytes((twins / name).read_bytes())
    assert run(folder, "--bg", "transparent", "--overwrite") == 2
    assert "would both be written to" in one_line(capsys)
    assert _files(folder) == ["a.mov", "a.mp4"]
    with pytest.raises(OutputError, match="would both be written"):
        api.process(folder, bg="transparent")
    assert _files(folder) == ["a.mov", "a.mp4"]


# --bg blur blurs the background, and only the background -------------------------------------

def _detail(picture: np.ndarray, where: np.ndarray) -> float:
    """Mean absolute Laplacian of the grey picture over ``where``: fine detail left there."""
    grey = cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.abs(cv2.Laplacian(grey, cv2.CV_32F))[where].mean())


def test_bg_blur_blurs_the_background_and_keeps_the_person_sharp(sample_clip: Path,
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "blurred.mp4"
    assert run(sample_clip, "--bg", "blur", "-o", out,
               "--alpha-output", tmp_path / "a" / "%03d.png") == 0
    inputs, outputs = decode_rgb(sample_clip), decode_rgb(out)
    assert len(outputs) == len(inputs) == CLIP_FRAMES
    ratios = {"background": [], "person": []}
    for index in range(0, CLIP_FRAMES, 4):
        alpha = cv2.imread(str(tmp_path / "a" / f"{index + 1:03d}.png"), cv2.IMREAD_GRAYSCALE)
        inside = cv2.erode((alpha == 255).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
        outside = cv2.erode((alpha == 0).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
        assert inside.sum() > 2000 and outside.sum() > 2000
        for name, where in (("background", outside), ("person", inside)):
            ratios[name].append(_detail(outputs[index], where) / _detail(inputs[index], where))
    assert max(ratios["background"]) < 0.35, ratios
    assert min(ratios["person"]) > 0.8, ratios


def test_blur_2_blurs_more_and_a_bad_strength_is_refused() -> None:
    rgb = np.random.default_rng(2).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    frame, alpha = Frame(rgb=rgb, index=0), np.zeros((480, 640), np.float32)
    everywhere = np.ones((480, 640), bool)
    detail = [_detail(parse_background(spec).render(frame, alpha), everywhere)
              for spec in ("blur:0.5", "blur", "BLUR:2")]
    assert _detail(rgb, everywhere) > detail[0] > detail[1] > detail[2]
    for bad, words in (("blur:x", "must be a number"), ("blur:0", r"in \(0, 10\]"),
                       ("blur:11", r"in \(0, 10\]")):
        with pytest.raises(BackgroundError, match=words):
            parse_background(bad)


# a picture background is cover-fitted: it fills the frame, keeps its shape, centred ----------

@pytest.mark.parametrize("wide", [True, False])
def test_a_picture_background_is_cover_fitted(tmp_path: Path, wide: bool) -> None:
    """Three bands of colour, side by side (wide) or stacked (tall), behind a square frame:
    the frame is filled by the middle band alone (scaled, not stretched, the rest cut off)."""
    bands = np.zeros((90, 270, 3), np.uint8)
    bands[:, :90], bands[:, 90:180], bands[:, 180:] = (250, 0, 0), (0, 250, 0), (0, 0, 250)
    picture = bands if wide else np.ascontiguousarray(bands.transpose(1, 0, 2))
    path = tmp_path / "bg.png"
    cv2.imwrite(str(path), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    frame = Frame(rgb=np.zeros((60, 60, 3), np.uint8), index=0)
    shown = parse_background(str(path)).render(frame, np.zeros((60, 60), np.float32))
    assert shown.shape == (60, 60, 3)
    assert np.abs(shown[2:-2, 2:-2].astype(int) - (0, 250, 0)).max() <= 2


# the demo: one command writes rtmatte-demo.mp4, and never over an earlier one ---------------

def test_the_demo_writes_its_clip_and_never_overwrites(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--frames", "4", "--quiet"]) == 0
    first = tmp_path / "rtmatte-demo.mp4"
    summary = stream_summary(first)
    assert summary["frames"] == 4 and summary["size"] == (640, 480)
    assert summary["audio_streams"] == 1
    before = first.read_bytes()
    assert main(["demo", "--frames", "4", "--quiet"]) == 0
    assert first.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rtmatte-demo-2.mp4",
                                                         "rtmatte-demo.mp4"]


# --crf: video quality, default 18 ---------------------------------------------------------

def test_crf_sets_the_quality_and_defaults_to_18(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=6, size=(160, 120), audio=False)
    sizes = {}
    for name, extra in (("default", []), ("18", ["--crf", "18"]), ("34", ["--crf", "34"])):
        out = tmp_path / f"{name}.mp4"
        assert run(clip, "--bg", "#204060", "-o", out, *extra) == 0
        sizes[name] = out.stat().st_size
    assert sizes["default"] == sizes["18"]
    assert sizes["34"] < 0.7 * sizes["18"]


# exit code 1: a bug, said in one line, nothing left behind -----------------------------------

class _FailingRuntime:
    """A third-party backend with a bug: its runtime fails on the first frame."""

    name = "failing/cpu"
    whole_frame_only = "a stand-in that fails"

    def initial_state(self) -> None:
        return None

    def infer(self, rgb: np.ndarray, state: None, downsample_ratio: float):
        raise RuntimeError("device lost in the middle of a frame")


@pytest.fixture
def failing_backend(monkeypatch: pytest.MonkeyPatch):
    """Registered through the public registry in a module of its own, as a plugin would be;
    the registry is restored afterwards."""
    saved = dict(backends.REGISTRY)
    module = types.ModuleType("rtmatte_test_failing_backend")
    module.create = lambda request: _FailingRuntime()
    module.unavailable = lambda device: None
    monkeypatch.setitem(sys.modules, module.__name__, module)
    register_backend(BackendEntry("failing", module.__name__, needs=("numpy",),
                                  library="Failing Runtime", runs={"cpu": "on the CPU"},
                                  auto_rank=-1))
    yield
    backends.REGISTRY.clear()
    backends.REGISTRY.update(saved)


def test_a_bug_exits_1_in_one_line_and_leaves_nothing(capsys, failing_backend,
                                                     sample_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.mp4"
    assert run(sample_clip, "--bg", "blur", "-o", out, "--backend", "failing") == 1
    line = one_line(capsys)
    assert line.startswith("rtmatte: unexpected error: RuntimeError: device lost in the middle "
                           "of a frame") and "--debug" in line and "please report it" in line
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError, match="device lost"):  # --debug: the traceback
        main([str(sample_clip), "--bg", "blur", "-o", str(out), "--backend", "failing",
              "--debug", "--quiet"])
    assert list(tmp_path.iterdir()) == []

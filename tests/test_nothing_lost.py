"""Nothing lost, no one let in: inputs are never outputs, temporaries cannot be redirected, a
full disk or a signal leaves no broken file, and a folder run reports every file."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import (
    CLIP_FRAMES,
    HANG_S,
    one_line,
    run,
    start_as_from_terminal,
    stream_summary,
    tmpfs,
    wait_for_staging,
)

from rtmatte.cli import main
from rtmatte.errors import OutputError
from rtmatte.sinks.atomic import Staging, clear_stale
from rtmatte.sinks.video_file import VideoFileSink
from rtmatte.types import Frame


def leftovers(folder: Path) -> list[str]:
    """Anything hidden rtmatte may have left behind."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def fill(disk: Path) -> None:
    """Take whatever space is left on ``disk``."""
    try:
        with (disk / "blocker").open("wb") as fh:
            while True:
                fh.write(b"\0" * 1024)
                fh.flush()
    except OSError:
        pass


def picture(path: Path, size: tuple[int, int] = (96, 128)) -> Path:
    from rtmatte.samples import clip_frame

    rgb = clip_frame(0, 1, size[1], size[0])
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


# 1. an input is never an output ------------------------------------------------------------

def test_a_folder_processed_into_itself_keeps_its_originals(capsys, sample_clip, tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    original = folder / "talk.mp4"
    original.write_bytes(sample_clip.read_bytes())
    before = original.read_bytes()
    assert run(folder, "-o", folder, "--bg", "blur", "--overwrite") == 0
    assert original.read_bytes() == before
    assert stream_summary(folder / "talk.rtmatte.mp4")["frames"] == CLIP_FRAMES


def test_an_output_named_as_its_input_is_refused_even_with_overwrite(capsys, sample_clip,
                                                                     tmp_path):
    clip = tmp_path / "talk.mp4"
    clip.write_bytes(sample_clip.read_bytes())
    os.link(clip, tmp_path / "hard.mp4")
    (tmp_path / "soft.mp4").symlink_to(clip)
    before = clip.read_bytes()
    for target in (clip, tmp_path / "hard.mp4", tmp_path / "soft.mp4", tmp_path / "." / "talk.mp4"):
        assert run(clip, "-o", target, "--bg", "blur", "--overwrite") == 2
        assert "input" in one_line(capsys)
    assert clip.read_bytes() == before


def test_the_background_is_never_an_output(capsys, sample_clip, background_image, tmp_path):
    bg = tmp_path / "beach.jpg"
    bg.write_bytes(background_image.read_bytes())
    assert run(sample_clip, "--bg", bg, "-o", bg, "--overwrite") == 2
    assert "input" in one_line(capsys)
    assert bg.read_bytes() == background_image.read_bytes()


# 2. temporaries cannot be pointed anywhere -------------------------------------------------

@pytest.mark.parametrize("name", ["out.png", "out.mp4"])
def test_planted_links_at_temporary_names_are_not_followed(sample_clip, tmp_path, name):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / name
    stem, suffix = out.stem, out.suffix
    # every name the 0.1 scheme could have used for the next processes, and then some
    for pid in range(os.getpid(), os.getpid() + 3000):
        (tmp_path / f".{stem}.rtmatte-partial-{pid}{suffix}").symlink_to(victim)
    source = picture(tmp_path / "in.png") if suffix == ".png" else sample_clip
    assert run(source, "-o", out, "--bg", "blur") == 0
    assert victim.read_text() == "precious\n"
    assert out.is_file() and not out.is_symlink()
    assert not any(p.is_dir() for p in tmp_path.iterdir() if p.name.startswith(".rtmatte"))


def test_the_final_rename_never_replaces_what_appeared_meanwhile(tmp_path):
    """Without --overwrite the name is checked at the start and again by the rename itself: a
    run that finishes second (both started before either finished) replaces nothing, not a
    file and not a link (never followed), and keeps its own result beside it."""
    staging = Staging(tmp_path)
    try:
        staging.file("o.mp4").write_bytes(b"the second run")
        (tmp_path / "o.mp4").write_bytes(b"the first run")
        with pytest.raises(OutputError, match="--overwrite") as refused:
            staging.commit("o.mp4", tmp_path / "o.mp4", overwrite=False)
        assert (tmp_path / "o.mp4").read_bytes() == b"the first run"
        assert (tmp_path / "o-2.mp4").read_bytes() == b"the second run"
        assert str(tmp_path / "o-2.mp4") in str(refused.value)
        victim = tmp_path / "victim.txt"
        victim.write_text("precious\n")
        (tmp_path / "p.mp4").symlink_to(victim)
        (tmp_path / "d.mp4").symlink_to(tmp_path / "nowhere")
        for name in ("p.mp4", "d.mp4"):
            staging.file(name).write_bytes(b"new")
            with pytest.raises(OutputError):
                staging.commit(name, tmp_path / name, overwrite=False)
            assert (tmp_path / name).is_symlink()
        assert victim.read_text() == "precious\n" and not (tmp_path / "nowhere").exists()
        staging.file("q.mp4").write_bytes(b"free")
        staging.commit("q.mp4", tmp_path / "q.mp4", overwrite=False)
        assert (tmp_path / "q.mp4").read_bytes() == b"free"
        assert not staging.file("q.mp4").exists()
    finally:
        staging.discard()


def test_staging_folders_are_private_and_unpredictable(tmp_path):
    first = VideoFileSink(tmp_path / "a.mp4", time_base=Fraction(1, 24), rate=Fraction(24))
    second = VideoFileSink(tmp_path / "b.mp4", time_base=Fraction(1, 24), rate=Fraction(24))
    folders = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(folders) == 2 and folders[0].name != folders[1].name
    for folder in folders:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    first.abort()
    second.abort()
    assert list(tmp_path.iterdir()) == []


# 3 and 4. a full disk: one line, exit 2, nothing left --------------------------------------

def test_a_disk_that_fills_while_finishing_leaves_nothing(tmp_path):
    rng = np.random.default_rng(0)
    with tmpfs(tmp_path / "disk", "size=64k") as disk:
        sink = VideoFileSink(disk / "o.mp4", time_base=Fraction(1, 24), rate=Fraction(24))
        for index in range(40):  # the encoder holds the last frames back until close()
            noise = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
            sink.write(noise, Frame(rgb=noise, index=index, pts=index))
        with pytest.raises(OutputError, match="disk is full"):
            sink.close()
        assert list(disk.iterdir()) == []


def test_a_full_disk_during_encoding(capsys, sample_clip, tmp_path):
    with tmpfs(tmp_path / "disk", "size=16k") as disk:
        assert run(sample_clip, "--bg", "blur", "-o", disk / "o.mp4") == 2
        message = one_line(capsys)
        assert "disk is full" in message and str(disk) in message
        assert list(disk.iterdir()) == []


def test_a_full_disk_for_pictures_mattes_and_stats(capsys, sample_clip, tmp_path):
    portrait = picture(tmp_path / "in.png", (480, 640))
    with tmpfs(tmp_path / "disk", "size=8k") as disk:
        assert run(portrait, "--bg", "blur", "-o", disk / "o.png") == 2
        assert "disk is full" in one_line(capsys)
        assert run(sample_clip, "--bg", "blur", "-o", tmp_path / "o.mp4",
                   "--alpha-output", disk / "a" / "%05d.png") == 2
        assert "disk is full" in one_line(capsys)
        assert not (tmp_path / "o.mp4").exists()
        fill(disk)
        assert run(portrait, "--bg", "blur", "-o", tmp_path / "p.png", "--stats",
                   disk / "s.json") == 2
        assert "disk is full" in one_line(capsys)
        assert not (disk / "s.json").exists()
        assert [p for p in disk.iterdir() if p.name.startswith(".")] == []


# 6. signals ----------------------------------------------------------------------------------

def _slow_job(tmp_path: Path, clip: Path, *extra: str | Path) -> tuple[list[str], Path]:
    out = tmp_path / "out" / "o.mp4"
    out.parent.mkdir()
    return [sys.executable, "-m", "rtmatte.cli", str(clip), "--bg", "blur", "-o", str(out),
            *map(str, extra), "--quiet"], out


@pytest.mark.slow
def test_sigterm_finishes_like_ctrl_c(tmp_path, long_clip):
    command, out = _slow_job(tmp_path, long_clip)
    process = start_as_from_terminal(command, stderr=subprocess.PIPE, text=True)
    wait_for_staging(out.parent, process)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=HANG_S)
    assert process.returncode == 128 + signal.SIGTERM, err
    assert "terminated" in err and "Traceback" not in err
    assert list(out.parent.iterdir()) == []


@pytest.mark.slow
def test_the_next_run_clears_what_sigkill_left(tmp_path, long_clip):
    command, out = _slow_job(tmp_path, long_clip)
    process = start_as_from_terminal(command, stderr=subprocess.DEVNULL)
    wait_for_staging(out.parent, process)
    process.kill()
    process.wait()
    left = leftovers(out.parent)
    assert len(left) == 1
    # something alike that is not rtmatte's own, or belongs to a live process, stays
    alive = out.parent / f"{left[0].rsplit('-', 2)[0]}-{os.getpid()}-keepme"
    alive.mkdir()
    link = out.parent / f"{left[0]}-link"
    link.symlink_to(tmp_path)
    clear_stale(out.parent)
    assert leftovers(out.parent) == sorted([alive.name, link.name])


# 7. an interrupted matte sequence leaves nothing; an overwrite leaves no extras --------------

@pytest.mark.slow
def test_ctrl_c_with_alpha_output_leaves_no_pictures(tmp_path, long_clip):
    """Ctrl-C once mattes are staged (the clip is far too long to be done by then): neither
    the video nor a single picture of the sequence is left, nor the folder made for it."""
    alpha = tmp_path / "out" / "a"
    command, out = _slow_job(tmp_path, long_clip, "--alpha-output", alpha / "%05d.png")
    process = start_as_from_terminal(command, stderr=subprocess.PIPE, text=True)
    wait_for_staging(alpha, process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=HANG_S)
    assert process.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert list(out.parent.iterdir()) == []


def test_overwrite_of_a_longer_sequence_removes_its_extra_frames(sample_clip, tmp_path):
    alpha = tmp_path / "a"
    alpha.mkdir()
    for number in range(1, CLIP_FRAMES + 11):
        (alpha / f"{number:05d}.png").write_bytes(b"old")
    (alpha / "notes.txt").write_text("mine")
    assert run(sample_clip, "--bg", "blur", "-o", tmp_path / "o.mp4",
               "--alpha-output", alpha / "%05d.png") == 2  # refused without --overwrite
    assert run(sample_clip, "--bg", "blur", "-o", tmp_path / "o.mp4", "--overwrite",
               "--alpha-output", alpha / "%05d.png") == 0
    names = sorted(p.name for p in alpha.iterdir())
    assert names == [f"{n:05d}.png" for n in range(1, CLIP_FRAMES + 1)] + ["notes.txt"]
    assert cv2.imread(str(alpha / "00001.png"), cv2.IMREAD_UNCHANGED).ndim == 2


# 8. a folder with a failing file reports every file ----------------------------------------

def test_a_folder_with_failures_reports_each_file(capsys, sample_clip, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(sample_clip.read_bytes())
    (folder / "b.mp4").write_text("not a video\n" * 20)
    picture(folder / "c.png")
    (folder / "d.jpg").write_bytes(b"\xff\xd8 truncated")
    out, stats = tmp_path / "out", tmp_path / "s.json"
    assert main([str(folder), "-o", str(out), "--bg", "blur", "--stats", str(stats)]) == 3
    err = capsys.readouterr().err
    assert f"wrote {out / 'a.mp4'}" in err and f"wrote {out / 'c.png'}" in err
    summary = err.strip().splitlines()[-1]
    assert "2 of 4 files failed" in summary and "b.mp4" in summary and "d.jpg" in summary
    report = json.loads(stats.read_text())
    assert [Path(f["output"]).name for f in report["files"]] == ["a.mp4", "c.png"]
    assert [Path(f["input"]).name for f in report["failed"]] == ["b.mp4", "d.jpg"]
    assert all(f["error"] for f in report["failed"])
    assert report["frames"] == CLIP_FRAMES + 1


def test_a_folder_where_every_file_fails_exits_2(capsys, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "b.mp4").write_text("not a video\n" * 20)
    assert run(folder, "-o", tmp_path / "out", "--bg", "blur") == 2


# 10. bad values: exit 2 with one line ------------------------------------------------------

@pytest.mark.parametrize("args, words", [
    (["--alpha-output", "{tmp}/a/100%.png"], "lone %"),
    (["--alpha-output", "{tmp}/a/%d-%d.png"], "one number field"),
    (["--config", "{tmp}"], "is a folder"),
    (["--preset", "../configs/balanced"], "unknown preset"),
    (["--bg", "#0x1234"], "colour"),
])
def test_bad_values_get_one_line(capsys, sample_clip, tmp_path, args, words):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert run(sample_clip, "-o", tmp_path / "o.mp4", *(["--bg", "blur"] * ("--bg" not in args)),
               *args) == 2
    assert words in one_line(capsys)
    assert not (tmp_path / "o.mp4").exists()


def test_a_true_downsample_ratio_in_a_config_is_refused(capsys, sample_clip, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("downsample_ratio = true\n")
    assert run(sample_clip, "--bg", "blur", "-o", tmp_path / "o.mp4", "--config", config) == 2
    assert "downsample ratio" in one_line(capsys)


# 11. an input picture's own transparency is kept -------------------------------------------

def test_a_transparent_input_picture_keeps_what_it_hides(tmp_path):
    from rtmatte.samples import clip_frame

    rgb = clip_frame(0, 1, 320, 240)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    rgba[:, 200:, 3] = 0  # the right part is already cut away (the person reaches into it)
    source = tmp_path / "cut.png"
    cv2.imwrite(str(source), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    out = tmp_path / "o.png"
    assert run(source, "--bg", "transparent", "-o", out) == 0
    alpha = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)[..., 3]
    assert alpha[:, 200:].max() == 0
    assert alpha[int(0.6 * 240):int(0.9 * 240), int(0.15 * 320):int(0.4 * 320)].mean() > 200

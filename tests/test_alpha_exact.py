"""The matte sequence (``--alpha-output``) holds exactly the matte, rounded to the nearest of 256
levels: PNG values read back equal round(alpha * 255) on a matte with known values, through the
sink and through a whole run. Also its file naming, as FFmpeg's image sequences do it."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import tmpfs

from rtmatte import api
from rtmatte.errors import OutputError
from rtmatte.post import build_post
from rtmatte.samples import clip_frame
from rtmatte.settings import load_settings
from rtmatte.sinks.alpha import AlphaSequenceSink, FramePattern
from rtmatte.types import Frame, Matte


def _known_matte() -> np.ndarray:
    """Every level k/255 shifted by -0.45..+0.45 of a step (never a tie), and values past 0
    and 1 that must clip: a float32 matte of shape (8, 256)."""
    levels = np.arange(256, dtype=np.float64)
    offsets = np.array([-0.45, -0.3, -0.1, 0.0, 0.1, 0.3, 0.45, 0.2])
    alpha = (levels[None, :] + offsets[:, None]) / 255.0
    alpha[7, :4] = [-0.2, -1e-6, 1.0 + 1e-6, 1.7]
    return alpha.astype(np.float32)


def _read(path: Path) -> np.ndarray:
    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert pixels is not None and pixels.dtype == np.uint8 and pixels.ndim == 2, path
    return pixels


def _frame(shape: tuple[int, int], index: int = 0) -> Frame:
    return Frame(rgb=np.zeros((*shape, 3), np.uint8), index=index)


def test_png_values_are_the_matte_rounded_to_the_nearest_level(tmp_path: Path) -> None:
    alpha = _known_matte()
    expected = np.clip(np.rint(alpha.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    assert expected[7, 0] == 0 and expected[7, 3] == 255
    sink = AlphaSequenceSink(str(tmp_path / "a" / "%04d.png"))
    fgr = np.zeros((*alpha.shape, 3), np.uint8)
    sink.write(np.zeros((*alpha.shape, 3), np.uint8), _frame(alpha.shape),
               Matte(alpha=alpha, fgr=fgr))
    sink.write(np.zeros((*alpha.shape, 3), np.uint8), _frame(alpha.shape, 1),
               Matte(alpha=1.0 - alpha, fgr=fgr))
    assert sink.close() == tmp_path / "a" / "0001.png"
    assert np.array_equal(_read(tmp_path / "a" / "0001.png"), expected)
    flipped = np.clip(np.rint((1.0 - alpha.astype(np.float64)) * 255.0), 0, 255)
    assert np.array_equal(_read(tmp_path / "a" / "0002.png"), flipped.astype(np.uint8))
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["0001.png", "0002.png"]


def test_a_frame_shown_without_a_matte_is_all_person(tmp_path: Path) -> None:
    sink = AlphaSequenceSink(str(tmp_path / "%d.png"))
    sink.write(np.zeros((5, 7, 3), np.uint8), _frame((5, 7)), None)
    sink.close()
    assert np.array_equal(_read(tmp_path / "1.png"), np.full((5, 7), 255, np.uint8))


def test_a_whole_run_writes_the_matte_it_composited(tmp_path: Path) -> None:
    """A picture through the API with --alpha-output: the PNG is the model's matte after the
    default post chain, rounded; compared exactly wherever the matte is not within 0.001 of a
    tie between two levels (a thread count may move the last float bit there)."""
    rgb = clip_frame(0, 1, 160, 120)
    source = tmp_path / "in.png"
    cv2.imwrite(str(source), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    settings = load_settings()
    matte = build_post(settings.post)(rgb, api.open_matter(settings)(rgb))
    scaled = matte.alpha.astype(np.float64) * 255.0
    sure = np.abs(scaled - np.floor(scaled) - 0.5) > 1e-3
    soft = (matte.alpha > 0.02) & (matte.alpha < 0.98)
    assert soft.sum() > 200  # the edge is there to be rounded
    settings = dataclasses.replace(settings, alpha_output=str(tmp_path / "a" / "%03d.png"))
    api.process(source, tmp_path / "out.png", bg="blur", settings=settings)
    written = _read(tmp_path / "a" / "001.png")
    expected = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    assert np.array_equal(written[sure], expected[sure])
    assert np.abs(written.astype(int) - expected).max() <= 1


# the sequence's names and refusals ---------------------------------------------------------

@pytest.mark.parametrize(("pattern", "number", "name"), [
    ("a/%05d.png", 1, "00001.png"), ("a/%d.png", 12, "12.png"), ("a/%d.png", 7, "7.png"),
    ("f%%_%03d.PNG", 7, "f%_007.PNG"),
])
def test_frame_names_follow_the_printf_pattern(pattern: str, number: int, name: str) -> None:
    frames = FramePattern(pattern)
    assert frames.name(number) == name
    assert frames.number(name) == number
    assert frames.number("other.png") == 0
    assert frames.folder == Path(pattern).parent


@pytest.mark.parametrize(("pattern", "words"), [
    ("a%d/%05d.png", "belongs in the file name"),
    ("a/5%.png", "a lone %"),
    ("a/plain.png", "needs one number field"),
    ("a/%d_%d.png", "needs one number field"),
    ("a/%05d.jpg", "written as .png"),
])
def test_a_bad_pattern_is_refused_up_front(tmp_path: Path, pattern: str, words: str) -> None:
    with pytest.raises(OutputError, match=words):
        AlphaSequenceSink(str(tmp_path / pattern))
    assert list(tmp_path.iterdir()) == []


def test_a_lone_percent_sign_says_how_to_write_one(tmp_path: Path) -> None:
    with pytest.raises(OutputError) as refused:
        FramePattern("a/5%.png")
    assert str(refused.value) == ("--alpha-output 'a/5%.png': a lone % (write %% for a percent "
                                  "sign, %05d for the frame number)")


def test_numbers_match_only_the_whole_name(tmp_path: Path) -> None:
    frames = FramePattern(str(tmp_path / "m_%03d.png"))
    for name in ("m_001.png", "m_0002.png", "m_010.png", "x.png", "m_01.png", "m_001.png.bak",
                 "m_abc.png"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in frames.existing()] == ["m_001.png", "m_0002.png", "m_010.png"]
    assert frames.number("m_001.png.bak") == 0 and frames.number("m_01.png") == 0
    assert FramePattern(str(tmp_path / "missing" / "%d.png")).existing() == []


def test_an_existing_sequence_needs_overwrite_and_keeps_other_files(tmp_path: Path) -> None:
    folder = tmp_path / "a"
    folder.mkdir()
    for number in (1, 2, 3):
        (folder / f"{number:02d}.png").write_bytes(b"old")
    (folder / "notes.txt").write_text("mine\n")
    with pytest.raises(OutputError) as refused:
        AlphaSequenceSink(str(folder / "%02d.png"))
    assert str(refused.value) == (f"{folder / '01.png'} already exists; pass --overwrite to "
                                  "replace the sequence")
    sink = AlphaSequenceSink(str(folder / "%02d.png"), overwrite=True)
    matte = Matte(alpha=np.full((4, 4), 0.5, np.float32), fgr=np.zeros((4, 4, 3), np.uint8))
    sink.write(np.zeros((4, 4, 3), np.uint8), _frame((4, 4)), matte)
    sink.write(np.zeros((4, 4, 3), np.uint8), _frame((4, 4), 1), matte)
    # nothing moves into place before close: an interrupted run leaves the old sequence whole
    assert (folder / "01.png").read_bytes() == b"old"
    assert sink.close() == folder / "01.png"
    assert sink.written == folder / "01.png"
    assert sorted(p.name for p in folder.iterdir()) == ["01.png", "02.png", "notes.txt"]
    assert np.array_equal(_read(folder / "02.png"), np.full((4, 4), 128, np.uint8))


def test_an_aborted_or_empty_sequence_leaves_the_old_one(tmp_path: Path) -> None:
    (tmp_path / "1.png").write_bytes(b"old")
    sink = AlphaSequenceSink(str(tmp_path / "%d.png"), overwrite=True)
    sink.write(np.zeros((2, 2, 3), np.uint8), _frame((2, 2)), None)
    sink.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1.png"]
    empty = AlphaSequenceSink(str(tmp_path / "%d.png"), overwrite=True)
    assert empty.close() is None and empty.written is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1.png"]
    assert (tmp_path / "1.png").read_bytes() == b"old"


def test_a_folder_that_cannot_be_made_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("in the way\n")
    with pytest.raises(OutputError, match=r"cannot create folder .*file"):
        AlphaSequenceSink(str(tmp_path / "file" / "a" / "%d.png"))


def test_a_picture_that_cannot_be_staged_is_one_clear_error(tmp_path: Path) -> None:
    sink = AlphaSequenceSink(str(tmp_path / "%d.png"))
    sink.abort()  # the staging folder is gone, so the write cannot land
    with pytest.raises(OutputError, match=r"cannot write .*1\.png"):
        sink.write(np.zeros((2, 2, 3), np.uint8), _frame((2, 2)), None)


def test_a_full_disk_while_staging_mattes_says_so(tmp_path: Path) -> None:
    noise = np.random.default_rng(4).random((200, 200)).astype(np.float32)
    with tmpfs(tmp_path / "disk", "size=64k") as disk:
        sink = AlphaSequenceSink(str(disk / "%03d.png"))
        matte = Matte(alpha=noise, fgr=np.zeros((200, 200, 3), np.uint8))
        with pytest.raises(OutputError, match=rf"^the disk is full: {disk}/\d{{3}}\.png could"):
            for index in range(20):  # 40 kB of noise a picture: the third cannot fit
                sink.write(np.zeros((200, 200, 3), np.uint8), _frame((200, 200), index), matte)
        sink.abort()
        assert list(disk.iterdir()) == []


def test_a_folder_made_for_a_sequence_that_cannot_start_is_taken_away(tmp_path: Path) -> None:
    """No room for the staging folder (a file system out of inodes): one line, and the folder
    made for the sequence is gone again."""
    with tmpfs(tmp_path / "disk", "size=64k,nr_inodes=2") as disk:
        with pytest.raises(OutputError, match=r"^the disk is full"):
            AlphaSequenceSink(str(disk / "a" / "%d.png"))
        assert list(disk.iterdir()) == []


def test_without_overwrite_pictures_that_appear_meanwhile_are_left_as_they_are(
        tmp_path: Path) -> None:
    """Another run writing the same sequence finished first: its pictures stay (those numbered
    past this run's too), this run's are kept beside them, and one error says so."""
    folder = tmp_path / "a"
    sink = AlphaSequenceSink(str(folder / "%04d.png"))
    matte = Matte(alpha=np.full((4, 4), 0.5, np.float32), fgr=np.zeros((4, 4, 3), np.uint8))
    for index in range(2):
        sink.write(np.zeros((4, 4, 3), np.uint8), _frame((4, 4), index), matte)
    for name in ("0002.png", "0003.png"):  # the other run's pictures, landed meanwhile
        (folder / name).write_bytes(b"theirs")
    with pytest.raises(OutputError, match=r"1 matte pictures \(0002.png first\) appeared"):
        sink.close()
    assert (folder / "0002.png").read_bytes() == b"theirs"
    assert (folder / "0003.png").read_bytes() == b"theirs"
    assert _read(folder / "0001.png").tolist() == [[128] * 4] * 4
    assert _read(folder / "0002-2.png").tolist() == [[128] * 4] * 4
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


def test_a_link_to_nothing_at_the_output_name_is_a_taken_name(tmp_path: Path) -> None:
    """Without --overwrite a dangling link at the output name is refused up front, before any
    work, like any other file there (it used to pass the check and fail after the whole job)."""
    target = tmp_path / "out.png"
    target.symlink_to(tmp_path / "nowhere.png")
    done = subprocess.run(["rtmatte", str(_picture(tmp_path)), "--bg", "transparent", "-o",
                           str(target)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "already exists; pass --overwrite" in done.stderr
    assert target.is_symlink() and not (tmp_path / "nowhere.png").exists()
    assert not list(tmp_path.glob("out-*"))


def _picture(folder: Path) -> Path:
    path = folder / "in.png"
    cv2.imwrite(str(path), cv2.cvtColor(clip_frame(0, 1, 96, 64), cv2.COLOR_RGB2BGR))
    return path

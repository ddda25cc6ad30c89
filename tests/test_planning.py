"""Which input goes to which output (rtmatte.run.offline.plan_inputs), without the model: README's
naming rules and docs/guarantees.md's "your inputs are never touched", each refusal made before
any work, with or without --overwrite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rtmatte.errors import InputError, OutputError
from rtmatte.run.offline import default_output, plan_inputs


def _touch(folder: Path, *names: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"media")
    return [folder / name for name in names]


@pytest.mark.parametrize(("name", "transparent", "expected"), [
    ("talk.mp4", False, "talk.rtmatte.mp4"),
    ("Talk.MKV", False, "Talk.rtmatte.mkv"),
    ("talk.mp4", True, "talk.rtmatte.mov"),
    ("talk.webm", True, "talk.rtmatte.mov"),
    ("face.jpg", False, "face.rtmatte.jpg"),
    ("face.JPG", True, "face.rtmatte.png"),
])
def test_the_default_name_is_beside_the_input_with_the_tag(name: str, transparent: bool,
                                                           expected: str) -> None:
    source = Path("some/where") / name
    assert default_output(source, transparent) == Path("some/where") / expected


def test_one_file_goes_where_asked_or_beside_itself(tmp_path: Path) -> None:
    (clip,) = _touch(tmp_path, "talk.mp4")
    assert plan_inputs(clip, tmp_path / "o.mp4", False) == [(clip, tmp_path / "o.mp4")]
    assert plan_inputs(clip, None, False) == [(clip, tmp_path / "talk.rtmatte.mp4")]
    assert plan_inputs(clip, None, True) == [(clip, tmp_path / "talk.rtmatte.mov")]


def test_a_folder_beside_itself_keeps_the_tag_and_skips_earlier_outputs(tmp_path: Path) -> None:
    folder = tmp_path / "clips"
    a, b = _touch(folder, "a.mp4", "b.png")
    _touch(folder, "a.rtmatte.mp4", "notes.txt", ".hidden.mp4")
    expected = [(a, folder / "a.rtmatte.mp4"), (b, folder / "b.rtmatte.png")]
    assert plan_inputs(folder, None, False) == expected
    # the same folder named again, in another spelling, is "into itself"
    assert plan_inputs(folder, folder / "." / "", False) == expected
    assert plan_inputs(folder, tmp_path / "clips" / ".." / "clips", False) == expected


def test_a_folder_into_another_keeps_each_inputs_name(tmp_path: Path) -> None:
    folder = tmp_path / "clips"
    a, b = _touch(folder, "a.mp4", "b.png")
    out = tmp_path / "out"
    out.mkdir()
    assert plan_inputs(folder, out, False) == [(a, out / "a.mp4"), (b, out / "b.png")]
    assert plan_inputs(folder, out, True) == [(a, out / "a.mov"), (b, out / "b.png")]
    assert plan_inputs(folder, tmp_path / "new", False) == [(a, tmp_path / "new" / "a.mp4"),
                                                            (b, tmp_path / "new" / "b.png")]


def test_a_folder_needs_a_folder_to_go_into(tmp_path: Path) -> None:
    folder = tmp_path / "clips"
    _touch(folder, "a.mp4")
    (file,) = _touch(tmp_path, "o.mp4")
    with pytest.raises(OutputError, match=r"o\.mp4: for a folder of inputs, -o must name a folder"):
        plan_inputs(folder, file, False)


def test_a_folder_without_media_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    _touch(folder, "notes.txt", "a.rtmatte.mp4")
    with pytest.raises(InputError, match="empty: the folder holds no videos or images"):
        plan_inputs(folder, None, False)


def test_an_output_that_is_an_input_is_refused_in_every_spelling(tmp_path: Path) -> None:
    (clip,) = _touch(tmp_path, "talk.mp4")
    os.link(clip, tmp_path / "hard.mp4")
    (tmp_path / "soft.mp4").symlink_to(clip)
    for target in (clip, tmp_path / "hard.mp4", tmp_path / "soft.mp4",
                   tmp_path / "." / "talk.mp4"):
        with pytest.raises(OutputError) as refused:
            plan_inputs(clip, target, False)
        assert str(refused.value) == (f"{target} is an input of this run; rtmatte never writes "
                                      "over its inputs: choose another output name or folder")


def test_the_background_file_is_never_an_output(tmp_path: Path) -> None:
    clip, bg = _touch(tmp_path, "talk.mp4", "beach.jpg")
    with pytest.raises(OutputError, match=r"beach\.jpg is an input of this run"):
        plan_inputs(clip, bg, False, protect=[bg])
    assert plan_inputs(clip, tmp_path / "o.mp4", False, protect=[bg]) == [
        (clip, tmp_path / "o.mp4")]


def test_a_protected_file_in_the_output_folder_is_refused(tmp_path: Path) -> None:
    """A background picture or video that sits where a folder run would write one of its
    outputs is an input too."""
    folder = tmp_path / "clips"
    _touch(folder, "a.mp4", "a.mov")
    out = tmp_path / "out"
    (mine,) = _touch(out, "a.mp4")
    with pytest.raises(OutputError, match="is an input of this run"):
        plan_inputs(folder, out, False, protect=[mine])


@pytest.mark.parametrize("into_itself", [False, True])
def test_two_inputs_to_one_name_are_refused_naming_both(tmp_path: Path, into_itself: bool) -> None:
    folder = tmp_path / "clips"
    _touch(folder, "a.mov", "a.mp4", "b.mp4")
    target = None if into_itself else tmp_path / "out"
    where = folder / "a.rtmatte.mov" if into_itself else tmp_path / "out" / "a.mov"
    with pytest.raises(OutputError) as refused:
        plan_inputs(folder, target, True)
    assert str(refused.value) == (f"a.mov and a.mp4 would both be written to {where}; rename one "
                                  "of them or process them apart")
    # not transparent, each keeps its own container: no clash
    assert len(plan_inputs(folder, target, False)) == 3


def test_two_names_of_one_existing_output_are_one_name(tmp_path: Path) -> None:
    """a.png and a.jpg both go to out/a.png only when transparent; a link in the output folder
    making two names one file is found by the file's identity."""
    folder = tmp_path / "clips"
    _touch(folder, "a.png", "b.png")
    out = tmp_path / "out"
    (existing,) = _touch(out, "a.png")
    (out / "b.png").symlink_to(existing)
    with pytest.raises(OutputError, match=r"a.png and b.png would both be written to .*b\.png"):
        plan_inputs(folder, out, False)

"""The staging folder (rtmatte.sinks.atomic) held to each word of docs/guarantees.md, directly:
a finished file is renamed onto its name and replaces a link there (never its target), and the
clean-up of staging folders left by a killed run removes only rtmatte's own real folders, of this
machine, owned by this user, whose process is gone. Everything else alike survives."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import tmpfs

from rtmatte.errors import OutputError
from rtmatte.sinks import atomic
from rtmatte.sinks.atomic import (
    Staging,
    check_kind,
    check_name,
    check_target,
    clear_stale,
    kept_path,
    make_folder,
    name_limit,
    remove_empty_folders,
    write_bytes,
    write_error,
)

PREFIX = ".rtmatte-partial-"


def _gone_pid() -> int:
    """The number of a process that has run and ended (reaped), so nobody runs under it."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _left_by(folder: Path, host: str, pid: int, tail: str = "x1y2z3") -> Path:
    """A staging folder as a run of ``pid`` on ``host`` leaves it when killed: with a file."""
    path = folder / f"{PREFIX}{host}-{pid}-{tail}"
    path.mkdir(mode=0o700)
    (path / "o.mp4").write_bytes(b"half a video")
    return path


def _other_host() -> str:
    """A host tag of the same form as this machine's, but not this machine's."""
    return "0123abcd" if atomic._HOST != "0123abcd" else "fedc4321"


# the next run removes what a killed run of its own left ---------------------------------------

def test_a_folder_left_by_a_gone_process_of_this_host_is_removed(tmp_path: Path) -> None:
    left = _left_by(tmp_path, atomic._HOST, _gone_pid())
    staging = Staging(tmp_path)  # what every run does before it writes into a folder
    assert not left.exists()
    assert [p.name for p in tmp_path.iterdir()] == [staging.path.name]
    staging.discard()
    assert list(tmp_path.iterdir()) == []


def test_a_folder_of_another_host_survives(tmp_path: Path) -> None:
    """On a folder shared between machines, the other machine's run may still be going."""
    theirs = _left_by(tmp_path, _other_host(), _gone_pid())
    clear_stale(tmp_path)
    assert (theirs / "o.mp4").read_bytes() == b"half a video"


@pytest.mark.skipif(os.getuid() != 0, reason="handing a folder to another user needs root")
def test_a_folder_of_another_user_survives(tmp_path: Path) -> None:
    theirs = _left_by(tmp_path, atomic._HOST, _gone_pid())
    os.chown(theirs, os.getuid() + 4242, os.getgid())
    clear_stale(tmp_path)
    assert (theirs / "o.mp4").read_bytes() == b"half a video"


def test_a_folder_of_a_running_process_survives(tmp_path: Path) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                               stdin=subprocess.PIPE)
    try:
        other = _left_by(tmp_path, atomic._HOST, sleeper.pid, "other1")
        mine = _left_by(tmp_path, atomic._HOST, os.getpid(), "mine22")
        clear_stale(tmp_path)
        assert (other / "o.mp4").exists() and (mine / "o.mp4").exists()
    finally:
        sleeper.stdin.close()
    assert sleeper.wait() == 0  # asked whether it runs, never signalled: it ends on its own


@pytest.mark.skipif(os.getuid() != 0, reason="running as another user needs root")
def test_a_folder_of_another_users_running_process_survives() -> None:
    """The clean-up may not signal another user's process, and is told so: that process runs
    and its staging folder stays. Here the clean-up runs as user 4242 and the folder's process
    is this (root's) test."""
    folder = Path(tempfile.mkdtemp(prefix="rtmatte-staging-test-"))
    try:
        folder.chmod(0o755)
        left = _left_by(folder, atomic._HOST, os.getpid())
        os.chown(left, 4242, 4242)
        child = os.fork()
        if child == 0:  # the clean-up as user 4242, in a process of its own
            try:
                os.setgid(4242)
                os.setuid(4242)
                clear_stale(folder)
            finally:
                os._exit(0)
        os.waitpid(child, 0)
        assert (left / "o.mp4").exists()
        # and root's run itself: the other user's folder is not its own, its own runs on
        own = _left_by(folder, atomic._HOST, os.getpid(), "rootsown")
        clear_stale(folder)
        assert (left / "o.mp4").exists() and (own / "o.mp4").exists()
    finally:
        shutil.rmtree(folder)


def test_every_stale_folder_goes_whatever_else_lies_beside_them(tmp_path: Path) -> None:
    """Ten folders of dead runs among forty things that only look alike: all ten go, all
    forty stay, in whatever order the folder lists them."""
    gone = _gone_pid()
    stale = [_left_by(tmp_path, atomic._HOST, gone, f"dead{k:02d}") for k in range(10)]
    kept = [_left_by(tmp_path, _other_host(), gone, f"host{k:02d}") for k in range(10)]
    for k in range(10):
        plain = tmp_path / f"{PREFIX}{atomic._HOST}-{gone}-file{k:02d}"
        plain.write_text("a file\n")
        link = tmp_path / f"{PREFIX}{atomic._HOST}-{gone}-link{k:02d}"
        link.symlink_to(kept[k], target_is_directory=True)
        kept += [plain, link]
    if os.getuid() == 0:
        for k in range(10):
            theirs = _left_by(tmp_path, atomic._HOST, gone, f"user{k:02d}")
            os.chown(theirs, 4242, 4242)
            kept.append(theirs)
    clear_stale(tmp_path)
    assert not any(path.exists() for path in stale)
    assert all(path.is_symlink() or path.exists() for path in kept)


def test_what_cannot_be_removed_never_stops_a_run(tmp_path: Path) -> None:
    """A stale folder holding something that cannot be removed (here a read-only mount) is
    left as it is, and the new run goes on; so does discarding a run's own staging folder."""
    left = _left_by(tmp_path, atomic._HOST, _gone_pid())
    with tmpfs(left / "stuck", "ro,size=16k"):
        staging = Staging(tmp_path)  # clears what it can, raises nothing
        assert left.is_dir() and not (left / "o.mp4").exists()
        with tmpfs(staging.path / "stuck", "ro,size=16k"):
            staging.discard()
            assert staging.path.is_dir()
    staging.discard()
    clear_stale(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_write_bytes_on_a_full_disk_says_so_and_leaves_nothing(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "size=16k") as disk:
        with pytest.raises(OutputError, match=rf"^the disk is full: {disk / 's.json'} could "
                                              rf"not be finished \(no space left in {disk}\)"):
            write_bytes(disk / "s.json", b"x" * 200_000)
        assert list(disk.iterdir()) == []


def test_a_staging_folder_that_cannot_be_made_names_the_folder(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(OutputError) as refused:
        Staging(missing)
    assert str(refused.value) == f"cannot write {missing / 'output'}: No such file or directory"


def test_a_link_with_a_staging_name_survives_and_its_target_too(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("mine\n")
    link = tmp_path / f"{PREFIX}{atomic._HOST}-{_gone_pid()}-linked"
    link.symlink_to(precious, target_is_directory=True)
    clear_stale(tmp_path)
    assert link.is_symlink() and (precious / "keep.txt").read_text() == "mine\n"


def test_a_plain_file_or_a_stranger_name_survives(tmp_path: Path) -> None:
    gone = _gone_pid()
    plain = tmp_path / f"{PREFIX}{atomic._HOST}-{gone}-file"
    plain.write_text("not a folder\n")
    strangers = [tmp_path / name for name in (
        f"{PREFIX}{atomic._HOST}-x{gone}-abc",  # no process number
        f"{PREFIX}{atomic._HOST[:7]}-{gone}-abc",  # a host tag of another form
        f"{PREFIX}{atomic._HOST}-{gone}",  # no random part
        f"x{PREFIX}{atomic._HOST}-{gone}-abc",  # not at the start
    )]
    for path in strangers:
        path.mkdir()
    clear_stale(tmp_path)
    assert plain.read_text() == "not a folder\n"
    assert all(path.is_dir() for path in strangers)


def test_a_folder_that_cannot_be_read_is_left_alone(tmp_path: Path) -> None:
    clear_stale(tmp_path / "missing")  # no error: nothing to clear


# writing through the staging folder --------------------------------------------------------

def test_staging_is_private_named_for_this_host_and_process(tmp_path: Path) -> None:
    staging = Staging(tmp_path)
    try:
        assert staging.path.parent == tmp_path
        assert staging.path.name.startswith(f"{PREFIX}{atomic._HOST}-{os.getpid()}-")
        assert len(staging.path.name) > len(f"{PREFIX}{atomic._HOST}-{os.getpid()}-") + 4
        assert stat.S_IMODE(staging.path.stat().st_mode) == 0o700
        assert staging.file("deep/out.mp4") == staging.path / "out.mp4"
    finally:
        staging.discard()
    assert not staging.path.exists()


def test_a_commit_replaces_a_link_at_the_name_never_its_target(tmp_path: Path) -> None:
    victim = tmp_path / "elsewhere" / "victim.png"
    victim.parent.mkdir()
    victim.write_bytes(b"precious")
    target = tmp_path / "out.png"
    target.symlink_to(victim)
    staging = Staging(tmp_path)
    staging.file("out.png").write_bytes(b"new picture")
    staging.commit("out.png", target)
    staging.discard()
    assert not target.is_symlink() and target.read_bytes() == b"new picture"
    assert victim.read_bytes() == b"precious"
    assert sorted(tmp_path.iterdir()) == sorted([target, victim.parent])


def test_write_bytes_replaces_a_dangling_link_without_creating_its_target(tmp_path: Path) -> None:
    target = tmp_path / "stats.json"
    nowhere = tmp_path / "not-here" / "created.json"
    target.symlink_to(nowhere)
    write_bytes(target, b"{}\n")
    assert not target.is_symlink() and target.read_bytes() == b"{}\n"
    assert not nowhere.parent.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stats.json"]


def test_a_commit_that_fails_says_which_file_and_why(tmp_path: Path) -> None:
    staging = Staging(tmp_path)
    try:
        with pytest.raises(OutputError, match=r"cannot write .*out\.png: No such file"):
            staging.commit("out.png", tmp_path / "out.png")  # nothing staged under that name
    finally:
        staging.discard()


def test_write_bytes_into_a_missing_folder_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"cannot write .*missing.*"):
        write_bytes(tmp_path / "missing" / "o.json", b"{}")
    assert list(tmp_path.iterdir()) == []


def test_write_bytes_leaves_no_staging_when_the_write_fails(tmp_path: Path) -> None:
    target = tmp_path / "o.json"
    target.mkdir()  # a folder where the file should go: the rename fails
    with pytest.raises(OutputError, match=r"cannot write .*o\.json: Is a directory"):
        write_bytes(target, b"{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.json"]


# messages and early refusals ---------------------------------------------------------------

@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_a_full_disk_is_said_so_and_names_the_folder(tmp_path: Path, code: int) -> None:
    error = write_error(tmp_path / "o.mp4", OSError(code, os.strerror(code)))
    assert isinstance(error, OutputError)
    assert str(error).startswith(f"the disk is full: {tmp_path / 'o.mp4'} could not be finished")
    assert f"(no space left in {tmp_path.resolve()})" in str(error)
    bare = write_error(Path("o.mp4"), OSError(code, os.strerror(code)))
    assert f"in {Path('.').resolve()})" in str(bare)


def test_other_write_errors_give_their_first_line(tmp_path: Path) -> None:
    error = write_error(tmp_path / "o.mp4", OSError(errno.EACCES, "Permission denied"))
    assert str(error) == f"cannot write {tmp_path / 'o.mp4'}: Permission denied"
    plain = write_error(tmp_path / "o.mp4", ValueError("first line\nsecond line"))
    assert str(plain) == f"cannot write {tmp_path / 'o.mp4'}: first line"
    bare = write_error(tmp_path / "o.mp4", ValueError())
    assert str(bare) == f"cannot write {tmp_path / 'o.mp4'}: ValueError"


def test_an_existing_output_needs_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "o.mp4"
    target.write_bytes(b"old")
    with pytest.raises(OutputError, match="already exists; pass --overwrite"):
        check_target(target, overwrite=False)
    check_target(target, overwrite=True)
    check_target(tmp_path / "new.mp4", overwrite=False)


def test_a_folder_or_a_missing_folder_is_no_output(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="is a folder; give a file name"):
        check_target(tmp_path, overwrite=True)
    with pytest.raises(OutputError, match=r"folder .*nope does not exist"):
        check_target(tmp_path / "nope" / "o.mp4", overwrite=False)


def test_a_read_only_folder_is_refused(tmp_path: Path) -> None:
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(tmp_path)],
                      capture_output=True).returncode != 0:
        if os.getuid() == 0:
            pytest.skip("cannot mount a read-only tmpfs here")
        tmp_path.chmod(0o500)  # not root: a folder without write permission does
    try:
        with pytest.raises(OutputError, match="is not writable"):
            check_target(tmp_path / "o.mp4", overwrite=False)
    finally:
        subprocess.run(["umount", "-l", str(tmp_path)], capture_output=True)
        tmp_path.chmod(0o700)


def test_an_output_name_a_bare_file_name_is_checked_in_the_working_folder(tmp_path: Path,
                                                                          monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    check_target(Path("o.mp4"), overwrite=False)
    write_bytes(Path("o.json"), b"{}")
    assert (tmp_path / "o.json").read_bytes() == b"{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.json"]


@pytest.mark.parametrize(("name", "kind", "refused"), [
    ("o.mp4", "video", False), ("o.WEBM", "video", False), ("o.png", "video", True),
    ("o.png", "image", False), ("o.JPG", "image", False), ("o.mov", "image", True),
])
def test_the_extension_must_fit_the_kind(name: str, kind: str, refused: bool) -> None:
    if not refused:
        check_kind(Path(name), kind)
        return
    what, allowed = (("a video", ".mp4, .m4v, .mov, .mkv, .webm") if kind == "video" else
                     ("a picture", ".png, .jpg, .jpeg, .webp, .bmp, .tif, .tiff"))
    with pytest.raises(OutputError) as refused:
        check_kind(Path(name), kind)
    assert str(refused.value) == (f"{name}: {what} is written as {allowed}; choose an output "
                                  "name with one of those extensions")


def test_a_partial_result_has_its_own_name() -> None:
    assert kept_path(Path("out/talk.mp4")) == Path("out/talk.partial.mp4")


# names the file system cannot hold; folders made for a run and taken away again -----------

def test_the_name_limit_is_the_file_systems(tmp_path: Path) -> None:
    limit = os.pathconf(tmp_path, "PC_NAME_MAX")
    assert name_limit(tmp_path) == limit
    assert name_limit(tmp_path / "not" / "yet") == limit  # the nearest folder that exists
    assert name_limit(Path("")) == os.pathconf(".", "PC_NAME_MAX")


def test_a_name_longer_than_the_file_system_takes_is_refused_in_one_line(tmp_path: Path) -> None:
    limit = name_limit(tmp_path)
    check_name(tmp_path / ("a" * (limit - 4) + ".mp4"))  # exactly the limit: fine
    long = "a" * (limit - 3) + ".mp4"
    with pytest.raises(OutputError) as refused:
        check_target(tmp_path / long, overwrite=False)
    assert str(refused.value) == (f"{'a' * 24}…{'a' * 16}.mp4: the output name is {limit + 1} "
                                  f"bytes, longer than the {limit} a file name may have here; "
                                  "pass -o with a shorter name")
    wide = "é" * (limit // 2 + 1)  # bytes count, not characters
    with pytest.raises(OutputError, match=rf"is {2 * len(wide)} bytes.*; use fewer"):
        check_name(tmp_path / wide, hint="use fewer")


def test_a_partial_name_is_cut_to_fit(tmp_path: Path) -> None:
    limit = name_limit(tmp_path)
    target = tmp_path / ("v" * (limit - 5) + ".mp4")  # 7 characters too long once .partial
    kept = kept_path(target)
    assert len(os.fsencode(kept.name)) == limit and kept.name.endswith("v.partial.mp4")
    assert kept.parent == tmp_path


def test_folders_made_for_a_run_are_listed_and_taken_away_when_empty(tmp_path: Path) -> None:
    assert make_folder(tmp_path) == []
    made = make_folder(tmp_path / "a" / "b" / "c")
    assert made == [tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a" / "b" / "c"]
    (tmp_path / "a" / "keep.txt").write_text("written\n")
    remove_empty_folders(made)  # innermost first; a folder with something in it stays
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["keep.txt"]
    remove_empty_folders([tmp_path / "gone"])  # already gone: nothing to say
    made = make_folder(tmp_path / "x" / "y" / "z")
    (tmp_path / "x" / "y" / "z").rmdir()  # the innermost is gone already: the rest still go
    remove_empty_folders(made)
    assert not (tmp_path / "x").exists()
    (tmp_path / "file").write_text("in the way\n")
    with pytest.raises(OutputError, match=r"^cannot create folder .*file.*: Not a directory"):
        make_folder(tmp_path / "file" / "sub")


# without --overwrite, a name taken meanwhile is never replaced -------------------------------

def test_a_commit_without_overwrite_onto_a_free_name_moves_the_file(tmp_path: Path) -> None:
    staging = Staging(tmp_path)
    staging.file("o.png").write_bytes(b"new")
    staging.commit("o.png", tmp_path / "o.png", overwrite=False)
    assert (tmp_path / "o.png").read_bytes() == b"new"
    assert list(staging.path.iterdir()) == []
    staging.discard()


def test_a_name_taken_meanwhile_keeps_both_results(tmp_path: Path) -> None:
    """Another run finished first: its file stays, this run's result goes beside it as
    STEM-N.EXT (the first free N from 2), and the message says where."""
    target = tmp_path / "o.png"
    target.write_bytes(b"the other run's")
    (tmp_path / "o-2.png").write_bytes(b"older still")
    staging = Staging(tmp_path)
    staging.file("o.png").write_bytes(b"this run's")
    with pytest.raises(OutputError) as refused:
        staging.commit("o.png", target, overwrite=False)
    staging.discard()
    kept = tmp_path / "o-3.png"
    assert str(refused.value) == (f"{target} appeared while this run was going (another run "
                                  "writing to the same name?); it was left as it is and this "
                                  f"run's result was kept as {kept}; pass --overwrite to "
                                  "replace it")
    assert target.read_bytes() == b"the other run's" and kept.read_bytes() == b"this run's"
    assert (tmp_path / "o-2.png").read_bytes() == b"older still"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o-2.png", "o-3.png", "o.png"]


def test_without_overwrite_a_link_at_the_name_is_neither_followed_nor_replaced(
        tmp_path: Path) -> None:
    target = tmp_path / "s.json"
    target.symlink_to(tmp_path / "nowhere.json")
    with pytest.raises(OutputError, match=r"kept as .*s-2\.json"):
        write_bytes(target, b"{}", overwrite=False)
    assert target.is_symlink() and not (tmp_path / "nowhere.json").exists()
    assert (tmp_path / "s-2.json").read_bytes() == b"{}"


def test_when_every_name_beside_is_taken_the_run_says_so(tmp_path: Path) -> None:
    """o.png and o-2.png up to o-9999.png all there: one line, nothing replaced."""
    for number in range(2, 10_000):
        (tmp_path / f"o-{number}.png").touch()
    (tmp_path / "o.png").write_bytes(b"the other run's")
    (tmp_path / "o-10000.png").unlink(missing_ok=True)
    with pytest.raises(OutputError) as refused:
        write_bytes(tmp_path / "o.png", b"this run's", overwrite=False)
    assert str(refused.value) == (f"cannot write {tmp_path / 'o.png'}: every name up to -9999 "
                                  "is taken")
    assert (tmp_path / "o.png").read_bytes() == b"the other run's"
    assert not (tmp_path / "o-10000.png").exists()
    assert len(list(tmp_path.iterdir())) == 9999

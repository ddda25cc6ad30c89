"""Writing outputs so that the target name only ever holds a complete file.

Every output is first written inside a *staging folder*: a hidden folder beside the target,
created exclusively by :func:`tempfile.mkdtemp` with an unpredictable name and mode 0700. Nobody
else can create or swap entries inside it, so a link planted in the target's folder can never
redirect what rtmatte writes; a finished file is renamed into place (``os.replace`` replaces a
link at the target name itself, never the file it points to; without ``--overwrite`` a hard link
claims the name instead, which fails rather than replace a file another run put there
meanwhile), and the folder is removed.

A staging folder's name carries the host and process that made it, so a later run into the same
folder can clear the ones left by a process that was killed outright (SIGKILL, power loss) while
never touching a run still going on, on this machine or another sharing the folder.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import socket
import stat
import sys
import tempfile
from pathlib import Path

from rtmatte.errors import OutputError
from rtmatte.media import WRITABLE_IMAGE_EXTENSIONS, WRITABLE_VIDEO_EXTENSIONS

_PREFIX = ".rtmatte-partial-"
_HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]
_STAGING_NAME = re.compile(rf"^{re.escape(_PREFIX)}(?P<host>[0-9a-f]{{8}})-(?P<pid>\d+)-")
_DISK_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
#: what ``os.link`` fails with where the file system has no hard links
_NO_HARD_LINKS = (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS)


def check_kind(target: Path, kind: str) -> None:
    """Refuse an output name whose extension rtmatte cannot write ``kind`` ('video'/'image') as."""
    allowed = WRITABLE_VIDEO_EXTENSIONS if kind == "video" else WRITABLE_IMAGE_EXTENSIONS
    if target.suffix.lower() not in allowed:
        what = "a video" if kind == "video" else "a picture"
        raise OutputError(f"{target.name}: {what} is written as {', '.join(allowed)}; "
                          "choose an output name with one of those extensions")


def name_limit(folder: Path) -> int:
    """The longest file name, in bytes, that the file system holding ``folder`` takes (the
    nearest folder that exists answers; 255, the common limit, where none says)."""
    folder = Path(folder)
    for place in [folder, *folder.parents]:
        try:
            return os.pathconf(place, "PC_NAME_MAX")
        except (OSError, ValueError, AttributeError):  # missing, or no pathconf (Windows)
            continue
    return 255


def check_name(target: Path, hint: str = "pass -o with a shorter name") -> None:
    """Refuse an output name longer than its file system takes, in one line, before any work
    (the system would only say so when the file is opened, as an OSError)."""
    size = len(os.fsencode(target.name))
    limit = name_limit(target.parent)
    if size > limit:
        shown = f"{target.name[:24]}…{target.name[-20:]}" if len(target.name) > 48 \
            else target.name
        raise OutputError(f"{shown}: the output name is {size} bytes, longer than the {limit} "
                          f"a file name may have here; {hint}")


def check_target(target: Path, overwrite: bool) -> None:
    """Refuse early (before any work) when the output cannot or must not be written."""
    check_name(target)
    if os.path.lexists(target) and not overwrite:  # a link to nothing holds the name too
        raise OutputError(f"{target} already exists; pass --overwrite to replace it")
    if target.is_dir():
        raise OutputError(f"{target} is a folder; give a file name for the output")
    parent = target.parent
    if not parent.is_dir():
        raise OutputError(f"cannot write {target}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"cannot write {target}: folder {parent} is not writable")


def make_folder(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; returns those made, outermost first, so a
    run that writes nothing into them can take them away again (:func:`remove_empty_folders`)."""
    folder = Path(folder)
    missing = [place for place in [folder, *folder.parents] if not place.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create folder {folder}: {exc.strerror or exc}") from exc
    return missing[::-1]


def remove_empty_folders(folders: list[Path]) -> None:
    """Remove those of ``folders`` (as :func:`make_folder` returns them) that are still empty,
    innermost first: a refused or failed run leaves no empty folder behind it."""
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:  # something is in it (or it is gone): it stays as it is
            continue


def kept_path(target: Path) -> Path:
    """Where a playable but incomplete result goes, so the target name never holds one: the
    stem is shortened where ``.partial`` would make the name too long for the file system."""
    stem, tail = target.stem, f".partial{target.suffix}"
    room = name_limit(target.parent) - len(os.fsencode(tail))
    while len(os.fsencode(stem)) > room:
        stem = stem[:-1]
    return target.with_name(f"{stem}{tail}")


def write_error(target: Path, error: BaseException) -> OutputError:
    """The one-line message for a failed write: a full disk says so and names the folder."""
    code = getattr(error, "errno", None)
    if code in _DISK_FULL:
        folder = target.parent
        return OutputError(f"the disk is full: {target} could not be finished (no space left "
                           f"in {folder.resolve()}); nothing was left under that name")
    reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return OutputError(f"cannot write {target}: {str(reason).splitlines()[0]}")


class Staging:
    """A private folder beside ``folder``'s outputs to write into before they are complete."""

    def __init__(self, folder: Path) -> None:
        folder = Path(folder)
        clear_stale(folder)
        try:
            self.path = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{_HOST}-{os.getpid()}-",
                                              dir=folder))
        except OSError as exc:
            raise write_error(folder / "output", exc) from exc

    def file(self, name: str) -> Path:
        """A path inside the folder with ``name``'s extension, so encoders pick their format."""
        return self.path / Path(name).name

    def commit(self, name: str, target: Path, overwrite: bool = True) -> None:
        """Move the staged ``name`` onto ``target`` in one atomic step (one file system).

        With ``overwrite`` whatever is at ``target`` is replaced (a link there itself, never
        what it points to). Without it nothing there is replaced, not even a file that appeared
        after the run checked the name (a second run to the same output that finished first):
        the finished file is kept beside it as ``STEM-N.EXT`` and an :class:`OutputError` says
        where, so neither run's result is lost.
        """
        staged = self.file(name)
        try:
            if overwrite:
                os.replace(staged, target)
                return
            if _move_unless_taken(staged, target):
                return
            kept = _keep_beside(staged, target)
        except OSError as exc:
            raise write_error(target, exc) from exc
        raise OutputError(f"{target} appeared while this run was going (another run writing to "
                          f"the same name?); it was left as it is and this run's result was "
                          f"kept as {kept}; pass --overwrite to replace it")

    def discard(self) -> None:
        """Remove the folder and whatever is still staged in it."""
        shutil.rmtree(self.path, ignore_errors=True)


def _move_unless_taken(source: Path, target: Path) -> bool:
    """Move ``source`` to ``target`` unless the name is taken (by a file, a folder or a link,
    never followed); False when it is. A hard link claims a name atomically or fails if it
    exists, where a check followed by a rename would leave a moment for another run to land."""
    try:
        os.link(source, target)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
        # a file system without hard links (FAT, some network shares): two steps there
        if os.path.lexists(target):
            return False
        os.rename(source, target)
        return True
    os.unlink(source)
    return True


def _keep_beside(source: Path, target: Path) -> Path:
    """Move ``source`` to the first free ``STEM-N.EXT`` beside ``target`` (N from 2)."""
    for number in range(2, 10_000):
        kept = target.with_name(f"{target.stem}-{number}{target.suffix}")
        if _move_unless_taken(source, kept):
            return kept
    raise FileExistsError(errno.EEXIST, "every name up to -9999 is taken", str(target))


def write_bytes(target: Path, data: bytes, overwrite: bool = True) -> None:
    """Write ``data`` to ``target`` through a staging folder: complete, or not at all; without
    ``overwrite`` never over a file that is there when it is done (see :meth:`Staging.commit`)."""
    target = Path(target)
    staging = Staging(target.parent)
    try:
        staging.file(target.name).write_bytes(data)
        staging.commit(target.name, target, overwrite)
    except OSError as exc:
        raise write_error(target, exc) from exc
    finally:
        staging.discard()


def clear_stale(folder: Path) -> None:
    """Remove staging folders in ``folder`` left by rtmatte processes of this host that are gone.

    Only real folders (never links), owned by this user, with this host's tag and a process
    number that no longer runs are removed; anything else with a similar name is left alone.
    """
    if sys.platform == "win32":  # os.kill(pid, 0) would end the process there, not probe it
        return
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        match = _STAGING_NAME.match(entry.name)
        if match is None or match["host"] != _HOST:
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            continue
        if not _running(int(match["pid"])):
            shutil.rmtree(entry.path, ignore_errors=True)


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True

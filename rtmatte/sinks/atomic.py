"""Writing outputs so that the target name only ever holds a complete file.

Every output is first written inside a *staging folder*: a hidden folder beside the target,
created exclusively by :func:`tempfile.mkdtemp` with an unpredictable name and mode 0700. Nobody
else can create or swap entries inside it, so a link planted in the target's folder can never
redirect what rtmatte writes; a finished file is renamed into place (``os.replace`` replaces a
link at the target name itself, never the file it points to), and the folder is removed.

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


def check_kind(target: Path, kind: str) -> None:
    """Refuse an output name whose extension rtmatte cannot write ``kind`` ('video'/'image') as."""
    allowed = WRITABLE_VIDEO_EXTENSIONS if kind == "video" else WRITABLE_IMAGE_EXTENSIONS
    if target.suffix.lower() not in allowed:
        what = "a video" if kind == "video" else "a picture"
        raise OutputError(f"{target.name}: {what} is written as {', '.join(allowed)}; "
                          "choose an output name with one of those extensions")


def check_target(target: Path, overwrite: bool) -> None:
    """Refuse early (before any work) when the output cannot or must not be written."""
    if target.exists() and not overwrite:
        raise OutputError(f"{target} already exists; pass --overwrite to replace it")
    if target.is_dir():
        raise OutputError(f"{target} is a folder; give a file name for the output")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"cannot write {target}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"cannot write {target}: folder {parent} is not writable")


def kept_path(target: Path) -> Path:
    """Where a playable but incomplete result goes, so the target name never holds one."""
    return target.with_name(f"{target.stem}.partial{target.suffix}")


def write_error(target: Path, error: BaseException) -> OutputError:
    """The one-line message for a failed write: a full disk says so and names the folder."""
    code = getattr(error, "errno", None)
    if code in _DISK_FULL:
        folder = target.parent if str(target.parent) else Path(".")
        return OutputError(f"the disk is full: {target} could not be finished (no space left "
                           f"in {folder.resolve()}); nothing was left under that name")
    reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return OutputError(f"cannot write {target}: {str(reason).splitlines()[0]}")


class Staging:
    """A private folder beside ``folder``'s outputs to write into before they are complete."""

    def __init__(self, folder: Path) -> None:
        folder = Path(folder) if str(folder) else Path(".")
        clear_stale(folder)
        try:
            self.path = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{_HOST}-{os.getpid()}-",
                                              dir=folder))
        except OSError as exc:
            raise write_error(folder / "output", exc) from exc

    def file(self, name: str) -> Path:
        """A path inside the folder with ``name``'s extension, so encoders pick their format."""
        return self.path / Path(name).name

    def commit(self, name: str, target: Path) -> None:
        """Rename the staged ``name`` onto ``target`` (one atomic step on one file system)."""
        try:
            os.replace(self.file(name), target)
        except OSError as exc:
            raise write_error(target, exc) from exc

    def discard(self) -> None:
        """Remove the folder and whatever is still staged in it."""
        shutil.rmtree(self.path, ignore_errors=True)


def write_bytes(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` through a staging folder: complete, or not at all."""
    target = Path(target)
    staging = Staging(target.parent)
    try:
        staging.file(target.name).write_bytes(data)
        staging.commit(target.name, target)
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

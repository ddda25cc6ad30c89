"""Writing outputs so that the target name only ever holds a complete file."""

from __future__ import annotations

import os
from pathlib import Path

from rtmatte.errors import OutputError
from rtmatte.io.media import WRITABLE_IMAGE_EXTENSIONS, WRITABLE_VIDEO_EXTENSIONS


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


def partial_path(target: Path) -> Path:
    """A hidden name beside ``target`` (same folder, same extension) to write into first."""
    return target.with_name(f".{target.stem}.rtmatte-partial-{os.getpid()}{target.suffix}")


def kept_path(target: Path) -> Path:
    """Where a playable but incomplete result goes, so the target name never holds one."""
    return target.with_name(f"{target.stem}.partial{target.suffix}")


def commit(partial: Path, target: Path) -> None:
    os.replace(partial, target)


def discard(partial: Path) -> None:
    partial.unlink(missing_ok=True)

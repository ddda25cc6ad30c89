"""The matte itself, as a lossless PNG sequence beside (or instead of) the composite."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from rtmatte.errors import OutputError
from rtmatte.sinks.atomic import (
    Staging,
    check_name,
    make_folder,
    remove_empty_folders,
    write_error,
)
from rtmatte.sinks.image import encoded
from rtmatte.types import Frame, Matte


class AlphaSequenceSink:
    """Writes each frame's matte losslessly as an 8-bit grey PNG named by a printf pattern.

    ``alpha/%05d.png`` gives ``alpha/00001.png`` for the first frame (numbering from 1, as
    FFmpeg's image sequences do). The folder is created when missing. The pictures are staged
    and only moved into place by :meth:`close`, so an interrupted run leaves none of them, and
    a sequence written with ``--overwrite`` over a longer one removes the old one's extra frames
    instead of leaving them mixed in.
    """

    def __init__(self, pattern: str, overwrite: bool = False) -> None:
        self.pattern = FramePattern(pattern)
        self.overwrite = overwrite
        folder = self.pattern.folder
        check_name(folder / self.pattern.name(1), hint="give --alpha-output a shorter pattern")
        existing = self.pattern.existing()
        if existing and not overwrite:
            raise OutputError(f"{existing[0]} already exists; pass --overwrite to replace the "
                              "sequence")
        self._made = make_folder(folder)  # taken away again when no frame ever lands in it
        try:
            self._staging = Staging(folder)
        except OutputError:
            remove_empty_folders(self._made)
            raise
        self.frames = 0
        self.written: Path | None = None

    def write(self, picture: np.ndarray, frame: Frame, matte: Matte | None = None) -> None:
        """Stage the frame's matte; a frame shown without one (the effect switched off in a
        live run) is all person, so the sequence keeps one picture per frame delivered."""
        if matte is None:
            pixels = np.full(picture.shape[:2], 255, np.uint8)
        else:
            pixels = np.clip(matte.alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)
        name = self.pattern.name(self.frames + 1)
        try:
            self._staging.file(name).write_bytes(encoded(Path(name), pixels))
        except OSError as exc:
            raise write_error(self.pattern.folder / name, exc) from exc
        self.frames += 1

    def close(self) -> Path | None:
        """Move the staged pictures into place; returns the first one's path (None if none)."""
        if self.frames == 0:
            self.abort()
            return None
        try:
            stale = [p for p in self.pattern.existing()
                     if self.pattern.number(p.name) > self.frames] if self.overwrite else []
            taken = []  # without --overwrite, pictures that appeared meanwhile stay as they are
            for number in range(1, self.frames + 1):
                name = self.pattern.name(number)
                try:
                    self._staging.commit(name, self.pattern.folder / name, self.overwrite)
                except OutputError:  # this run's picture was kept beside it, as NAME-2.png
                    taken.append(name)
            for path in stale:
                path.unlink(missing_ok=True)
        finally:
            self._staging.discard()
        if taken:
            raise OutputError(f"{len(taken)} matte pictures ({taken[0]} first) appeared in "
                              f"{self.pattern.folder} while this run was going; they were left "
                              "as they are and this run's were kept beside them as NAME-2.png; "
                              "pass --overwrite to replace them")
        self.written = self.pattern.folder / self.pattern.name(1)
        return self.written

    def abort(self) -> None:
        """Drop the staged pictures; an older sequence under the pattern stays as it was, and
        a folder this sink made is removed when empty."""
        self._staging.discard()
        remove_empty_folders(self._made)


class FramePattern:
    """A printf-style file name with one frame number, as FFmpeg's image sequences take it.

    Only ``%d`` or ``%0Nd`` (once, in the file name) and ``%%`` are accepted, so a stray ``%``
    is refused up front instead of failing when the first picture is written.
    """

    _FIELD = re.compile(r"%(0\d+)?d|%%|%")

    def __init__(self, pattern: str) -> None:
        self.text = pattern
        path = Path(pattern)
        self.folder = path.parent
        if "%" in str(self.folder):
            raise OutputError(f"--alpha-output {pattern!r}: the frame number belongs in the file "
                              "name, not the folder")
        regex, fields = [], 0
        position = 0
        for match in self._FIELD.finditer(path.name):
            regex.append(re.escape(path.name[position:match.start()]))
            position = match.end()
            if match.group(0) == "%%":
                regex.append("%")
            elif match.group(0) == "%":
                raise OutputError(f"--alpha-output {pattern!r}: a lone % (write %% for a percent "
                                  "sign, %05d for the frame number)")
            else:
                fields += 1
                width = int(match.group(1) or 0)
                regex.append(rf"(\d{{{max(width, 1)},}})")
        regex.append(re.escape(path.name[position:]))
        if fields != 1:
            raise OutputError(f"--alpha-output {pattern!r} needs one number field like %05d")
        self._name = path.name
        self._regex = re.compile("".join(regex) + r"\Z")
        if Path(self.name(1)).suffix.lower() != ".png":
            raise OutputError(f"--alpha-output {pattern!r}: the matte is written as .png files")

    def name(self, number: int) -> str:
        return self._name % number

    def number(self, name: str) -> int:
        match = self._regex.match(name)
        return int(match.group(1)) if match else 0

    def existing(self) -> list[Path]:
        """Files in the folder that the pattern could have written, in frame order."""
        if not self.folder.is_dir():
            return []
        found = [p for p in self.folder.iterdir() if self.number(p.name) > 0]
        return sorted(found, key=lambda p: self.number(p.name))

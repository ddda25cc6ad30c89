"""What a cluster run has finished, kept in the output folder so a rerun does only the rest.

The manifest is one JSON file, ``rtmatte-manifest.json``, rewritten whole after each finished
file through a staging folder (:func:`rtmatte.sinks.atomic.write_bytes`): a driver killed at any
instant leaves the last complete version, never a torn one. A record names the input (path,
size, modification time), the settings and model it was made with (one fingerprint), the output
and its size, and the frames and seconds it took. A file counts as done only while all of those
still hold, so a changed input, other settings or a deleted output are done again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rtmatte.errors import OutputError
from rtmatte.run.offline import JobResult
from rtmatte.settings import Settings
from rtmatte.sinks.atomic import write_bytes

MANIFEST_NAME = "rtmatte-manifest.json"
_VERSION = 1


def settings_fingerprint(settings: Settings, model_sha256: str) -> str:
    """One digest of everything that shapes an output: the settings (bar ``overwrite``, which
    decides only whether a name may be replaced) and the model file's own sha256."""
    values = dataclasses.asdict(settings)
    for key in ("overwrite", "model", "model_path"):
        values.pop(key, None)
    values["model_sha256"] = model_sha256
    text = json.dumps(values, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Record:
    """One finished output, and what it was made from."""

    input: str
    input_size: int
    input_mtime_ns: int
    settings: str
    output: str
    output_size: int
    frames: int
    seconds: float
    host: str
    finished: str


class Manifest:
    """The records of one output folder, keyed by output path."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / MANIFEST_NAME
        self.records: dict[str, Record] = self._load()

    def _load(self) -> dict[str, Record]:
        try:
            data = json.loads(self.path.read_text())
            return {item["output"]: Record(**item) for item in data["files"]}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise OutputError(f"{self.path} is not a manifest rtmatte can read ({exc}); move it "
                              "away to start the batch afresh") from exc

    def is_done(self, source: Path, target: Path, fingerprint: str) -> bool:
        """Whether ``target`` holds ``source`` made with these settings, and both are unchanged."""
        record = self.records.get(_key(target))
        if record is None or record.settings != fingerprint or record.input != _key(source):
            return False
        try:
            made, used = os.stat(target), os.stat(source)
        except OSError:
            return False
        return (made.st_size == record.output_size and used.st_size == record.input_size
                and used.st_mtime_ns == record.input_mtime_ns)

    def owns(self, target: Path) -> bool:
        """Whether an earlier run of this batch wrote ``target``: it may be replaced without
        --overwrite, being rtmatte's own output and not a file of the user's."""
        return _key(target) in self.records

    def add(self, result: JobResult, fingerprint: str, host: str) -> None:
        source, target = Path(result.input), Path(result.output)
        used = os.stat(source)
        self.records[_key(target)] = Record(
            input=_key(source), input_size=used.st_size, input_mtime_ns=used.st_mtime_ns,
            settings=fingerprint, output=_key(target), output_size=os.stat(target).st_size,
            frames=result.frames, seconds=round(result.seconds, 4), host=host,
            finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"))

    def save(self) -> None:
        payload: dict[str, Any] = {"version": _VERSION,
                                   "files": [dataclasses.asdict(r) for r in
                                             sorted(self.records.values(),
                                                    key=lambda r: r.output)]}
        write_bytes(self.path, (json.dumps(payload, indent=1) + "\n").encode())


def _key(path: Path) -> str:
    return os.path.abspath(path)

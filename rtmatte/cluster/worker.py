"""What runs inside each Ray actor: one model, loaded once, for every file or chunk it is given.

A worker checks before any work that it reaches the run's files (inputs read, output folders
written) and that its model file is the very one the driver chose (same sha256), so a node with
another mount or another model fails the run at once, with its host named, instead of file by
file. Errors a user can fix come back as an :class:`Outcome` with the reason; only a bug or a
dead process reaches the driver as a Ray error.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rtmatte.cluster.chunks import Chunk, matte_chunk, matte_seam
from rtmatte.errors import ModelError, StreamError, UserError
from rtmatte.matting.models.fetch import sha256_of
from rtmatte.matting.open import model_path
from rtmatte.run.engine import open_matter
from rtmatte.run.offline import Job, JobResult
from rtmatte.settings import Settings

SHARED_FS_HINT = ("inputs and outputs must be on a filesystem every worker reaches at the same "
                  "path (docs/scale.md)")


@dataclass
class Outcome:
    """A file's or chunk's result, or the reason it failed; and the host that did it."""

    host: str
    result: JobResult | None = None
    error: str | None = None


class MatteWorker:
    """One engine (model, post chain, compositor) in a file Job, reused for each file or chunk
    it is handed."""

    def __init__(self, settings: Settings, model_sha256: str, cpu_threads: int | None,
                 readable: list[str], writable: list[str]) -> None:
        self.host = socket.gethostname()
        self.settings = settings
        self.job: Job | None = None
        self.problem = _access_problem(self.host, readable, writable)
        if self.problem is None:
            try:
                self.job = _open_job(settings, model_sha256, cpu_threads, self.host)
            except UserError as exc:
                self.problem = str(exc)

    def hello(self) -> dict[str, Any]:
        """Where this worker runs, its process, and what keeps it from working (None: ready)."""
        backend = self.job.engine.backend_name if self.job else None
        return {"host": self.host, "pid": os.getpid(), "backend": backend,
                "problem": self.problem}

    def run_file(self, source: str, target: str, overwrite: bool) -> Outcome:
        """One whole input, exactly as the single-machine ``Job`` writes it."""
        assert self.job is not None
        self.job.settings = dataclasses.replace(self.settings,
                                                overwrite=overwrite or self.settings.overwrite)
        try:
            return Outcome(self.host, result=self.job.run(Path(source), Path(target)))
        except (UserError, StreamError) as exc:
            return Outcome(self.host, error=str(exc))

    def run_chunk(self, chunk: Chunk) -> Outcome:
        """One chunk of a long video into its segment file."""
        assert self.job is not None
        try:
            return Outcome(self.host, result=matte_chunk(self.job, chunk))
        except (UserError, StreamError) as exc:
            return Outcome(self.host, error=str(exc))

    def run_seam(self, chunk: Chunk, start_state: str) -> Outcome:
        """One chunk's head from the state the chunk before it ended with (and its body again
        where the chunk's own state had not caught up by the body's start)."""
        assert self.job is not None
        try:
            return Outcome(self.host, result=matte_seam(self.job, chunk, Path(start_state)))
        except (UserError, StreamError) as exc:
            return Outcome(self.host, error=str(exc))


def _open_job(settings: Settings, model_sha256: str, cpu_threads: int | None,
              host: str) -> Job:
    """The worker's Job around a model file checked against the driver's sha256, on
    ``cpu_threads`` (the cores Ray gave this worker)."""
    path = model_path(settings)
    digest = sha256_of(path)
    if digest != model_sha256:
        raise ModelError(f"worker on {host}: model file {path} has sha256 {digest[:12]}…, not "
                         f"the driver's {model_sha256[:12]}…; give every node the same model")
    return Job(settings, matter=open_matter(settings, cpu_threads=cpu_threads))


def _access_problem(host: str, readable: list[str], writable: list[str]) -> str | None:
    """The first input this worker cannot read or output folder it cannot write, in words."""
    for name in readable:
        try:
            with open(name, "rb") as handle:
                handle.read(1)
        except OSError as exc:
            return f"worker on {host} cannot read {name} ({exc.strerror or exc}); {SHARED_FS_HINT}"
    for folder in writable:
        try:
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".rtmatte-probe-"):
                pass
        except OSError as exc:
            return (f"worker on {host} cannot write into {folder} ({exc.strerror or exc}); "
                    f"{SHARED_FS_HINT}")
    return None

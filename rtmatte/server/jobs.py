"""Video jobs: a bounded queue, a few workers, and results kept for a stated time.

A job belongs to the server, not to the request that made it: the client may go away and come
back for the result. Everything a job has (the upload, its background, the result, the child's
log) is in one folder made by :func:`tempfile.mkdtemp`, so cancelling or expiring a job is
removing that folder.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rtmatte.server.errors import Busy, Conflict, NotFound
from rtmatte.server.redact import for_client
from rtmatte.settings import Settings

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
_FINISHED = (DONE, FAILED, CANCELLED)
_STOP_WAIT_S = 5.0
_LOG = "worker.log"


@dataclass
class VideoJob:
    """One uploaded video to process, and where it has got to."""

    id: str
    folder: Path
    source: Path
    target: Path
    bg: str
    #: the name the result is downloaded as (the client's, cleaned)
    name: str
    #: the server's paths of this job and the names the client knows them by, for messages
    names: dict[str, str] = field(default_factory=dict, repr=False)
    state: str = QUEUED
    done: int = 0
    total: int | None = None
    fps: float = 0.0
    error: str | None = None
    result: dict[str, Any] | None = None
    created: float = field(default_factory=time.time)
    finished: float | None = None
    expires: float | None = None
    process: subprocess.Popen[str] | None = field(default=None, repr=False)


class JobQueue:
    """At most ``capacity`` jobs waiting, ``workers`` running at once, finished ones kept
    ``keep_s`` seconds (the janitor looks every ``sweep_s``)."""

    def __init__(self, settings: Settings, capacity: int = 8, workers: int = 1,
                 keep_s: float = 3600.0, sweep_s: float | None = None) -> None:
        self.settings = settings
        self.capacity = capacity
        self.keep_s = keep_s
        self.sweep_s = sweep_s if sweep_s is not None else min(60.0, max(1.0, keep_s / 4))
        self._jobs: dict[str, VideoJob] = {}
        self._waiting: collections.deque[VideoJob] = collections.deque()
        self._changed = threading.Condition()
        self._closed = False
        self._threads = [threading.Thread(target=self._work, name=f"job-worker-{n}", daemon=True)
                         for n in range(workers)]
        self._threads.append(threading.Thread(target=self._sweep, name="job-janitor",
                                              daemon=True))
        for thread in self._threads:
            thread.start()

    def new_folder(self) -> Path:
        """A private folder (mode 0700) for one job's files; refused when the queue is full,
        before the upload is copied into it."""
        self.check_room()
        return Path(tempfile.mkdtemp(prefix="rtmatte-job-"))

    def check_room(self) -> None:
        with self._changed:
            if len(self._waiting) >= self.capacity:
                raise Busy(f"{len(self._waiting)} jobs are already waiting (the limit); try "
                           "again when one has started")

    def submit(self, folder: Path, source: Path, target: Path, bg: str, name: str,
               names: dict[str, str] | None = None) -> VideoJob:
        """Queue a job; ``names`` maps its paths to the client's names of them, which its
        error message shows instead of the paths."""
        job = VideoJob(id=secrets.token_hex(8), folder=folder, source=source, target=target,
                       bg=bg, name=name, names={str(target): name, **(names or {})})
        with self._changed:
            if len(self._waiting) >= self.capacity:
                raise Busy(f"{len(self._waiting)} jobs are already waiting (the limit)")
            self._jobs[job.id] = job
            self._waiting.append(job)
            self._changed.notify_all()
        return job

    def get(self, job_id: str) -> VideoJob:
        with self._changed:
            job = self._jobs.get(job_id)
        if job is None:
            raise NotFound(f"no job {job_id} (never made, cancelled, or its result expired)")
        return job

    def result(self, job_id: str) -> VideoJob:
        """The job, when its result can be fetched."""
        job = self.get(job_id)
        if job.state != DONE:
            detail = f": {job.error}" if job.error else ""
            raise Conflict(f"job {job_id} is {job.state}{detail}; its result is not ready")
        return job

    def cancel(self, job_id: str) -> None:
        """Stop the job if it runs, forget it, and remove its files."""
        with self._changed:
            job = self._jobs.pop(job_id, None)
            if job is None:
                raise NotFound(f"no job {job_id}")
            if job in self._waiting:
                self._waiting.remove(job)
            job.state = CANCELLED if job.state not in (DONE, FAILED) else job.state
            process = job.process
        if process is not None:
            _stop(process)
        shutil.rmtree(job.folder, ignore_errors=True)

    def jobs(self) -> list[VideoJob]:
        with self._changed:
            return list(self._jobs.values())

    def close(self) -> None:
        """Cancel everything and remove every job's files (the server is stopping)."""
        with self._changed:
            self._closed = True
            ids = list(self._jobs)
            self._changed.notify_all()
        for job_id in ids:
            with contextlib.suppress(NotFound):
                self.cancel(job_id)
        for thread in self._threads:
            thread.join(timeout=_STOP_WAIT_S)

    def _work(self) -> None:
        while True:
            with self._changed:
                while not self._waiting and not self._closed:
                    self._changed.wait()
                if self._closed:
                    return
                job = self._waiting.popleft()
                job.state = RUNNING
                job.process = self._launch(job)
            self._follow(job)

    def _launch(self, job: VideoJob) -> subprocess.Popen[str]:
        request = {"source": str(job.source), "target": str(job.target), "bg": job.bg,
                   "settings": dataclasses.asdict(self.settings)}
        with (job.folder / _LOG).open("w") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "rtmatte.server.worker"], cwd=job.folder, text=True,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                start_new_session=True,  # the terminal's Ctrl-C is the server's to pass on
            )
        assert process.stdin is not None
        process.stdin.write(json.dumps(request, default=str))
        process.stdin.close()
        return process

    def _follow(self, job: VideoJob) -> None:
        """Read the child's reports until it ends, then settle the job's state."""
        process = job.process
        assert process is not None and process.stdout is not None
        answer: dict[str, Any] = {}
        for line in process.stdout:
            try:
                message = json.loads(line)
            except json.JSONDecodeError:  # said by a library while the child imported it
                continue
            if "done" in message:
                job.done, job.total, job.fps = message["done"], message["total"], message["fps"]
            else:
                answer = message
        code = process.wait()
        with self._changed:
            job.process = None
            if job.state == CANCELLED:
                return
            job.finished = time.time()
            job.expires = job.finished + self.keep_s
            if "result" in answer:
                job.result = answer["result"]
                job.state = DONE
                job.done = job.result["frames"]
                job.total = job.total or job.done
                job.fps = job.result["fps"]
            else:
                job.state = FAILED
                job.error = for_client(answer.get("error") or self._last_words(job, code),
                                       job.names)

    def _last_words(self, job: VideoJob, code: int) -> str:
        lines = (job.folder / _LOG).read_text(errors="replace").strip().splitlines()
        said = f": {lines[-1]}" if lines else ""
        return f"the job's process ended with code {code}{said}"

    def _sweep(self) -> None:
        while True:
            with self._changed:
                self._changed.wait(self.sweep_s)
                if self._closed:
                    return
                now = time.time()
                expired = [j.id for j in self._jobs.values()
                           if j.state in _FINISHED and j.expires is not None and j.expires <= now]
            for job_id in expired:
                with contextlib.suppress(NotFound):
                    self.cancel(job_id)


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=_STOP_WAIT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()

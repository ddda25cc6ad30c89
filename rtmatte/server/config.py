"""Everything ``rtmatte serve`` is started with, in one object the app is built from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rtmatte.settings import Settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
TOKEN_ENV = "RTMATTE_TOKEN"


@dataclass
class ServerConfig:
    #: every request must carry it (header, cookie, or once in the page's address)
    token: str
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    #: model, post-processing and default background, as for the command line
    settings: Settings = field(default_factory=Settings)
    max_upload_mb: float = 500.0
    #: jobs that may wait for a worker; one more gets 429
    queue: int = 8
    job_workers: int = 1
    #: how long a finished job's result is kept before it is deleted
    keep_minutes: float = 60.0
    #: pictures matted at once by /api/remove (each holds a model)
    picture_workers: int = 1
    #: a video file the panel can use as its camera, played in real time
    source: Path | None = None
    vcam_device: str | None = None
    #: ``--live``: the source the live run starts with when the server starts ('file' for
    #: ``source``, or a camera); None leaves starting it to the panel
    live_source: str | None = None
    #: the camera picture size and frame rate a ``--live`` run asks for
    live_size: tuple[int, int] | None = None
    live_fps: float | None = None
    #: names the Host header may carry besides the loopback ones and the address reached
    allow_hosts: tuple[str, ...] = ()

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 2**20)

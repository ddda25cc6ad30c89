"""``GET /api/info``: what this server is and what it takes."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from rtmatte import __version__
from rtmatte.server.config import ServerConfig
from rtmatte.server.pictures import EnginePool
from rtmatte.server.routes.schema import GUARDED, problems


class Info(BaseModel):
    version: str
    engine: str = Field(description="what the picture models run on, e.g. onnxruntime")
    max_upload_mb: float = Field(description="larger uploads get 413")
    queue: int = Field(description="video jobs that may wait; one more gets 429")
    keep_minutes: float = Field(description="how long a finished job's result is kept")
    live_file: bool = Field(description="whether the panel may use the --source file as its "
                                        "camera")


def router(config: ServerConfig, pictures: EnginePool) -> APIRouter:
    routes = APIRouter(tags=["server"], responses=problems(*GUARDED))

    @routes.get("/api/info", response_model=Info)
    def info() -> Info:
        """Version, engine and limits of this server."""
        return Info(version=__version__, engine=pictures.backend_name,
                    max_upload_mb=config.max_upload_mb, queue=config.queue,
                    keep_minutes=config.keep_minutes, live_file=config.source is not None)

    return routes

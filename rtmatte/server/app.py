"""The HTTP face of rtmatte, assembled for one config: services, checks, routes, errors.

The services are built here once: pictures (:mod:`.pictures`), video jobs (:mod:`.jobs`) and
the panel's camera session (:mod:`.live`). Each resource's routes are a router of their own
in :mod:`.routes`; this module puts around all of them what they share: the token, Host and
Origin checks (:mod:`.auth`), the upload limit (:mod:`.limits`), and the mapping of every
failure to a typed JSON answer ``{"detail": message}`` with its status, so a bad request never
takes the server down.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from rtmatte import __version__, api
from rtmatte.errors import RtmatteError, StreamError, UserError, VirtualCameraError
from rtmatte.server.auth import Guard
from rtmatte.server.config import ServerConfig
from rtmatte.server.errors import RequestError
from rtmatte.server.gallery import Gallery
from rtmatte.server.jobs import JobQueue
from rtmatte.server.limits import BodyLimit
from rtmatte.server.live import LiveRequest, LiveSession, start_beside
from rtmatte.server.overlay import OverlayFeed
from rtmatte.server.pictures import EnginePool
from rtmatte.server.redact import for_client
from rtmatte.server.routes import backgrounds, docs, info, jobs, live, overlay, pages, pictures

#: the addresses a person opens (from the printed link): they take the token in the address
PAGES = (pages.PATH, docs.PATH, overlay.PATH)


def error_answer(error: RequestError) -> Response:
    return JSONResponse({"detail": str(error)}, status_code=error.status)


def _status_of(error: RtmatteError) -> int:
    if isinstance(error, RequestError):
        return error.status
    if isinstance(error, VirtualCameraError):
        return 503
    return 422 if isinstance(error, (UserError, StreamError)) else 500


def create_app(config: ServerConfig) -> FastAPI:
    """The app for ``config``; the models load when it starts (its lifespan), not here."""
    engines = EnginePool(config.settings, config.picture_workers)
    queue = JobQueue(config.settings, capacity=config.queue, workers=config.job_workers,
                     keep_s=config.keep_minutes * 60)
    gallery = Gallery(max_pixels=config.settings.max_picture_pixels)
    session = LiveSession(config.settings, config.source,
                          api.VirtualCamera(device=config.vcam_device))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(engines.warm)
        if config.live_source is not None:  # serve --live
            start_beside(session, LiveRequest(source=config.live_source, size=config.live_size,
                                              fps=config.live_fps))
        try:
            yield
        finally:
            await run_in_threadpool(session.close)
            await run_in_threadpool(queue.close)

    app = FastAPI(title="rtmatte", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None,  # FastAPI's own pages load from a CDN
                  description="Background removal and replacement on this machine: pictures, "
                              "video jobs and the camera. Every route needs the token.")
    app.add_middleware(BodyLimit, limit=config.max_upload_bytes, answer=error_answer)
    app.add_middleware(Guard, token=config.token, port=config.port, bind_host=config.host,
                       answer=error_answer, pages=PAGES, allow_hosts=config.allow_hosts)
    _add_error_handlers(app)
    app.mount("/static", StaticFiles(directory=str(pages.STATIC)), name="static")
    app.mount("/docs-assets", StaticFiles(directory=docs.ASSETS), name="docs-assets")
    for router in (docs.router(), pages.router(), info.router(config, engines),
                   pictures.router(config, engines), jobs.router(config, queue),
                   live.router(config, session, gallery), backgrounds.router(gallery),
                   overlay.router(session, OverlayFeed(config.settings.post))):
        app.include_router(router)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    """Every failure as JSON with a message; the server stays up after each."""

    @app.exception_handler(RtmatteError)
    async def rtmatte_error(_: Request, error: RtmatteError) -> JSONResponse:
        return JSONResponse({"detail": for_client(str(error))}, status_code=_status_of(error))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, error: HTTPException) -> JSONResponse:
        return JSONResponse({"detail": str(error.detail)}, status_code=error.status_code,
                            headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in item['loc'][1:]) or 'body'}: "
                             f"{item['msg']}" for item in error.errors())
        return JSONResponse({"detail": problems or "invalid request"}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"detail": f"internal error ({type(error).__name__}); the server "
                                       "carries on"}, status_code=500)

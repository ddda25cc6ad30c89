"""The HTTP face of rtmatte: the API routes and the control panel, built for one config.

The routes only translate HTTP to the services below them and back: pictures
(:mod:`.pictures`), video jobs (:mod:`.jobs`) and the panel's camera session (:mod:`.live`).
Every failure is a typed error turned into JSON ``{"detail": message}`` with its status, so a
bad request never takes the server down.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Annotated, Any

import cv2
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from swagger_ui_bundle import swagger_ui_path

from rtmatte import __version__, api
from rtmatte.compose.backgrounds import (
    TRANSPARENT,
    Background,
    ImageBackground,
    is_transparent,
    parse_background,
)
from rtmatte.errors import RtmatteError, StreamError, UserError, VirtualCameraError
from rtmatte.server.auth import Guard
from rtmatte.server.config import ServerConfig
from rtmatte.server.errors import RequestError, Unsupported
from rtmatte.server.jobs import JobQueue
from rtmatte.server.limits import BodyLimit
from rtmatte.server.live import FILE_SOURCE, LiveRequest, LiveSession
from rtmatte.server.pictures import MatterPool, cut_out
from rtmatte.server.redact import for_client
from rtmatte.server.uploads import (
    background_spec,
    client_name,
    decode_picture,
    download_name,
    store,
)

_STATIC = resources.files(__package__).joinpath("static")
_PAGE_POLICY = ("default-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
                "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
                "form-action 'self'; base-uri 'none'")
#: the addresses a person opens (from the printed link): they take the token in the address
PAGES = ("/", "/docs")
_FORGET_TOKEN = ('<script>if (new URLSearchParams(location.search).has("token")) '
                 'history.replaceState(null, "", location.pathname + location.hash)</script>')
_VIDEO_FORMATS = {"mp4": ".mp4", "mov": ".mov", "webm": ".webm", "mkv": ".mkv"}
_ALPHA_FORMATS = (".mov", ".webm", ".mkv")
_VIDEO_TYPES = {".mp4": "video/mp4", ".mov": "video/quicktime", ".webm": "video/webm",
                ".mkv": "video/x-matroska"}
_PREVIEW_POLL_S = 0.02
_BOUNDARY = "frame"

FileField = Annotated[UploadFile, File(description="the picture or video")]
BackgroundFile = Annotated[UploadFile | None, File(description="a picture (or, for videos "
                                                   "and the camera, a video) to put behind")]


class LiveStart(BaseModel):
    #: 'file' (the server's --source), 'camera', 'camera:N' or '/dev/videoN'
    source: str | None = None
    #: WIDTHxHEIGHT asked of the camera, e.g. 1280x720
    size: str | None = None
    #: also feed the virtual camera (the preview works without one)
    vcam: bool = False


class Effect(BaseModel):
    on: bool


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
    pictures = MatterPool(config.settings, config.picture_workers)
    jobs = JobQueue(config.settings, capacity=config.queue, workers=config.job_workers,
                    keep_s=config.keep_minutes * 60)
    live = LiveSession(config.settings, config.source,
                       api.VirtualCamera(device=config.vcam_device))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(pictures.warm)
        try:
            yield
        finally:
            await run_in_threadpool(live.close)
            await run_in_threadpool(jobs.close)

    app = FastAPI(title="rtmatte", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None,  # FastAPI's own pages load from a CDN
                  description="Background removal and replacement on this machine: pictures, "
                              "video jobs and the camera. Every route needs the token.")
    app.add_middleware(BodyLimit, limit=config.max_upload_bytes, answer=error_answer)
    app.add_middleware(Guard, token=config.token, port=config.port, bind_host=config.host,
                       answer=error_answer, pages=PAGES, allow_hosts=config.allow_hosts)
    _add_error_handlers(app)
    app.mount("/static", StaticFiles(directory=str(_STATIC)), name="static")
    app.mount("/docs-assets", StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs() -> HTMLResponse:
        """The interactive API documentation (Swagger UI 5, which reads OpenAPI 3.1), its script
        and style served from this machine: opening it fetches nothing from elsewhere. Like the
        panel, it takes the token out of the address once the cookie carries it."""
        page = get_swagger_ui_html(openapi_url="/openapi.json", title="rtmatte API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/static/favicon.svg")
        html = page.body.decode().replace("</body>", f"{_FORGET_TOKEN}</body>", 1)
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        html = _STATIC.joinpath("index.html").read_text(encoding="utf-8")
        return HTMLResponse(html, headers={"Content-Security-Policy": _PAGE_POLICY,
                                           "Cache-Control": "no-store"})

    @app.get("/api/info", tags=["server"])
    def info() -> dict[str, Any]:
        """Version, engine and limits of this server."""
        return {"version": __version__, "engine": pictures.engine,
                "max_upload_mb": config.max_upload_mb, "queue": config.queue,
                "keep_minutes": config.keep_minutes, "live_file": config.source is not None}

    @app.post("/api/remove", tags=["pictures"], response_class=Response,
              responses={200: {"content": {"image/png": {}, "image/jpeg": {}},
                               "description": "the cut-out (RGBA PNG) or the composite"}})
    def remove(file: FileField, bg: Annotated[str, Form()] = TRANSPARENT,
               bg_file: BackgroundFile = None,
               format: Annotated[str, Form(pattern="^(png|jpeg)$")] = "png") -> Response:
        """Cut the person out of a picture: ``bg`` is transparent (RGBA PNG), a colour, blur or
        blur:STRENGTH; or send a picture as ``bg_file``. The matte is the command line's."""
        rgb, own_alpha = decode_picture(file.file.read(), config.settings.max_picture_pixels)
        background = _picture_background(bg, bg_file, config.settings.max_picture_pixels)
        if background is None and format != "png":
            raise RequestError("a transparent result needs format=png")
        picture = cut_out(pictures, rgb, own_alpha, background)
        suffix = f".{'jpg' if format == 'jpeg' else 'png'}"
        code = cv2.COLOR_RGBA2BGRA if picture.shape[2] == 4 else cv2.COLOR_RGB2BGR
        ok, data = cv2.imencode(suffix, cv2.cvtColor(picture, code))
        if not ok:
            raise RtmatteError("the result could not be encoded")
        name = download_name(file.filename, suffix)
        return Response(data.tobytes(), media_type=f"image/{format}",
                        headers={"Content-Disposition": f'inline; filename="{name}"'})

    @app.post("/api/jobs", status_code=202, tags=["videos"])
    def create_job(file: FileField, bg: Annotated[str | None, Form()] = None,
                   bg_file: BackgroundFile = None,
                   format: Annotated[str | None, Form(pattern="^(mp4|mov|webm|mkv)$")] = None,
                   ) -> JSONResponse:
        """Queue a video: answered 202 with the job; poll ``GET /api/jobs/{id}``. ``bg`` as for
        pictures (default: the server's), ``bg_file`` a picture or video; ``format`` mp4
        (default), or mov, webm or mkv (those also carry transparency)."""
        folder = jobs.new_folder()
        try:
            source, kind = store(file.file, folder, "input", file.filename)
            if kind != "video":
                raise Unsupported("this is a picture: send it to /api/remove")
            names = {str(source): client_name(file.filename, "the uploaded video")}
            if bg_file is not None:
                spec = str(store(bg_file.file, folder, "background", bg_file.filename)[0])
                names[spec] = client_name(bg_file.filename, "the uploaded background")
            else:
                spec = config.settings.bg if bg is None else background_spec(bg)
            suffix = _video_suffix(format, is_transparent(spec))
            job = jobs.submit(folder, source, folder / f"output{suffix}", spec,
                              download_name(file.filename, suffix), names)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return JSONResponse(job.as_dict(), status_code=202,
                            headers={"Location": f"/api/jobs/{job.id}"})

    @app.get("/api/jobs", tags=["videos"])
    def list_jobs() -> list[dict[str, Any]]:
        return [job.as_dict() for job in jobs.jobs()]

    @app.get("/api/jobs/{job_id}", tags=["videos"])
    def job_state(job_id: str) -> dict[str, Any]:
        """State (queued, running, done, failed), frames done of total, fps and error."""
        return jobs.get(job_id).as_dict()

    @app.get("/api/jobs/{job_id}/result", tags=["videos"], response_class=FileResponse)
    def job_result(job_id: str) -> FileResponse:
        job = jobs.result(job_id)
        return FileResponse(job.target, filename=job.name,
                            media_type=_VIDEO_TYPES.get(job.target.suffix, "video/mp4"))

    @app.delete("/api/jobs/{job_id}", status_code=204, tags=["videos"])
    def cancel_job(job_id: str) -> Response:
        """Stop the job if it runs and delete its files (upload and result)."""
        jobs.cancel(job_id)
        return Response(status_code=204)

    @app.get("/api/live", tags=["camera"])
    def live_status() -> dict[str, Any]:
        """State, figures (fps, latency, dropped frames), engine and background of the run."""
        return live.status()

    @app.get("/api/live/sources", tags=["camera"])
    def live_sources() -> list[dict[str, str]]:
        return live.sources()

    @app.post("/api/live/start", tags=["camera"])
    def live_start(body: LiveStart) -> dict[str, Any]:
        """Start the camera (or the --source file in real time); answers once it runs."""
        source = body.source or (FILE_SOURCE if config.source is not None else "camera")
        live.start(LiveRequest(source=source, size=_size(body.size), vcam=body.vcam))
        return live.status()

    @app.post("/api/live/stop", tags=["camera"])
    def live_stop() -> dict[str, Any]:
        live.stop()
        return live.status()

    @app.post("/api/live/background", tags=["camera"])
    def live_background(bg: Annotated[str | None, Form()] = None,
                        bg_file: BackgroundFile = None) -> dict[str, Any]:
        """Switch the background, on the running camera at once (a bad one keeps the old)."""
        if bg_file is not None:
            live.use_background(upload=bg_file.file, upload_name=bg_file.filename)
        else:
            live.use_background(bg)
        return live.status()

    @app.post("/api/live/effect", tags=["camera"])
    def live_effect(body: Effect) -> dict[str, Any]:
        """Turn the effect off (the camera's own picture) or on again."""
        live.set_effect(body.on)
        return live.status()

    @app.get("/api/live/frame.jpg", tags=["camera"], response_class=Response,
             responses={200: {"content": {"image/jpeg": {}}}})
    def live_frame() -> Response:
        """The newest output picture."""
        newest = live.preview_after(0)
        if newest is None:
            raise RequestError("no picture yet: start the camera")
        return Response(newest[1], media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @app.get("/api/live/preview.mjpg", tags=["camera"], response_class=StreamingResponse)
    async def live_preview() -> StreamingResponse:
        """The output as it runs (MJPEG, for an ``<img>``); ends when the run ends."""
        return StreamingResponse(_mjpeg(live), headers={"Cache-Control": "no-store"},
                                 media_type=f"multipart/x-mixed-replace; boundary={_BOUNDARY}")

    return app


def _picture_background(bg: str, bg_file: UploadFile | None,
                        max_pixels: int) -> Background | None:
    if bg_file is None:
        return parse_background(background_spec(bg))
    try:
        rgb, _ = decode_picture(bg_file.file.read(), max_pixels)
    except Unsupported as exc:
        raise Unsupported("bg_file must be a picture here (videos take a video background)") \
            from exc
    return ImageBackground(rgb)


def _video_suffix(fmt: str | None, transparent: bool) -> str:
    if fmt is None:
        return ".mov" if transparent else ".mp4"
    suffix = _VIDEO_FORMATS[fmt]
    if transparent and suffix not in _ALPHA_FORMATS:
        raise RequestError(f"a transparent video needs format mov, webm or mkv, not {fmt}")
    return suffix


def _size(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    width, _, height = text.lower().partition("x")
    if not (width.isdigit() and height.isdigit() and 16 <= int(width) <= 7680
            and 16 <= int(height) <= 4320):
        raise RequestError(f"size '{text}': write it as WIDTHxHEIGHT, e.g. 1280x720")
    return int(width), int(height)


async def _mjpeg(live: LiveSession) -> AsyncIterator[bytes]:
    seen = 0
    while True:
        newest = await run_in_threadpool(live.preview_after, seen) \
            if live.sequence > seen else None
        if newest is not None:
            seen, jpeg = newest
            yield (f"--{_BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                   f"Content-Length: {len(jpeg)}\r\n\r\n").encode() + jpeg + b"\r\n"
        elif not live.active:
            return
        else:
            await asyncio.sleep(_PREVIEW_POLL_S)


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


"""``/api/live``: the control panel's camera, started, switched, watched and stopped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match

from rtmatte.server.advice import for_failure
from rtmatte.server.config import ServerConfig
from rtmatte.server.errors import RequestError
from rtmatte.server.gallery import Gallery
from rtmatte.server.live import FILE_SOURCE, LiveRequest, LiveSession
from rtmatte.server.routes.schema import GUARDED, BackgroundFile, problems

_PREVIEW_POLL_S = 0.02
#: the overlay page for OBS's Browser Source; offered by the panel only when the server has it
_OVERLAY = "/overlay"
_BOUNDARY = "frame"


class LiveStart(BaseModel):
    source: str | None = Field(None, description="'file' (the server's --source), 'camera', "
                                                 "'camera:N' or '/dev/videoN'")
    size: str | None = Field(None, description="WIDTHxHEIGHT asked of the camera, e.g. "
                                               "1280x720")
    vcam: bool = Field(False, description="also feed the virtual camera (the preview works "
                                          "without one)")


class Effect(BaseModel):
    on: bool


class LiveSource(BaseModel):
    id: str = Field(description="what to send as the source of POST /api/live/start")
    label: str


class Message(BaseModel):
    """What the panel says about a failed run: plain words, and what to do."""

    text: str
    command: str | None = Field(None, description="the one command that fixes it, to copy")
    help: str | None = Field(None, description="the page of this server that says more")


class LiveStatus(BaseModel):
    """The run and its figures, measured on the pictures as they are delivered (the last two
    seconds). ``size`` comes once there is a picture. With ``choice`` and the effect, what a
    page shows after a reload is what is in use."""

    state: str = Field(description="idle, starting, running, stopping, stopped, ended or "
                                   "failed")
    error: str | None = Field(description="why it failed")
    background: str = Field(description="the background in use, as chosen")
    effect: bool = Field(description="false: the camera's own picture")
    source: str | None
    vcam: bool
    engine: str = Field(description="what runs the model, once started")
    notes: list[str] = Field(description="the latest things the run said")
    fps: float
    latency_ms: float = Field(description="capture to output, the median")
    frames: int = Field(description="pictures delivered")
    dropped: int = Field(description="frames the source gave that were not delivered")
    size: list[int] | None = Field(None, description="width and height of the output")
    choice: str | None = Field(None, description="the gallery's background in use (see "
                                                 "/api/backgrounds), none for another")
    blur: float | None = Field(None, description="the blur's strength, when blur is in use")
    colour: str | None = Field(None, description="#rrggbb, when a colour is in use")
    message: Message | None = Field(None, description="why the last run failed, in plain "
                                                      "words, with what to do")
    overlay: str | None = Field(None, description="the address (with the token) of this "
                                                  "server's overlay page for OBS, when it has "
                                                  "one")


def router(config: ServerConfig, live: LiveSession, gallery: Gallery) -> APIRouter:
    routes = APIRouter(tags=["camera"], responses=problems(*GUARDED))
    # each of these answers with the status, what does not apply left out (not null)
    status = {"response_model": LiveStatus, "response_model_exclude_unset": True}

    def now(request: Request) -> LiveStatus:
        """The status with what the panel shows beside it: the gallery choice, a failed run's
        advice, and the overlay's address when this server has the overlay page."""
        data = live.status() | gallery.choice_of(live.background_spec)
        if _serves(request.app, _OVERLAY):
            data["overlay"] = f"{_OVERLAY}?token={config.token}"
        failure = live.ended_with
        if failure is not None and data["error"]:
            data["message"] = for_failure(failure, data["error"], data["source"]).as_dict()
        return LiveStatus.model_validate({k: v for k, v in data.items() if v is not None
                                         or k in ("error", "source", "choice")})

    @routes.get("/api/live", **status)
    def live_status(request: Request) -> LiveStatus:
        """State, figures (fps, latency, dropped frames), engine and background of the run,
        the gallery choice in use, and what to do when it failed: what the panel shows."""
        return now(request)

    @routes.get("/api/live/sources", response_model=list[LiveSource])
    def live_sources() -> list[LiveSource]:
        return [LiveSource.model_validate(choice) for choice in live.sources()]

    @routes.post("/api/live/start", responses=problems(409, 422, 503), **status)
    def live_start(body: LiveStart, request: Request) -> LiveStatus:
        """Start the camera (or the --source file in real time); answers once it runs."""
        source = body.source or (FILE_SOURCE if config.source is not None else "camera")
        live.start(LiveRequest(source=source, size=_size(body.size), vcam=body.vcam))
        return now(request)

    @routes.post("/api/live/stop", **status)
    def live_stop(request: Request) -> LiveStatus:
        live.stop()
        return now(request)

    @routes.post("/api/live/background", responses=problems(404, 413, 415, 422), **status)
    def live_background(request: Request, bg: Annotated[str | None, Form()] = None,
                        bg_file: BackgroundFile = None,
                        gallery_id: Annotated[str | None, Form(alias="gallery")] = None,
                        ) -> LiveStatus:
        """Switch the background, on the running camera at once (a bad one keeps the old):
        ``bg`` a colour or blur[:N], ``bg_file`` a picture or video, or ``gallery`` the id of a
        picture of ``/api/backgrounds``."""
        if bg_file is not None:
            live.use_background(upload=bg_file.file, upload_name=bg_file.filename)
        elif gallery_id is not None and bg is None:
            item = gallery.get(gallery_id)
            if item.path is None:
                raise RequestError(f"'{item.label}' is chosen with bg (blur, a colour)")
            live.use_background(saved=(item.path, item.label))
        else:
            live.use_background(bg)
        return now(request)

    @routes.post("/api/live/effect", responses=problems(422), **status)
    def live_effect(body: Effect, request: Request) -> LiveStatus:
        """Turn the effect off (the camera's own picture) or on again; at rest, for the next
        start."""
        live.set_effect(body.on)
        return now(request)

    @routes.get("/api/live/frame.jpg", response_class=Response,
                responses={200: {"content": {"image/jpeg": {}}}, **problems(422)})
    def live_frame() -> Response:
        """The newest output picture."""
        newest = live.preview_after(0)
        if newest is None:
            raise RequestError("no picture yet: start the camera")
        return Response(newest[1], media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @routes.get("/api/live/preview.mjpg", response_class=StreamingResponse)
    async def live_preview() -> StreamingResponse:
        """The output as it runs (MJPEG, for an ``<img>``); ends when the run ends."""
        return StreamingResponse(_mjpeg(live), headers={"Cache-Control": "no-store"},
                                 media_type=f"multipart/x-mixed-replace; boundary={_BOUNDARY}")

    return routes


def _serves(app: Starlette, path: str) -> bool:
    """Whether ``app`` answers GET ``path`` (asked of its routes as a request would be)."""
    scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "path_params": {}}
    return any(route.matches(scope)[0] == Match.FULL for route in app.routes)


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

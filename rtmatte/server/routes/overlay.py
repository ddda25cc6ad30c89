"""``/overlay``: the page for OBS's Browser Source, and the stream of pictures it draws.

The page is opened once with the token in its address (OBS keeps that address in the source's
settings), like the panel; its script then reads ``/api/overlay/stream`` with the cookie. The
stream is one long HTTP answer of frames (see :mod:`rtmatte.server.overlay`), the newest
picture each time the run delivers one: a page that reads slowly skips pictures instead of
falling behind. It waits through a stopped run and carries on with the next one, so OBS can
keep the source open across runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from rtmatte.server.live import LiveSession
from rtmatte.server.overlay import OverlayFeed
from rtmatte.server.routes.pages import STATIC
from rtmatte.server.routes.schema import GUARDED, problems

PATH = "/overlay"
STREAM = "/api/overlay/stream"
#: how long one wait for the next picture blocks a worker thread before it looks again
_WAIT_S = 0.5
_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
           "frame-ancestors 'none'; form-action 'none'; base-uri 'none'")


def router(live: LiveSession, feed: OverlayFeed) -> APIRouter:
    routes = APIRouter(tags=["camera"], responses=problems(*GUARDED))

    @routes.get(PATH, response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        html = STATIC.joinpath("overlay.html").read_text(encoding="utf-8")
        return HTMLResponse(html, headers={"Content-Security-Policy": _POLICY,
                                           "Cache-Control": "no-store"})

    @routes.get(STREAM, response_class=StreamingResponse,
                responses={200: {"content": {"application/octet-stream": {}}},
                           **problems(422)})
    async def stream(format: Literal["raw", "webp"] = "raw") -> StreamingResponse:
        """The live run's person with alpha, one frame per picture delivered: a 24-byte
        little-endian header (payload bytes u32, sequence u32, width u16, height u16, format
        u8 (0 raw RGBA, 1 WebP), 3 pad bytes, capture time f64 in ms since the epoch),
        then the picture."""
        return StreamingResponse(_frames(live, feed, format),
                                 media_type="application/octet-stream",
                                 headers={"Cache-Control": "no-store"})

    return routes


async def _frames(live: LiveSession, feed: OverlayFeed, format_name: str) -> AsyncIterator[bytes]:
    seen = 0
    while True:
        newest = await run_in_threadpool(live.newest_after, seen, _WAIT_S)
        if newest is None:
            continue
        seen = newest.sequence
        yield await run_in_threadpool(feed.message, newest, format_name)

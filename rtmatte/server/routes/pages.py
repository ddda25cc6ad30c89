"""The control panel: the page at ``/`` and, beside it, the files it loads from ``/static``.

A page a person opens from the printed link, so it takes the token in its address (see
:class:`~rtmatte.server.auth.Guard`); its policy allows only its own scripts, styles and
connections.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

PATH = "/"
#: the panel's script, style and icon, served at ``/static``
STATIC = resources.files("rtmatte.server").joinpath("static")
_POLICY = ("default-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
           "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
           "form-action 'self'; base-uri 'none'")


def router() -> APIRouter:
    routes = APIRouter()

    @routes.get(PATH, response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        html = STATIC.joinpath("index.html").read_text(encoding="utf-8")
        return HTMLResponse(html, headers={"Content-Security-Policy": _POLICY,
                                           "Cache-Control": "no-store"})

    return routes

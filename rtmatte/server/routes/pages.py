"""The control panel: the page at ``/`` and, beside it, the files it loads from ``/static``;
and the set-up page its messages link to, ``/help/virtual-camera``.

The panel is a page a person opens from the printed link, so it takes the token in its address
(see :class:`~rtmatte.server.auth.Guard`); the help page is reached from the panel, with the
cookie. Their policy allows only their own scripts, styles and connections.
"""

from __future__ import annotations

import html
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from rtmatte.server.advice import VIRTUAL_CAMERA_HELP, virtual_camera_command

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
        return _html(STATIC.joinpath("index.html").read_text(encoding="utf-8"))

    @routes.get(VIRTUAL_CAMERA_HELP, response_class=HTMLResponse, include_in_schema=False)
    def virtual_camera_help() -> HTMLResponse:
        """How to get a virtual camera, with the command for this machine filled in."""
        text = STATIC.joinpath("help-virtual-camera.html").read_text(encoding="utf-8")
        command = virtual_camera_command() or "(no command: see the steps for OBS below)"
        return _html(text.replace("{{COMMAND}}", html.escape(command)))

    return routes


def _html(text: str) -> HTMLResponse:
    return HTMLResponse(text, headers={"Content-Security-Policy": _POLICY,
                                       "Cache-Control": "no-store"})

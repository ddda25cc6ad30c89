"""What the routes share in the schema: the upload fields and the error answer.

Every refusal is ``{"detail": message}`` with its status (see :mod:`rtmatte.server.app`), so
the routes declare :class:`Problem` for the codes they can answer with, and the schema says
what a client really gets instead of FastAPI's default validation error.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import File, UploadFile
from pydantic import BaseModel

FileField = Annotated[UploadFile, File(description="the picture or video")]
BackgroundFile = Annotated[UploadFile | None, File(description="a picture (or, for videos "
                                                   "and the camera, a video) to put behind")]


class Problem(BaseModel):
    """Every refusal and failure: one line saying what went wrong and, where there is one,
    what to do instead."""

    detail: str


_WHEN = {
    401: "no token, a wrong one, or one in an API route's address (send the header)",
    403: "a cross-site change, or a Host this server does not answer to",
    404: "no such job (never made, cancelled or expired)",
    409: "not now: the result is not ready, or the camera is already (or not) running",
    413: "an upload over the server's --max-upload-mb",
    415: "not a picture, or not a video, where the route needs one",
    422: "a missing or malformed field, a background that is not one, no camera",
    429: "the queue of video jobs is full",
    503: "no virtual camera device",
}

#: the answers every route may give before it runs (the checks around every route)
GUARDED = (401, 403)


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route that may refuse with ``codes``, each a :class:`Problem`."""
    return {code: {"model": Problem, "description": _WHEN[code]} for code in codes}

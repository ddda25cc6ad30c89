"""``POST /api/remove``: one picture cut out, or put on another background."""

from __future__ import annotations

from typing import Annotated

import cv2
from fastapi import APIRouter, Form, UploadFile
from fastapi.responses import Response

from rtmatte.compose.backgrounds import TRANSPARENT, Background, ImageBackground, parse_background
from rtmatte.errors import RtmatteError
from rtmatte.server.config import ServerConfig
from rtmatte.server.errors import RequestError, Unsupported
from rtmatte.server.pictures import EnginePool, cut_out
from rtmatte.server.routes.schema import GUARDED, BackgroundFile, FileField, problems
from rtmatte.server.uploads import background_spec, decode_picture, download_name


def router(config: ServerConfig, pictures: EnginePool) -> APIRouter:
    routes = APIRouter(tags=["pictures"], responses=problems(*GUARDED))
    max_pixels = config.settings.max_picture_pixels

    @routes.post("/api/remove", response_class=Response,
                 responses={200: {"content": {"image/png": {}, "image/jpeg": {}},
                                  "description": "the cut-out (RGBA PNG) or the composite"},
                            **problems(413, 415, 422)})
    def remove(file: FileField, bg: Annotated[str, Form()] = TRANSPARENT,
               bg_file: BackgroundFile = None,
               format: Annotated[str, Form(pattern="^(png|jpeg)$")] = "png") -> Response:
        """Cut the person out of a picture: ``bg`` is transparent (RGBA PNG), a colour, blur or
        blur:STRENGTH; or send a picture as ``bg_file``. The matte is the command line's."""
        rgb, own_alpha = decode_picture(file.file.read(), max_pixels)
        background = _background(bg, bg_file, max_pixels)
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

    return routes


def _background(bg: str, bg_file: UploadFile | None, max_pixels: int) -> Background | None:
    if bg_file is None:
        return parse_background(background_spec(bg))
    try:
        rgb, _ = decode_picture(bg_file.file.read(), max_pixels)
    except Unsupported as exc:
        raise Unsupported("bg_file must be a picture here (videos take a video background)") \
            from exc
    return ImageBackground(rgb)

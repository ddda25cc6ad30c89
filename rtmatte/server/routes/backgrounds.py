"""``/api/backgrounds``: the panel's gallery of backgrounds, the person's own kept between
sessions (see :mod:`rtmatte.server.gallery`)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field

from rtmatte.server.errors import RequestError
from rtmatte.server.gallery import Gallery
from rtmatte.server.routes.schema import GUARDED, FileField, problems


class GalleryItem(BaseModel):
    id: str = Field(description="what to send as the gallery field of /api/live/background")
    label: str
    kind: str = Field(description="blur, colour, screen (green or blue), transparent "
                                   "(for the OBS overlay), picture or video")
    own: bool = Field(description="one of the person's own, which they may remove")
    thumbnail: str | None = Field(description="a small JPEG of it (none for the colour)")


def router(gallery: Gallery) -> APIRouter:
    routes = APIRouter(tags=["camera"], responses=problems(*GUARDED))

    @routes.get("/api/backgrounds", response_model=list[GalleryItem])
    def backgrounds() -> list[GalleryItem]:
        """The backgrounds rtmatte ships, then the person's own, oldest first."""
        return [GalleryItem.model_validate(item.as_dict()) for item in gallery.items()]

    @routes.post("/api/backgrounds", status_code=201, response_model=GalleryItem,
                 responses=problems(413, 415, 422, 429))
    def add_background(file: FileField) -> GalleryItem:
        """Keep a picture or a video as one of the person's own backgrounds (refused, and not
        kept, when rtmatte cannot read it)."""
        return GalleryItem.model_validate(gallery.add(file.file, file.filename).as_dict())

    @routes.delete("/api/backgrounds/{item_id}", status_code=204,
                   responses=problems(404, 422))
    def remove_background(item_id: str) -> Response:
        gallery.remove(item_id)
        return Response(status_code=204)

    @routes.get("/api/backgrounds/{item_id}/thumbnail.jpg", response_class=Response,
                responses={200: {"content": {"image/jpeg": {}}}, **problems(404, 422)})
    def thumbnail(item_id: str) -> Response:
        return Response(gallery.thumbnail(item_id), media_type="image/jpeg",
                        headers={"Cache-Control": "private, max-age=3600"})

    @routes.get("/api/backgrounds/{item_id}/picture", response_class=FileResponse,
                responses={200: {"content": {"image/*": {}}}, **problems(404, 422)})
    def picture(item_id: str) -> FileResponse:
        """The background's picture itself (for the photo tab, which sends it as bg_file)."""
        item = gallery.get(item_id)
        if item.kind != "picture" or item.path is None:
            raise RequestError(f"'{item.label}' is not a picture")
        return FileResponse(item.path, headers={"Cache-Control": "no-store"})

    return routes


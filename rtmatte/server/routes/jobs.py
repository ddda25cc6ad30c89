"""``/api/jobs``: video jobs queued, followed, fetched and cancelled."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Form
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field

from rtmatte.compose.backgrounds import is_transparent
from rtmatte.errors import PictureTooLarge
from rtmatte.server.config import ServerConfig
from rtmatte.server.errors import RequestError, Unsupported
from rtmatte.server.jobs import DONE, JobQueue, VideoJob
from rtmatte.server.redact import for_client
from rtmatte.server.routes.schema import GUARDED, BackgroundFile, FileField, problems
from rtmatte.server.uploads import background_spec, client_name, download_name, store
from rtmatte.sources.file import VideoSource, check_picture_file

_FORMATS = {"mp4": ".mp4", "mov": ".mov", "webm": ".webm", "mkv": ".mkv"}
_ALPHA_FORMATS = (".mov", ".webm", ".mkv")
_MEDIA_TYPES = {".mp4": "video/mp4", ".mov": "video/quicktime", ".webm": "video/webm",
                ".mkv": "video/x-matroska"}


class Progress(BaseModel):
    done: int = Field(description="frames written")
    total: int | None = Field(description="frames in the video, when known")


class JobState(BaseModel):
    """A job as a client sees it. ``result`` and ``notes`` come once it is done,
    ``expires_in_s`` once it has ended: the routes leave unset fields out of the answer
    (``response_model_exclude_unset``) rather than send them as null."""

    id: str
    state: Literal["queued", "running", "done", "failed", "cancelled"]
    progress: Progress
    fps: float = Field(description="frames a second, so far")
    error: str | None = Field(description="why it failed, naming the uploads as they were sent")
    result: str | None = Field(None, description="where to fetch the video")
    notes: list[str] | None = Field(None, description="what changed on the way for the audio "
                                                      "and subtitles")
    expires_in_s: int | None = Field(None, description="seconds until its files are deleted")

    @classmethod
    def of(cls, job: VideoJob) -> JobState:
        """The job's state now; fields that do not apply yet are left unset (not sent)."""
        later: dict[str, object] = {}
        if job.state == DONE:
            later["result"] = f"/api/jobs/{job.id}/result"
            later["notes"] = (job.result or {}).get("notes", [])
        if job.expires is not None:
            later["expires_in_s"] = max(0, round(job.expires - time.time()))
        return cls.model_validate({
            "id": job.id, "state": job.state,
            "progress": {"done": job.done, "total": job.total},
            "fps": round(job.fps, 2), "error": job.error, **later})


def router(config: ServerConfig, jobs: JobQueue) -> APIRouter:
    routes = APIRouter(tags=["videos"], responses=problems(*GUARDED))

    @routes.post("/api/jobs", status_code=202, response_model=JobState,
                 responses=problems(413, 415, 422, 429), response_model_exclude_unset=True)
    def create_job(response: Response, file: FileField,
                   bg: Annotated[str | None, Form()] = None, bg_file: BackgroundFile = None,
                   format: Annotated[str | None, Form(pattern="^(mp4|mov|webm|mkv)$")] = None,
                   ) -> JobState:
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
                stored, bg_kind = store(bg_file.file, folder, "background", bg_file.filename)
                spec = str(stored)
                names[spec] = client_name(bg_file.filename, "the uploaded background")
                _check_size(stored, bg_kind, config.settings.max_picture_pixels, names[spec])
            else:
                spec = config.settings.bg if bg is None else background_spec(bg)
            suffix = _suffix(format, is_transparent(spec))
            job = jobs.submit(folder, source, folder / f"output{suffix}", spec,
                              download_name(file.filename, suffix), names)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        response.headers["Location"] = f"/api/jobs/{job.id}"
        return JobState.of(job)

    @routes.get("/api/jobs", response_model=list[JobState], response_model_exclude_unset=True)
    def list_jobs() -> list[JobState]:
        return [JobState.of(job) for job in jobs.jobs()]

    @routes.get("/api/jobs/{job_id}", response_model=JobState, responses=problems(404, 422),
                response_model_exclude_unset=True)
    def job_state(job_id: str) -> JobState:
        """State (queued, running, done, failed), frames done of total, fps and error."""
        return JobState.of(jobs.get(job_id))

    @routes.get("/api/jobs/{job_id}/result", response_class=FileResponse,
                responses=problems(404, 409, 422))
    def job_result(job_id: str) -> FileResponse:
        job = jobs.result(job_id)
        return FileResponse(job.target, filename=job.name,
                            media_type=_MEDIA_TYPES.get(job.target.suffix, "video/mp4"))

    @routes.delete("/api/jobs/{job_id}", status_code=204, responses=problems(404, 422))
    def cancel_job(job_id: str) -> Response:
        """Stop the job if it runs and delete its files (upload and result)."""
        jobs.cancel(job_id)
        return Response(status_code=204)

    return routes


def _check_size(path: Path, kind: str, max_pixels: int, name: str) -> None:
    """A background larger than the server's ``max_picture_pixels`` is refused at upload (422),
    from its header, as /api/remove refuses one, rather than once its job has started."""
    try:
        if kind == "image":
            check_picture_file(path, max_pixels)
        else:
            with VideoSource(path, max_pixels):
                pass
    except PictureTooLarge as exc:
        raise PictureTooLarge(for_client(str(exc), {path: name})) from exc


def _suffix(fmt: str | None, transparent: bool) -> str:
    if fmt is None:
        return ".mov" if transparent else ".mp4"
    suffix = _FORMATS[fmt]
    if transparent and suffix not in _ALPHA_FORMATS:
        raise RequestError(f"a transparent video needs format mov, webm or mkv, not {fmt}")
    return suffix

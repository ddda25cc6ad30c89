"""The public Python API: everything the CLI does, callable from code.

>>> from rtmatte import api
>>> api.process("talk.mp4", "talk_beach.mp4", bg="beach.jpg")        # doctest: +SKIP
>>> matter = api.open_matter()                                        # doctest: +SKIP
>>> matte = matter(rgb_frame)   # .alpha (H, W), .fgr (H, W, 3), recurrent state carried
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rtmatte.compose.backgrounds import TRANSPARENT, parse_background
from rtmatte.compose.compositor import Compositor
from rtmatte.errors import InputError, OutputError, StreamError, UserError
from rtmatte.io.atomic import check_kind, check_target
from rtmatte.io.frame import Frame
from rtmatte.io.media import is_image_path, is_video_path, media_in_folder
from rtmatte.io.sinks import AlphaSequenceSink, VideoFileSink, refuse_alpha_target, write_image
from rtmatte.io.sources import VideoSource, probe_kind, read_image
from rtmatte.matting.backend import create_backend
from rtmatte.matting.fetch import ensure_model
from rtmatte.matting.matter import Matte, Matter
from rtmatte.pipeline import Pipeline
from rtmatte.post import PostChain, build_post
from rtmatte.progress import Progress
from rtmatte.settings import Settings, load_settings

Notify = Callable[[str], None]
OUTPUT_TAG = ".rtmatte"


@dataclass
class JobResult:
    """What one input produced, and how fast: the content of ``--stats``."""

    input: str
    output: str
    kind: str
    frames: int
    seconds: float
    backend: str
    downsample_ratio: float
    stages: dict[str, Any] = field(default_factory=dict)
    audio: list[str] = field(default_factory=list)
    scene_cuts: int = 0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["fps"] = round(self.fps, 3)
        data["seconds"] = round(self.seconds, 4)
        return data


def model_path(settings: Settings, notify: Notify | None = None) -> Path:
    """The verified model file the settings name: ``model_path`` as given, else the catalogue's."""
    if settings.model_path is not None:
        path = Path(settings.model_path)
        if not path.is_file():
            raise UserError(f"--model {path}: no such file")
        return path
    return ensure_model(settings.model, notify=notify)


def open_matter(settings: Settings | None = None, notify: Notify | None = None) -> Matter:
    """A frame-level Matter: call it with uint8 RGB frames in order, get :class:`Matte` back."""
    settings = settings or Settings()
    backend = create_backend(model_path(settings, notify), settings.backend, settings.device,
                             precision=settings.precision)
    return Matter(backend, downsample_ratio=settings.downsample_ratio)


def default_output(source: Path, transparent: bool) -> Path:
    """``NAME.rtmatte.EXT`` beside the input; transparent results get a container with alpha."""
    suffix = source.suffix.lower()
    if transparent:
        suffix = ".png" if is_image_path(source) else ".mov"
    return source.with_name(f"{source.stem}{OUTPUT_TAG}{suffix}")


class Job:
    """Runs inputs through one Matter and post chain, so the files of a folder share them.

    The background restarts with each file: a video background then begins at its first frame
    with each input instead of carrying on from where the last one stopped.
    """

    def __init__(self, settings: Settings, notify: Notify | None = None,
                 progress: bool | None = None) -> None:
        self.settings = settings
        self.notify = notify
        self.progress = progress
        self.compositor = Compositor(parse_background(settings.bg), settings.post)
        self.transparent = self.compositor.transparent
        self.matter = open_matter(settings, notify)
        self.post: PostChain = build_post(settings.post)

    def run(self, source: Path, target: Path | None) -> JobResult:
        source = Path(source)
        if target is None:
            target = default_output(source, self.transparent)
        if self.compositor.background is not None:
            self.compositor.background.restart()
        if probe_kind(source) == "image":
            return self._image(source, Path(target))
        return self._video(source, Path(target))

    def _matte(self, rgb: np.ndarray) -> Matte:
        return self.post(rgb, self.matter(rgb))

    def _image(self, source: Path, target: Path) -> JobResult:
        check_kind(target, "image")
        check_target(target, self.settings.overwrite)  # before the model runs, not after
        if self.transparent:
            refuse_alpha_target(target)
        rgb = read_image(source)
        started = time.perf_counter()
        self.matter.reset()
        self.post.reset()
        matte = self._matte(rgb)
        picture = self.compositor(Frame(rgb=rgb, index=0), matte)
        write_image(target, picture, overwrite=self.settings.overwrite)
        if self.settings.alpha_output:
            sink = AlphaSequenceSink(self.settings.alpha_output, self.settings.overwrite)
            sink.write(matte.alpha)
        return JobResult(
            input=str(source), output=str(target), kind="image", frames=1,
            seconds=time.perf_counter() - started, backend=self.matter.backend.name,
            downsample_ratio=self.matter.ratio_for(*rgb.shape[:2]),
        )

    def _video(self, source_path: Path, target: Path) -> JobResult:
        with VideoSource(source_path) as source:
            info = source.info
            sink = VideoFileSink(
                target, time_base=info.time_base, rate=info.rate, alpha=self.transparent,
                audio_from=source_path if info.audio_streams else None,
                crf=self.settings.crf, overwrite=self.settings.overwrite,
            )
            alpha_sink = (AlphaSequenceSink(self.settings.alpha_output, self.settings.overwrite)
                          if self.settings.alpha_output else None)
            self.matter.reset()
            self.post.reset()
            ratio: list[float] = []

            def infer(frame: Frame) -> tuple[Frame, Matte]:
                if not ratio:
                    ratio.append(self.matter.ratio_for(*frame.rgb.shape[:2]))
                return frame, self.matter(frame.rgb)

            def post(item: tuple[Frame, Matte]) -> tuple[Frame, Matte]:
                frame, matte = item
                return frame, self.post(frame.rgb, matte)

            def composite(item: tuple[Frame, Matte]) -> tuple[Frame, np.ndarray, np.ndarray]:
                frame, matte = item
                return frame, self.compositor(frame, matte), matte.alpha

            def write(item: tuple[Frame, np.ndarray, np.ndarray]) -> None:
                frame, picture, alpha = item
                sink.write(picture, frame.pts)
                if alpha_sink is not None:
                    alpha_sink.write(alpha)

            meter = Progress(source_path.name, total=info.frames, enabled=self.progress)
            # post-processing gets its own thread when it has steps, off the model's critical path
            stages = [("infer", infer), ("post", post), ("composite", composite)]
            if not self.post.steps:
                del stages[1]
            pipeline = Pipeline(source, stages, write,
                                on_progress=meter.update)
            try:
                stats = pipeline.run()
            except StreamError as exc:
                meter.finish()
                if sink.frames == 0:
                    sink.abort()
                    raise InputError(f"{exc}; nothing could be decoded") from exc
                kept = sink.close(keep_incomplete=True)
                raise StreamError(f"{exc}; the {sink.frames} frames before it were written to "
                                  f"{kept}", frames_written=sink.frames) from exc
            except BaseException:
                meter.finish()
                sink.abort()
                raise
            meter.finish()
            if sink.frames == 0:
                sink.abort()
                raise InputError(f"{source_path}: the video stream holds no frames")
            written = sink.close()
        return JobResult(
            input=str(source_path), output=str(written), kind="video", frames=sink.frames,
            seconds=stats.seconds, backend=self.matter.backend.name,
            downsample_ratio=ratio[0] if ratio else 0.0,
            stages={name: timing.as_dict() for name, timing in stats.stages.items()},
            audio=sink.audio_codecs, scene_cuts=self.matter.cuts,
        )


def plan_inputs(source: Path, target: Path | None, transparent: bool) -> list[tuple[Path, Path]]:
    """Pair each input with its output; a folder expands to every video and image in it."""
    source = Path(source)
    if not source.is_dir():
        return [(source, Path(target) if target else default_output(source, transparent))]
    items = [p for p in media_in_folder(source) if OUTPUT_TAG not in p.suffixes]
    if not items:
        raise InputError(f"{source}: the folder holds no videos or images")
    if target is not None:
        target = Path(target)
        if target.exists() and not target.is_dir():
            raise OutputError(f"{target}: for a folder of inputs, -o must name a folder")
        target.mkdir(parents=True, exist_ok=True)
    pairs = []
    for item in items:
        out = default_output(item, transparent)
        pairs.append((item, target / out.name.replace(OUTPUT_TAG, "") if target else out))
    return pairs


def process(
    source: str | Path, target: str | Path | None = None, *, bg: str | None = None,
    settings: Settings | None = None, notify: Notify | None = None,
    progress: bool | None = False,
) -> list[JobResult]:
    """Process a video, an image or a folder of them; returns one result per file written.

    With a folder, each file is attempted; the first failure is raised after the others ran.
    """
    settings = settings or load_settings()
    if bg is not None:
        settings = dataclasses.replace(settings, bg=bg)
    source = Path(source)
    if not source.exists():
        raise InputError(f"{source}: no such file or folder")
    if source.is_file() and not (is_video_path(source) or is_image_path(source)):
        probe_kind(source)  # readable? (unknown extensions are tried as video)
    transparent = settings.bg.strip().lower() == TRANSPARENT
    pairs = plan_inputs(source, Path(target) if target else None, transparent)
    job = Job(settings, notify=notify, progress=progress)
    results: list[JobResult] = []
    failures: list[UserError | StreamError] = []
    for item, out in pairs:
        try:
            results.append(job.run(item, out))
        except (UserError, StreamError) as exc:
            if len(pairs) == 1:
                raise
            failures.append(exc)
            if notify:
                notify(f"skipped {item.name}: {exc}")
    if failures:
        raise UserError(f"{len(failures)} of {len(pairs)} files failed; first: {failures[0]}")
    return results


def remove_background(rgb: np.ndarray, matter: Matter | None = None,
                      settings: Settings | None = None) -> np.ndarray:
    """Cut the person out of one uint8 RGB picture: uint8 RGBA with straight alpha, edges
    treated as the settings say (as ``rtmatte photo.jpg --bg transparent`` would)."""
    settings = settings or load_settings()
    matter = matter or open_matter(settings)
    matter.reset()
    post = build_post(settings.post)
    matte = post(rgb, matter(rgb))
    return Compositor(None, settings.post)(Frame(rgb=rgb, index=0), matte)

"""The public Python API: everything the CLI does, callable from code.

>>> from rtmatte import api
>>> api.process("talk.mp4", "talk_beach.mp4", bg="beach.jpg")        # doctest: +SKIP
>>> matter = api.open_matter()                                        # doctest: +SKIP
>>> matte = matter(rgb_frame)   # .alpha (H, W), .fgr (H, W, 3), recurrent state carried
>>> with api.open_live("camera", bg="beach.jpg", sinks=[...]) as live:   # doctest: +SKIP
...     result = live.run()
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from rtmatte.compose.backgrounds import TRANSPARENT, parse_background
from rtmatte.compose.compositor import Compositor
from rtmatte.errors import InputError, OutputError, SettingsError, StreamError, UserError
from rtmatte.io.camera import CameraReader, parse_camera
from rtmatte.io.media import is_image_path, is_video_path, media_in_folder
from rtmatte.io.realtime import LiveReader, RealtimeFileReader
from rtmatte.io.sources import VideoSource, probe_kind, read_image_with_alpha
from rtmatte.live import Backgrounds, BackgroundWatch, LiveRunner
from rtmatte.live_matter import LiveMatter
from rtmatte.matting.backends import create_backend
from rtmatte.matting.matter import Matter
from rtmatte.matting.models.fetch import ensure_model
from rtmatte.matting.models.quantize import ensure_quantized
from rtmatte.pipeline import Pipeline
from rtmatte.post import PostChain, build_post
from rtmatte.progress import Progress
from rtmatte.settings import Settings, load_settings
from rtmatte.sinks import AlphaSequenceSink, ImageSink, Sink, SinkGroup, VideoFileSink
from rtmatte.sinks.preview import PreviewWindow
from rtmatte.sinks.vcam import VirtualCameraSink
from rtmatte.types import Frame, Matte

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
    #: what changed on the way for the audio and subtitles, as said to the user
    notes: list[str] = field(default_factory=list)

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
        self.compositor = Compositor(parse_background(settings.bg, notify), settings.post)
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

    def _image(self, source: Path, target: Path) -> JobResult:
        sinks = SinkGroup([ImageSink(target, self.settings.overwrite, alpha=self.transparent),
                           *self._alpha_sinks()])  # names checked before the model runs
        try:
            rgb, own_alpha = read_image_with_alpha(source)
            started = time.perf_counter()
            self.matter.reset()
            self.post.reset()
            matte = self.post(rgb, self.matter(rgb))
            if own_alpha is not None:  # what the picture already hides stays hidden
                matte = Matte(alpha=matte.alpha * own_alpha, fgr=matte.fgr)
            frame = Frame(rgb=rgb, index=0)
            sinks.write(self.compositor(frame, matte), frame, matte)
        except BaseException:
            sinks.abort()
            raise
        sinks.close()
        return JobResult(
            input=str(source), output=str(target), kind="image", frames=1,
            seconds=time.perf_counter() - started, backend=self.matter.backend.name,
            downsample_ratio=self.matter.ratio_for(*rgb.shape[:2]),
        )

    def _alpha_sinks(self) -> list[AlphaSequenceSink]:
        if not self.settings.alpha_output:
            return []
        return [AlphaSequenceSink(self.settings.alpha_output, self.settings.overwrite)]

    def _video(self, source_path: Path, target: Path) -> JobResult:
        with VideoSource(source_path) as source:
            info = source.info
            video = VideoFileSink(
                target, time_base=info.time_base, rate=info.rate, alpha=self.transparent,
                audio_from=source_path if info.audio_streams or info.subtitle_streams else None,
                crf=self.settings.crf, overwrite=self.settings.overwrite,
            )
            try:
                sinks = SinkGroup([video, *self._alpha_sinks()])
            except BaseException:
                video.abort()
                raise
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

            def composite(item: tuple[Frame, Matte]) -> tuple[np.ndarray, Frame, Matte]:
                frame, matte = item
                return self.compositor(frame, matte), frame, matte

            meter = Progress(source_path.name, total=info.frames, enabled=self.progress)
            # post-processing gets its own thread when it has steps, off the model's critical path
            stages = [("infer", infer), ("post", post), ("composite", composite)]
            if not self.post.steps:
                del stages[1]
            pipeline = Pipeline(source, stages, lambda item: sinks.write(*item),
                                on_progress=meter.update)
            try:
                stats = pipeline.run()
            except StreamError as exc:
                meter.finish()
                if video.frames == 0:
                    sinks.abort()
                    raise InputError(f"{exc}; nothing could be decoded") from exc
                video.incomplete = True  # the frames before the damage, under a name saying so
                kept = sinks.close()[0]
                raise StreamError(f"{exc}; the {video.frames} frames before it were written to "
                                  f"{kept}", frames_written=video.frames) from exc
            except BaseException:
                meter.finish()
                sinks.abort()
                raise
            meter.finish()
            if video.frames == 0:
                sinks.abort()
                raise InputError(f"{source_path}: the video stream holds no frames")
            written = sinks.close()[0]
        return JobResult(
            input=str(source_path), output=str(written), kind="video", frames=video.frames,
            seconds=stats.seconds, backend=self.matter.backend.name,
            downsample_ratio=ratio[0] if ratio else 0.0,
            stages={name: timing.as_dict() for name, timing in stats.stages.items()},
            audio=video.audio_codecs, scene_cuts=self.matter.cuts, notes=video.notes,
        )


def plan_inputs(source: Path, target: Path | None, transparent: bool,
                protect: Sequence[Path] = ()) -> list[tuple[Path, Path]]:
    """Pair each input with its output; a folder expands to every video and image in it.

    Outputs into another folder keep their input's name; into the input's own folder they keep
    the ``.rtmatte`` tag. No output may land on an input (of this run, or a file in ``protect``
    such as the background), nor two outputs on one name: that is refused before any work,
    with or without ``--overwrite``.
    """
    source = Path(source)
    if not source.is_dir():
        pairs = [(source, Path(target) if target else default_output(source, transparent))]
    else:
        pairs = _folder_pairs(source, target, transparent)
    inputs = {_identity(path) for path in [*(item for item, _ in pairs), *map(Path, protect)]}
    seen: dict[tuple[int, int] | Path, Path] = {}
    for item, out in pairs:
        key = _identity(out)
        if key in inputs:
            raise OutputError(f"{out} is an input of this run; rtmatte never writes over its "
                              "inputs: choose another output name or folder")
        if key in seen:
            raise OutputError(f"{seen[key].name} and {item.name} would both be written to "
                              f"{out}; rename one of them or process them apart")
        seen[key] = item
    return pairs


def _identity(path: Path) -> tuple[int, int] | Path:
    """What makes two names one file: device and inode where it exists (links, hard links and
    other spellings agree), else the absolute path."""
    try:
        status = os.stat(path)
    except OSError:
        return Path(os.path.abspath(path))
    return (status.st_dev, status.st_ino)


def _folder_pairs(source: Path, target: Path | None,
                  transparent: bool) -> list[tuple[Path, Path]]:
    items = [p for p in media_in_folder(source) if OUTPUT_TAG not in p.suffixes]
    if not items:
        raise InputError(f"{source}: the folder holds no videos or images")
    if target is None or _identity(target) == _identity(source):
        return [(item, default_output(item, transparent)) for item in items]
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise OutputError(f"{target}: for a folder of inputs, -o must name a folder")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create folder {target}: {exc.strerror or exc}") from exc
    return [(item, target / default_output(item, transparent).name.replace(OUTPUT_TAG, ""))
            for item in items]


@dataclass
class Failure:
    """One input of a folder run that could not be processed, and why."""

    input: str
    error: str

    def as_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


class BatchError(UserError):
    """Some inputs of a folder run failed; the others were written. Carries both lists."""

    exit_code = 3

    def __init__(self, results: list[JobResult], failures: list[Failure]) -> None:
        total = len(results) + len(failures)
        names = "; ".join(f"{f.input}: {f.error}" for f in failures)
        super().__init__(f"{len(failures)} of {total} files failed ({names})")
        self.results = results
        self.failures = failures
        if not results:
            self.exit_code = UserError.exit_code


def describe(result: JobResult) -> str:
    """The line said when an output is finished."""
    audio = f", audio: {', '.join(result.audio)}" if result.audio else ""
    return (f"wrote {result.output} ({result.frames} frame{'s' * (result.frames != 1)}, "
            f"{result.fps:.1f} fps, {result.backend}{audio})")


def process(
    source: str | Path, target: str | Path | None = None, *, bg: str | None = None,
    settings: Settings | None = None, notify: Notify | None = None,
    progress: bool | None = False,
) -> list[JobResult]:
    """Process a video, an image or a folder of them; returns one result per file written.

    ``notify`` hears of each file as it is finished or fails. In a folder, every file is
    attempted; when any failed, :class:`BatchError` is raised at the end, carrying the results
    of those that worked and the reason of each that did not.
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
    background_file = Path(settings.bg).expanduser()
    protect = [background_file] if background_file.is_file() else []
    pairs = plan_inputs(source, Path(target) if target else None, transparent, protect)
    job = Job(settings, notify=notify, progress=progress)
    results: list[JobResult] = []
    failures: list[Failure] = []
    for item, out in pairs:
        try:
            result = job.run(item, out)
        except (UserError, StreamError) as exc:
            if len(pairs) == 1:
                raise
            failures.append(Failure(input=str(item), error=str(exc)))
            if notify:
                notify(f"failed {item.name}: {exc}")
            continue
        results.append(result)
        if notify:
            for note in result.notes:
                notify(note)
            notify(describe(result))
    if failures:
        raise BatchError(results, failures)
    return results


def live_cpu_threads() -> int:
    """ONNX Runtime threads for a live run: every core but one, which capture, compositing and
    output need (measured: docs/benchmarks.md, "Live path")."""
    return max(1, (os.cpu_count() or 2) - 1)


def open_live_matter(settings: Settings, budget_s: float, notify: Notify | None = None,
                     cpu_threads: int | None = None) -> LiveMatter:
    """The model as the live path runs it: sized to keep up within ``budget_s`` a frame, on
    ``cpu_threads`` (default: all cores but one)."""
    path = model_path(settings, notify)
    if settings.live.int8:
        path = ensure_quantized(path, notify=notify)
    backend = create_backend(path, settings.backend, settings.device,
                             cpu_threads=cpu_threads or live_cpu_threads(),
                             precision=settings.precision)
    matter = Matter(backend, downsample_ratio=settings.downsample_ratio)
    return LiveMatter(matter, build_post(settings.post), budget_s, adapt=settings.live.adapt,
                      every=settings.live.matte_every)


def open_source(source: str | Path, size: tuple[int, int] | None = None,
                fps: float | None = None, notify: Notify | None = None) -> LiveReader:
    """A camera (``camera``, ``camera:N``, ``/dev/videoN``) or a video file played in real time."""
    if parse_camera(str(source)) is not None:
        return CameraReader(str(source), size=size, fps=fps, notify=notify)
    return RealtimeFileReader(Path(source), notify=notify)


@dataclass
class VirtualCamera:
    """Where ``open_live`` sends pictures for Zoom, Teams, Meet or OBS (pyvirtualcam)."""

    device: str | None = None
    backend: str | None = None
    #: Linux: run the model only while an app reads the virtual camera
    on_demand: bool = False


@contextmanager
def open_live(
    source: str | Path, *, bg: str | Sequence[str] | None = None,
    settings: Settings | None = None, output: str | Path | None = None,
    vcam: VirtualCamera | bool = False, preview: bool = False, sinks: Sequence[Sink] = (),
    size: tuple[int, int] | None = None, fps: float | None = None,
    watch: Path | None = None, notify: Notify | None = None,
) -> Iterator[LiveRunner]:
    """A live run over a camera or a file played in real time, newest frame winning.

    ``bg`` is one background or several to switch between. Outputs: ``output`` records a file
    (frames keep their capture times), ``vcam`` feeds a virtual camera, ``preview`` opens a
    window, ``settings.alpha_output`` writes the matte of every delivered frame, and ``sinks``
    adds any :class:`~rtmatte.sinks.base.Sink` of the caller's. The yielded runner is either
    ``run()`` to the end (``.result`` then holds the figures) or iterated for
    ``(picture, frame, matte)``::

        with api.open_live("camera", bg="beach.jpg", vcam=True) as live:
            for picture, frame, matte in live:
                ...

    Everything opens in the order that fails fastest (backgrounds, window, source, virtual
    camera, files, the model last, as it is the slow part), and whatever was opened is
    released when a later step fails. Leaving the block stops the run and finalizes every
    sink, the caller's too.
    """
    settings = settings or load_settings()
    specs = [bg] if isinstance(bg, str) else list(bg or [settings.bg])
    transparent = any(spec.strip().lower() == TRANSPARENT for spec in specs)
    if transparent and (vcam or preview or len(specs) > 1):
        raise SettingsError("--bg transparent only works with -o FILE alone in a live run; for a "
                            "virtual camera use a colour such as --bg '#00b140' and key it out")
    opened: list[Sink] = list(sinks)
    reader: LiveReader | None = None
    try:
        backgrounds = Backgrounds(specs, settings.post, notify)
        if preview:
            opened.append(PreviewWindow())
        reader = open_source(source, size=size, fps=fps, notify=notify)
        if notify:
            notify(reader.description)
        rate = fps or reader.fps
        if vcam:
            options = vcam if isinstance(vcam, VirtualCamera) else VirtualCamera()
            camera = VirtualCameraSink(reader.size[0], reader.size[1], rate,
                                       device=options.device, backend=options.backend,
                                       on_demand=options.on_demand)
            opened.append(camera)
            if notify:
                notify(f"virtual camera {camera.device} ({camera.backend}), {reader.size[0]}x"
                       f"{reader.size[1]} at {rate:g} fps")
                if options.on_demand and not camera.on_demand:
                    notify("--on-demand needs a v4l2loopback device node (Linux); matting always")
        if output is not None:
            opened.append(VideoFileSink(Path(output), time_base=reader.time_base,
                                        rate=Fraction(rate).limit_denominator(1001),
                                        alpha=transparent, crf=settings.crf,
                                        overwrite=settings.overwrite))
        if settings.alpha_output:
            opened.append(AlphaSequenceSink(settings.alpha_output, settings.overwrite))
        matter = open_live_matter(settings, 1.0 / reader.fps, notify)
    except BaseException:
        SinkGroup(opened).abort()
        if reader is not None:
            reader.close()
        raise
    runner = LiveRunner(reader, matter, backgrounds, opened,
                        watch=BackgroundWatch(watch) if watch else None, notify=notify,
                        input_name=str(source),
                        output_name=str(output or ("vcam" if vcam else "")))
    try:
        yield runner
    finally:
        runner.request_stop()
        runner.close()


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

"""The public Python API: everything the CLI does, callable from code.

>>> from rtmatte import api
>>> api.process("talk.mp4", "talk_beach.mp4", bg="beach.jpg")        # doctest: +SKIP
>>> matter = api.open_matter()                                        # doctest: +SKIP
>>> matte = matter(rgb_frame)   # .alpha (H, W), .fgr (H, W, 3), recurrent state carried
>>> with api.open_live("camera", bg="beach.jpg", vcam=True) as live:  # doctest: +SKIP
...     result = live.run()

Errors follow one rule. An argument the API cannot use (a number for a path, ``bg=5``, a float
or grey picture, settings that fail validation) raises a typed error before any work:
:class:`~rtmatte.errors.ArgumentError` for the argument's type or shape (a ``UserError`` that is
also a ``TypeError`` and a ``ValueError``), ``SettingsError`` for a setting's value. Everything
rtmatte raises on purpose is an :class:`~rtmatte.errors.RtmatteError`; anything else is a bug.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from rtmatte.compose.background_switch import BackgroundSwitch
from rtmatte.compose.backgrounds import is_transparent
from rtmatte.errors import ArgumentError, InputError, SettingsError, StreamError, UserError
from rtmatte.matting.matter import Matter
from rtmatte.matting.open import live_cpu_threads, model_path
from rtmatte.media import is_image_path, is_video_path
from rtmatte.run.engine import Engine, open_live_matter
from rtmatte.run.engine import open_matter as engine_matter
from rtmatte.run.live import BackgroundWatch, LiveResult, LiveRunner
from rtmatte.run.offline import (
    BatchError,
    Failure,
    Job,
    JobResult,
    check_output,
    describe,
    make_output_folder,
    plan_inputs,
)
from rtmatte.settings import Settings, load_settings
from rtmatte.sinks import AlphaSequenceSink, Sink, SinkGroup, VideoFileSink
from rtmatte.sinks.atomic import remove_empty_folders
from rtmatte.sinks.preview import PreviewWindow
from rtmatte.sinks.vcam import VirtualCameraSink
from rtmatte.sources.base import LiveReader
from rtmatte.sources.camera import CameraReader, parse_camera
from rtmatte.sources.file import (
    check_picture_file,
    check_size,
    decode_image,
    read_image_with_alpha,
    readable_kind,
)
from rtmatte.sources.realtime import RealtimeFileReader
from rtmatte.types import Notify

#: what :func:`remove_background` takes (a PIL.Image too, when PIL is installed)
Picture = str | os.PathLike | bytes | np.ndarray

__all__ = ["BatchError", "Failure", "JobResult", "LiveResult", "LiveRunner", "VirtualCamera",
           "live_cpu_threads", "model_path", "open_live", "open_live_matter", "open_matter",
           "open_source", "process", "remove_background"]


def process(
    source: str | Path, target: str | Path | None = None, *, bg: str | None = None,
    settings: Settings | None = None, notify: Notify | None = None,
    progress: bool | None = False, on_progress: Callable[[int, int], None] | None = None,
) -> list[JobResult]:
    """Process a video, an image or a folder of them; returns one result per file written.

    ``notify`` hears of each file as it is finished or fails; ``on_progress`` of each video's
    frames as they are written (done, total; total is 0 when the file does not say). In a
    folder, every file is attempted; when any failed, :class:`BatchError` is raised at the end,
    carrying the results of those that worked and the reason of each that did not. An argument
    of the wrong type raises :class:`~rtmatte.errors.ArgumentError` before any work.
    """
    source = _path("process", "source", source)
    target = _path("process", "target", target, optional=True)
    _check("process", "bg", bg, str, "a --bg value (text)", optional=True)
    _check_common("process", settings, notify)
    _check("process", "progress", progress, bool, "True, False or None", optional=True)
    _check_callable("process", "on_progress", on_progress)
    settings = settings or load_settings()
    if bg is not None:
        settings = dataclasses.replace(settings, bg=bg)
    settings.validate()
    if not source.exists():
        raise InputError(f"{source}: no such file or folder")
    if source.is_file() and not (is_video_path(source) or is_image_path(source)):
        readable_kind(source)  # readable? (unknown extensions are tried as video)
    transparent = is_transparent(settings.bg)
    background_file = Path(settings.bg).expanduser()
    protect = [background_file] if background_file.is_file() else []
    pairs = plan_inputs(source, Path(target) if target else None, transparent, protect)
    failures: list[Failure] = []

    def failed(item: Path, exc: Exception) -> None:
        if len(pairs) == 1:
            raise exc
        failures.append(Failure(input=str(item), error=str(exc)))
        if notify:
            notify(f"failed {item.name}: {exc}")

    ready = []
    for item, out in pairs:  # what can be refused is, before the model loads (seconds)
        try:
            check_output(item, out, settings.overwrite, transparent,
                         alpha_output=settings.alpha_output, folder_made=source.is_dir())
            check_picture_file(item, settings.max_picture_pixels)
        except UserError as exc:
            failed(item, exc)
            continue
        ready.append((item, out))
    if not ready:
        raise BatchError([], failures)
    job = Job(settings, notify=notify, progress=progress, on_progress=on_progress)
    results: list[JobResult] = []
    made = make_output_folder(source, target)
    try:
        for item, out in ready:
            try:
                result = job.run(item, out)
            except (UserError, StreamError) as exc:
                failed(item, exc)
                continue
            results.append(result)
            if notify:
                for note in result.notes:
                    notify(note)
                notify(describe(result))
    finally:
        remove_empty_folders(made)
    if failures:
        raise BatchError(results, failures)
    return results


def open_source(source: str | Path, size: tuple[int, int] | None = None,
                fps: float | None = None, notify: Notify | None = None,
                loop: bool = False) -> LiveReader:
    """A camera (``camera``, ``camera:N``, ``/dev/videoN``) or a video file played in real time
    (from the start again at its end when ``loop``, as a camera never ends); a source, size or
    fps of the wrong type raises :class:`~rtmatte.errors.ArgumentError`."""
    source = _path("open_source", "source", source)
    size, fps = _size("open_source", size), _fps("open_source", fps)
    _check_callable("open_source", "notify", notify)
    if parse_camera(str(source)) is not None:
        return CameraReader(str(source), size=size, fps=fps, notify=notify)
    return RealtimeFileReader(Path(source), notify=notify, loop=loop)


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
    watch: Path | None = None, notify: Notify | None = None, loop: bool = False,
) -> Iterator[LiveRunner]:
    """A live run over a camera or a file played in real time, newest frame winning.

    ``bg`` is one background or several to switch between. Outputs: ``output`` records a file
    (frames keep their capture times), ``vcam`` feeds a virtual camera, ``preview`` opens a
    window, ``settings.alpha_output`` writes the matte of every delivered frame, and ``sinks``
    adds any :class:`~rtmatte.sinks.base.Sink` of the caller's. ``loop`` plays a file source
    again from its start at its end. The yielded runner is either
    ``run()`` to the end (``.result`` then holds the figures) or iterated for
    ``(picture, frame, matte)``::

        with api.open_live("camera", bg="beach.jpg", vcam=True) as live:
            for picture, frame, matte in live:
                ...

    Everything opens in the order that fails fastest (backgrounds, window, source, virtual
    camera, files, the model last, as it is the slow part), and whatever was opened is
    released when a later step fails. Leaving the block stops the run and finalizes every
    sink, the caller's too. An argument of the wrong type (a path, bg, size, fps,
    sinks) raises :class:`~rtmatte.errors.ArgumentError` before anything opens.
    """
    source = _path("open_live", "source", source)
    output = _path("open_live", "output", output, optional=True)
    watch = _path("open_live", "watch", watch, optional=True)
    _check_common("open_live", settings, notify)
    _check("open_live", "vcam", vcam, (bool, VirtualCamera), "True, False or a VirtualCamera")
    _check("open_live", "preview", preview, bool, "True or False")
    _check("open_live", "loop", loop, bool, "True or False")
    size, fps = _size("open_live", size), _fps("open_live", fps)
    _check_backgrounds("open_live", bg)
    _check_sinks("open_live", sinks)
    settings = (settings or load_settings()).validate()
    specs = [bg] if isinstance(bg, str) else list(bg or [settings.bg])
    transparent = any(is_transparent(spec) for spec in specs)
    if transparent and (vcam or preview or len(specs) > 1):
        raise SettingsError("--bg transparent only works with -o FILE alone in a live run; for a "
                            "virtual camera use a colour such as --bg '#00b140' and key it out")
    opened: list[Sink] = list(sinks)
    reader: LiveReader | None = None
    try:
        backgrounds = BackgroundSwitch(specs, settings.post, notify,
                                       settings.max_picture_pixels)
        if preview:
            opened.append(PreviewWindow())
        reader = open_source(source, size=size, fps=fps, notify=notify, loop=loop)
        if notify:
            notify(reader.description)
        rate = fps or reader.fps
        if vcam:
            options = vcam if isinstance(vcam, VirtualCamera) else VirtualCamera()
            camera = VirtualCameraSink(reader.size[0], reader.size[1], rate,
                                       device=options.device, backend=options.backend,
                                       on_demand=options.on_demand, notify=notify)
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
        engine = Engine(settings, engine_matter(settings, notify, live=True), backgrounds)
    except BaseException:
        SinkGroup(opened).abort()
        if reader is not None:
            reader.close()
        raise
    runner = LiveRunner(reader, engine.live(1.0 / reader.fps), engine.switch, opened,
                        watch=BackgroundWatch(watch) if watch else None, notify=notify,
                        input_name=str(source),
                        output_name=str(output or ("vcam" if vcam else "")),
                        judge_nobody=engine.judge_nobody)
    try:
        yield runner
    finally:
        runner.request_stop()
        runner.close()


def open_matter(settings: Settings | None = None, notify: Notify | None = None) -> Matter:
    """A frame-level Matter: call it with uint8 RGB frames in order, get :class:`Matte` back."""
    return engine_matter(settings or Settings(), notify)


def remove_background(rgb: Picture, matter: Matter | None = None,
                      settings: Settings | None = None) -> np.ndarray:
    """Cut the person out of one picture: uint8 RGBA with straight alpha, edges treated as the
    settings say (as ``rtmatte photo.jpg --bg transparent`` would).

    The picture may be what a ``rembg`` user would pass: a path (str or os.PathLike) or the
    encoded bytes of a picture file, read as the command line reads it (EXIF turn applied,
    what a transparent picture hides stays hidden, a size over ``max_picture_pixels`` refused
    from the header before decoding); a uint8 RGB numpy array of shape (H, W, 3); or a
    PIL.Image (converted to RGB). A missing or unreadable file raises InputError; another kind
    of array (float, grey, RGBA, empty) or argument raises ArgumentError.
    """
    _check("remove_background", "matter", matter, Matter, "a Matter from api.open_matter()",
           optional=True)
    _check_common("remove_background", settings, None)
    settings = (settings or load_settings()).validate()
    rgb, own_alpha = _read_picture("remove_background", rgb, settings.max_picture_pixels)
    # matting takes about 85 bytes a pixel: refused before the model is even opened
    check_size(rgb.shape[1], rgb.shape[0], settings.max_picture_pixels, "the picture is")
    engine = Engine(settings, matter or open_matter(settings))  # makes transparent pictures
    return engine.picture(rgb, own_alpha)[0]


def _read_picture(function: str, picture: object,
                  max_pixels: int) -> tuple[np.ndarray, np.ndarray | None]:
    """RGB (H, W, 3) uint8 and the picture's own alpha from any form ``remove_background``
    takes. PIL is only looked at when the caller has imported it: rtmatte does not need it."""
    if isinstance(picture, (str, os.PathLike)):
        return read_image_with_alpha(Path(picture), max_pixels)
    if isinstance(picture, (bytes, bytearray, memoryview)):
        return decode_image(np.frombuffer(picture, np.uint8), "the picture's bytes",
                            max_pixels=max_pixels)
    pil = sys.modules.get("PIL.Image")
    if pil is not None and isinstance(picture, pil.Image):
        check_size(picture.width, picture.height, max_pixels, "the picture is")
        return np.asarray(picture.convert("RGB")), None
    _picture(function, picture)
    return picture, None  # type: ignore[return-value]


def _shown(value: object) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _check(function: str, name: str, value: object, kinds: type | tuple[type, ...],
           wanted: str, optional: bool = False) -> None:
    """Refuse ``value`` unless it is one of ``kinds`` (or None when ``optional``)."""
    if value is None and optional:
        return
    if not isinstance(value, kinds):
        raise ArgumentError(f"api.{function}: {name} must be {wanted}, not {_shown(value)}")


def _path(function: str, name: str, value: object, optional: bool = False) -> Path | None:
    _check(function, name, value, (str, os.PathLike), "a path (str or pathlib.Path)", optional)
    return None if value is None else Path(value)  # type: ignore[arg-type]


def _check_callable(function: str, name: str, value: object) -> None:
    if value is not None and not callable(value):
        raise ArgumentError(f"api.{function}: {name} must be a function or None, not "
                            f"{_shown(value)}")


def _check_common(function: str, settings: object, notify: object) -> None:
    _check(function, "settings", settings, Settings,
           "a Settings (rtmatte.settings.load_settings())", optional=True)
    _check_callable(function, "notify", notify)


def _check_backgrounds(function: str, bg: object) -> None:
    if bg is None or isinstance(bg, str):
        return
    if not isinstance(bg, Sequence) or not bg or not all(isinstance(b, str) for b in bg):
        raise ArgumentError(f"api.{function}: bg must be a --bg value (text) or a list of "
                            f"them, not {_shown(bg)}")


def _check_sinks(function: str, sinks: object) -> None:
    if not isinstance(sinks, Sequence) or isinstance(sinks, str):
        raise ArgumentError(f"api.{function}: sinks must be a list of Sinks, not "
                            f"{_shown(sinks)}")
    for sink in sinks:
        if not all(callable(getattr(sink, method, None)) for method in ("write", "close",
                                                                         "abort")):
            raise ArgumentError(f"api.{function}: each of sinks must be a Sink (write, close "
                                f"and abort: rtmatte.sinks.base.Sink), not {_shown(sink)}")


def _size(function: str, size: object) -> tuple[int, int] | None:
    if size is None:
        return None
    if not (isinstance(size, Sequence) and len(size) == 2
            and all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in size)):
        raise ArgumentError(f"api.{function}: size must be (width, height) in whole pixels "
                            f"above 0, not {_shown(size)}")
    return int(size[0]), int(size[1])


def _fps(function: str, fps: object) -> float | None:
    if fps is None:
        return None
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) \
            or not math.isfinite(fps) or fps <= 0:
        raise ArgumentError(f"api.{function}: fps must be a finite number above 0, not "
                            f"{_shown(fps)}")
    return float(fps)


def _picture(function: str, rgb: object) -> None:
    """A uint8 RGB picture (H, W, 3), as OpenCV and the model take it, or a one-line reason."""
    if not isinstance(rgb, np.ndarray):
        raise ArgumentError(f"api.{function}: the picture must be a path, a picture file's "
                            f"bytes, a PIL.Image or a numpy array (H, W, 3) of uint8 RGB, not "
                            f"{_shown(rgb)}")
    if rgb.ndim != 3 or rgb.shape[2] != 3 or 0 in rgb.shape:
        raise ArgumentError(f"api.{function}: the picture must be (H, W, 3) RGB, not shape "
                            f"{rgb.shape} (for grey use np.repeat(g[..., None], 3, 2); for RGBA "
                            "drop the alpha: rgba[..., :3])")
    if rgb.dtype != np.uint8:
        raise ArgumentError(f"api.{function}: the picture must be uint8 (0-255), not "
                            f"{rgb.dtype} (from floats in [0, 1]: "
                            "(rgb * 255).round().astype(np.uint8))")

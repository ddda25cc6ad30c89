"""The file driver: every frame of a video (or the one of a picture), in order, through bounded
queues into a list of sinks; and the planning of which input goes to which output."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from rtmatte.errors import InputError, OutputError, StreamError, UserError
from rtmatte.matting.matter import Matter
from rtmatte.media import is_image_path, media_in_folder
from rtmatte.run.engine import Engine
from rtmatte.run.figures import RunFigures
from rtmatte.run.pipeline import Pipeline
from rtmatte.run.progress import Progress
from rtmatte.settings import Settings
from rtmatte.sinks import AlphaSequenceSink, ImageSink, SinkGroup, VideoFileSink
from rtmatte.sinks.alpha import FramePattern
from rtmatte.sinks.atomic import check_kind, check_name, check_target, make_folder
from rtmatte.sinks.video_file import refuse_alpha_target
from rtmatte.sources.file import VideoSource, read_image_with_alpha, readable_kind
from rtmatte.types import Frame, Matte, Notify

OUTPUT_TAG = ".rtmatte"
#: a matte holds someone when at least this share of its pixels is at least half opaque: 1e-4 is
#: about 200 pixels of a 1080p frame, less than any person worth cutting out, more than the
#: specks the model can leave on a texture
PERSON_SHARE = 1e-4


@dataclass(kw_only=True)
class JobResult(RunFigures):
    """What one input produced, and how fast: the content of ``--stats``."""

    audio: list[str] = field(default_factory=list)
    scene_cuts: int = 0
    #: what changed on the way for the audio and subtitles, as said to the user
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["fps"] = round(self.fps, 3)
        data["seconds"] = round(self.seconds, 4)
        return data


def default_output(source: Path, transparent: bool) -> Path:
    """``NAME.rtmatte.EXT`` beside the input; transparent results get a container with alpha."""
    suffix = source.suffix.lower()
    if transparent:
        suffix = ".png" if is_image_path(source) else ".mov"
    return source.with_name(f"{source.stem}{OUTPUT_TAG}{suffix}")


class Job:
    """Runs inputs through one :class:`~rtmatte.run.engine.Engine`, so the files of a folder
    share its model.

    The background restarts with each file: a video background then begins at its first frame
    with each input instead of carrying on from where the last one stopped.
    """

    def __init__(self, settings: Settings, notify: Notify | None = None,
                 progress: bool | None = None, matter: Matter | None = None,
                 on_progress: Callable[[int, int], None] | None = None) -> None:
        """``matter`` is one built by the caller (a cluster worker sizes its CPU threads to the
        cores it was given); by default the settings' model opens here."""
        self.settings = settings
        self.notify = notify
        self.progress = progress
        #: told (frames done, frames in the file or 0 when unknown) as a video goes
        self.on_progress = on_progress
        self.engine = Engine.open(settings, notify, matter=matter)
        self.transparent = self.engine.transparent

    def run(self, source: Path, target: Path | None) -> JobResult:
        source = Path(source)
        if target is None:
            target = default_output(source, self.transparent)
        if self.engine.compositor.background is not None:
            self.engine.compositor.background.restart()
        if readable_kind(source) == "image":
            return self._image(source, Path(target))
        return self._video(source, Path(target))

    def _image(self, source: Path, target: Path) -> JobResult:
        sinks = SinkGroup([ImageSink(target, self.settings.overwrite, alpha=self.transparent),
                           *self._alpha_sinks()])  # names checked before the model runs
        try:
            rgb, own_alpha = read_image_with_alpha(source, self.settings.max_picture_pixels)
            started = time.perf_counter()
            picture, frame, matte = self.engine.picture(rgb, own_alpha)
            sinks.write(picture, frame, matte)
        except BaseException:
            sinks.abort()
            raise
        sinks.close()
        return JobResult(
            input=str(source), output=str(target), kind="image", frames=1,
            seconds=time.perf_counter() - started, backend=self.engine.backend_name,
            downsample_ratio=self.engine.matter.ratio_for(*rgb.shape[:2]),
            notes=[] if holds_person(matte.alpha) else [nobody_note(source)],
        )

    def _alpha_sinks(self) -> list[AlphaSequenceSink]:
        if not self.settings.alpha_output:
            return []
        return [AlphaSequenceSink(self.settings.alpha_output, self.settings.overwrite)]

    def _report(self, meter: Progress, total: int, done: int) -> None:
        meter.update(done)
        if self.on_progress is not None:
            self.on_progress(done, total)

    def _video(self, source_path: Path, target: Path) -> JobResult:
        with VideoSource(source_path, self.settings.max_picture_pixels, self.notify) as source:
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
            engine = self.engine
            engine.reset()
            ratio: list[float] = []

            def infer(frame: Frame) -> tuple[Frame, Matte]:
                if not ratio:
                    ratio.append(engine.matter.ratio_for(*frame.rgb.shape[:2]))
                return frame, engine.infer(frame.rgb)

            def post(item: tuple[Frame, Matte]) -> tuple[Frame, Matte]:
                frame, matte = item
                return frame, engine.refine(frame.rgb, matte)

            someone: list[bool] = []  # filled once a frame holds a person

            def composite(item: tuple[Frame, Matte]) -> tuple[np.ndarray, Frame, Matte]:
                frame, matte = item
                if not someone and holds_person(matte.alpha):
                    someone.append(True)
                return engine.composite(frame, matte), frame, matte

            meter = Progress(source_path.name, total=info.frames, enabled=self.progress)
            # post-processing gets its own thread when it has steps, off the model's critical path
            stages = [("infer", infer), ("post", post), ("composite", composite)]
            if not engine.post.steps:
                del stages[1]
            pipeline = Pipeline(source, stages, lambda item: sinks.write(*item),
                                on_progress=partial(self._report, meter, info.frames))
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
            try:
                engine.finish()
            except BaseException:
                sinks.abort()
                raise
            written = sinks.close()[0]
        return JobResult(
            input=str(source_path), output=str(written), kind="video", frames=video.frames,
            seconds=stats.seconds, backend=engine.backend_name,
            downsample_ratio=ratio[0] if ratio else 0.0,
            stages={name: timing.as_dict() for name, timing in stats.stages.items()},
            audio=video.audio_codecs, scene_cuts=engine.matter.cuts,
            notes=video.notes + ([] if someone else [nobody_note(source_path)]),
        )


def holds_person(alpha: np.ndarray) -> bool:
    """Whether a matte cut anyone out (see :data:`PERSON_SHARE`)."""
    return np.count_nonzero(alpha >= 0.5) >= max(1.0, PERSON_SHARE * alpha.size)


def nobody_note(source: Path) -> str:
    """Said when no frame of ``source`` held a person: the output is right, yet likely not what
    was hoped for, since the model cuts out people and nothing else."""
    return (f"no person found in {source.name}: the result shows only the background (fully "
            f"transparent with --bg transparent); rtmatte cuts out people")


def plan_inputs(source: Path, target: Path | None, transparent: bool,
                protect: Sequence[Path] = ()) -> list[tuple[Path, Path]]:
    """Pair each input with its output; a folder expands to every video and image in it.

    Outputs into another folder keep their input's name; into the input's own folder they keep
    the ``.rtmatte`` tag. No output may land on an input (of this run, or a file in ``protect``
    such as the background), nor two outputs on one name, nor a name longer than the file
    system takes: that is refused before any work, with or without ``--overwrite``. Nothing is
    created here: :func:`make_output_folder` does that once the run is ready to write.
    """
    source = Path(source)
    if not source.is_dir():
        pairs = [(source, Path(target) if target else default_output(source, transparent))]
    else:
        pairs = _folder_pairs(source, target, transparent)
    inputs = {_identity(path) for path in [*(item for item, _ in pairs), *map(Path, protect)]}
    seen: dict[tuple[int, int] | Path, Path] = {}
    for item, out in pairs:
        check_name(out)  # NAME.rtmatte.EXT of a long input name can pass the file system's limit
        key = _identity(out)
        if key in inputs:
            raise OutputError(f"{out} is an input of this run; rtmatte never writes over its "
                              "inputs: choose another output name or folder")
        if key in seen:
            raise OutputError(f"{seen[key].name} and {item.name} would both be written to "
                              f"{out}; rename one of them or process them apart")
        seen[key] = item
    return pairs


def check_output(source: Path, target: Path, overwrite: bool, transparent: bool, *,
                 alpha_output: str | None = None, folder_made: bool = False) -> None:
    """Refuse now what the sinks would refuse once the model had loaded (seconds later): an
    output whose extension does not fit the input's kind or cannot carry transparency, a name
    that is taken (without ``overwrite``), a folder that is missing or not writable, an
    ``--alpha-output`` sequence already there. The sinks check again when they open: another
    program may take the name meanwhile. ``folder_made``: the run creates ``target``'s folder
    when it is missing (a folder run's ``-o``), so a missing one is no reason to refuse."""
    target = Path(target)
    check_kind(target, readable_kind(source))
    if transparent:
        refuse_alpha_target(target)
    if target.parent.is_dir() or not folder_made:
        check_target(target, overwrite)
    if alpha_output:
        pattern = FramePattern(alpha_output)
        check_name(pattern.folder / pattern.name(1), hint="give --alpha-output a shorter pattern")
        existing = pattern.existing()
        if existing and not overwrite:
            raise OutputError(f"{existing[0]} already exists; pass --overwrite to replace the "
                              "sequence")


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
    check_name(target)
    if target.exists() and not target.is_dir():
        raise OutputError(f"{target}: for a folder of inputs, -o must name a folder")
    return [(item, target / default_output(item, transparent).name.replace(OUTPUT_TAG, ""))
            for item in items]


def make_output_folder(source: Path, target: Path | None) -> list[Path]:
    """Create a folder run's ``-o`` folder (and missing parents) once everything that can be
    refused before writing has been; returns those made, outermost first, for
    :func:`~rtmatte.sinks.atomic.remove_empty_folders` when nothing was written into them. A
    single file's folder is never created: it must exist, so a mistyped one is refused."""
    if target is None or not Path(source).is_dir():
        return []
    return make_folder(Path(target))


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



"""One long video across workers: split at keyframes, matte each chunk warmed up, join by remux.

A chunk is the frames from one source keyframe to the next boundary. Its worker decodes from a
keyframe before that, runs the recurrent model (and the post chain, whose temporal smoothing
has memory too) over ``WARMUP_SECONDS`` of frames it does not write, so the state at the
chunk's first frame is close to what an unsplit run would carry there (docs/scale.md measures
how close). Each chunk is encoded as its own segment file with the source's time base and
exact timestamps, in a hidden folder beside the output; a segment is written whole or not at
all, so one that exists is finished and a rerun reuses it. The join copies the segments'
packets one after another into the output, with no re-encode, and carries the audio and
subtitles once, straight from the source, interleaved by time as a single run does.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from rtmatte.compose.backgrounds import VideoBackground
from rtmatte.errors import InputError, OutputError, StreamError
from rtmatte.run.offline import Job, JobResult
from rtmatte.run.pipeline import Pipeline
from rtmatte.sinks import VideoFileSink
from rtmatte.sinks.atomic import Staging, check_target, write_error
from rtmatte.sinks.audio import AudioCarrier
from rtmatte.sources.file import VideoSource
from rtmatte.types import Frame, Matte

#: seconds of frames the model sees before a chunk's first written frame (docs/scale.md)
WARMUP_SECONDS = 2.0
#: a last chunk shorter than this share of --chunk-seconds joins the one before
_TAIL_SHARE = 0.25
#: display rotation (degrees clockwise) -> the turn that shows the picture upright, as
#: rtmatte.sources.file.VideoSource does for whole files
_UPRIGHT = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


@dataclass(frozen=True)
class Chunk:
    """One worker's share of a video: where to seek, warm up, start and stop (source pts)."""

    source: str
    segment: str
    number: int
    seek_pts: int
    warm_pts: int
    start_pts: int
    #: the next chunk's first frame; None for the last chunk
    end_pts: int | None
    #: the video's first frame, where a video background's clock starts
    first_pts: int
    frames: int
    time_base: Fraction
    rate: Fraction


@dataclass
class ChunkPlan:
    """A video split into chunks, the hidden folder their segments go to, and the output."""

    source: Path
    target: Path
    folder: Path
    chunks: list[Chunk]
    frames: int
    done: set[int] = field(default_factory=set)

    def segment_done(self, chunk: Chunk) -> bool:
        return Path(chunk.segment).is_file()


def plan_chunks(source: Path, target: Path, chunk_seconds: float, fingerprint: str,
                warmup_seconds: float = WARMUP_SECONDS) -> ChunkPlan | None:
    """Split ``source`` at the first keyframe at least ``chunk_seconds`` after the last split;
    None when that leaves one chunk (the video then runs whole, as on one machine)."""
    with VideoSource(source) as probe:
        info = probe.info
    pts, keyframes = _index(source)
    tb = info.time_base
    first = pts[0]
    starts = [first]
    for key in keyframes:
        if (key - starts[-1]) * tb >= chunk_seconds:
            starts.append(key)
    if len(starts) > 1 and (pts[-1] - starts[-1]) * tb < chunk_seconds * _TAIL_SHARE:
        starts.pop()
    if len(starts) == 1:
        return None
    folder = _chunk_folder(source, target, f"{chunk_seconds!r}|{warmup_seconds!r}", fingerprint)
    warm_ticks = round(Fraction(warmup_seconds) / tb)
    chunks = []
    for number, start in enumerate(starts):
        end = starts[number + 1] if number + 1 < len(starts) else None
        warm = pts[max(0, bisect_right(pts, start - warm_ticks - 1))] if number else start
        seekable = [k for k in keyframes if k <= warm]
        frames = sum(1 for p in pts if p >= start and (end is None or p < end))
        chunks.append(Chunk(
            source=str(source), segment=str(folder / f"{number:05d}{target.suffix}"),
            number=number, seek_pts=seekable[-1] if seekable else first, warm_pts=warm,
            start_pts=start, end_pts=end, first_pts=first, frames=frames, time_base=tb,
            rate=info.rate))
    return ChunkPlan(source=source, target=target, folder=folder, chunks=chunks,
                     frames=len(pts))


def _index(source: Path) -> tuple[list[int], list[int]]:
    """Every video packet's pts (sorted) and the keyframes' pts, by demuxing without decoding."""
    refuse = f"{source}: cannot be split into chunks ({{}}); run it without --chunk-seconds"
    pts: list[int] = []
    keyframes: list[int] = []
    try:
        with av.open(str(source)) as container:
            stream = container.streams.video[0]
            for packet in container.demux(stream):
                if not packet.size:
                    continue
                if packet.pts is None:
                    raise InputError(refuse.format("its frames carry no timestamps"))
                pts.append(packet.pts)
                if packet.is_keyframe:
                    keyframes.append(packet.pts)
    except av.error.FFmpegError as exc:
        raise InputError(refuse.format(f"its packets cannot be read: {exc}")) from exc
    pts.sort()
    if not pts:
        raise InputError(f"{source}: the video stream holds no frames")
    if len(set(pts)) != len(pts):
        raise InputError(refuse.format("two frames share one timestamp"))
    return pts, sorted(keyframes)


def _chunk_folder(source: Path, target: Path, cut: str, fingerprint: str) -> Path:
    """A hidden folder beside the output named after everything its segments depend on, so a
    rerun finds finished segments and a changed input or setting never reuses stale ones."""
    status = os.stat(source)
    key = "|".join([os.path.abspath(source), str(status.st_size), str(status.st_mtime_ns),
                    fingerprint, cut])
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return target.parent / f".rtmatte-chunks-{target.name}-{digest}"


def matte_chunk(job: Job, chunk: Chunk) -> JobResult:
    """Run one chunk through ``job``'s model, post chain and compositor into its segment file.

    The segment is encoded exactly as a whole file would be (same sink, codec, quality, time
    base); only the frames from ``start_pts`` on are written.
    """
    segment = Path(chunk.segment)
    segment.parent.mkdir(exist_ok=True)
    sink = VideoFileSink(segment, time_base=chunk.time_base, rate=chunk.rate,
                         alpha=job.transparent, crf=job.settings.crf, overwrite=True)
    job.matter.reset()
    job.post.reset()
    background = job.compositor.background
    if background is not None:
        background.restart()
        if isinstance(background, VideoBackground):  # its clock starts at the video's start
            still = np.zeros((2, 2, 3), np.uint8)
            background.render(Frame(rgb=still, index=0, pts=chunk.first_pts,
                                    time_base=chunk.time_base), np.zeros((2, 2), np.float32))
    ratio: list[float] = []

    def infer(item: tuple[Frame, bool]) -> tuple[Frame, bool, Matte]:
        frame, keep = item
        if not ratio:
            ratio.append(job.matter.ratio_for(*frame.rgb.shape[:2]))
        return frame, keep, job.matter(frame.rgb)

    def post(item: tuple[Frame, bool, Matte]) -> tuple[Frame, bool, Matte]:
        frame, keep, matte = item
        return frame, keep, job.post(frame.rgb, matte)

    def write(item: tuple[Frame, bool, Matte]) -> None:
        frame, keep, matte = item
        if keep:
            sink.write(job.compositor(frame, matte), frame, matte)

    try:
        with av.open(chunk.source) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            container.seek(chunk.seek_pts, stream=stream, backward=True, any_frame=False)
            stats = Pipeline(_frames(container, stream, chunk),
                             [("infer", infer), ("post", post)], write).run()
        if sink.frames != chunk.frames:
            raise StreamError(f"{chunk.source}: chunk {chunk.number} decoded {sink.frames} of "
                              f"its {chunk.frames} frames")
    except av.error.FFmpegError as exc:
        sink.abort()
        raise InputError(f"{chunk.source}: cannot be read for chunk {chunk.number} "
                         f"({exc})") from exc
    except BaseException:
        sink.abort()
        raise
    sink.close()
    return JobResult(
        input=chunk.source, output=str(segment), kind="chunk", frames=sink.frames,
        seconds=stats.seconds, backend=job.matter.backend.name,
        downsample_ratio=ratio[0] if ratio else 0.0,
        stages={name: timing.as_dict() for name, timing in stats.stages.items()},
        scene_cuts=job.matter.cuts)


def _frames(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
            chunk: Chunk) -> Iterator[tuple[Frame, bool]]:
    """Upright frames from the warm-up start to the chunk's end, each with whether to write it."""
    index = 0
    try:
        for decoded in container.decode(stream):
            pts = decoded.pts
            if pts is None or pts < chunk.warm_pts:
                continue
            if chunk.end_pts is not None and pts >= chunk.end_pts:
                return
            rgb = decoded.to_ndarray(format="rgb24")
            turn = _UPRIGHT.get(-int(decoded.rotation or 0) % 360)
            if turn is not None:
                rgb = cv2.rotate(rgb, turn)
            yield Frame(rgb=rgb, index=index, pts=pts, time_base=chunk.time_base), \
                pts >= chunk.start_pts
            index += 1
    except av.error.FFmpegError as exc:
        raise StreamError(f"{chunk.source}: the video stream is corrupt in chunk {chunk.number} "
                          f"({str(exc).splitlines()[0]})") from exc


@dataclass
class Joined:
    """The joined output and what the carried streams went through."""

    output: Path
    frames: int
    audio: list[str]
    notes: list[str]


def join_segments(plan: ChunkPlan, overwrite: bool) -> Joined:
    """Copy every segment's video packets, in order, into the output beside the source's own
    audio and subtitles; staged and renamed into place whole, then the segments are removed."""
    target = plan.target
    check_target(target, overwrite)
    segments = [Path(c.segment) for c in plan.chunks]
    staging = Staging(target.parent)
    staged = staging.file(target.name)
    carrier: AudioCarrier | None = None
    frames = 0
    try:
        with av.open(str(staged), "w") as output:
            with av.open(str(segments[0])) as first:
                template = first.streams.video[0]
                video = output.add_stream_from_template(template)
                video.time_base = template.time_base
                extradata = template.codec_context.extradata
            with av.open(str(plan.source)) as probe:
                carried = len(probe.streams.audio) + len(probe.streams.subtitles)
            if carried:
                carrier = AudioCarrier(plan.source, output, target.suffix.lower())
            for segment in segments:
                with av.open(str(segment)) as part:
                    stream = part.streams.video[0]
                    if stream.codec_context.extradata != extradata:
                        raise OutputError(f"{target}: the chunks were encoded with different "
                                          "parameters and cannot be joined; rerun without "
                                          "--chunk-seconds")
                    for packet in part.demux(stream):
                        if packet.dts is None or not packet.size:
                            continue
                        if carrier is not None and packet.pts is not None:
                            carrier.feed_until(float(packet.pts * packet.time_base))
                        packet.stream = video
                        output.mux(packet)
                        frames += 1
            if carrier is not None:
                carrier.finish()
        if frames != plan.frames:
            raise StreamError(f"{target}: the joined video holds {frames} frames where the "
                              f"source has {plan.frames}")
        staging.commit(target.name, target)
    except BaseException as exc:
        if carrier is not None:
            carrier.close()
        staging.discard()
        if isinstance(exc, (OSError, av.error.FFmpegError)):
            raise write_error(target, exc) from exc
        raise
    staging.discard()
    shutil.rmtree(plan.folder, ignore_errors=True)
    return Joined(output=target, frames=frames,
                  audio=[t.codec for t in carrier.tracks] if carrier else [],
                  notes=list(carrier.notes) if carrier else [])

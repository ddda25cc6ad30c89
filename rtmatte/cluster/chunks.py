"""One long video across workers: split at keyframes, matte each chunk, hand the recurrent
state over at each seam, join by remux.

A chunk is the frames from one source keyframe to the next boundary. Its worker reads a range
of the source (a ranged :class:`~rtmatte.sources.file.VideoSource`) and runs the job's engine,
model and post chain (whose temporal smoothing has memory too), over ``WARMUP_SECONDS`` of
frames before the chunk and over the chunk's first ``HEAD_SECONDS`` (the head) without writing
them; it writes the rest as pieces cut at marks, keeping its state at each mark and at the
chunk's end.

The head is written by a seam task (:func:`matte_seam`) from the state the previous chunk ended
with, which is the real state at that frame rather than a warm-up's guess; the seam writes the
pieces again, one by one, until its state agrees with the chunk's own at a mark, from where the
chunk's own pieces stand (docs/scale.md measures how close they are).

Each piece is encoded as its own segment file with the source's time base, in a hidden folder
beside the output; a file there is written whole or not at all, so one that exists is finished
and a rerun reuses it. The join copies the segments' packets one after another into the output,
with no re-encode, each piece's timestamps set from the source's own (a segment container may
round its start), and carries the audio and subtitles once, straight from the source.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from bisect import bisect_left
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import av
import numpy as np

from rtmatte.cluster.handoff import AGREE, Handoff
from rtmatte.compose.backgrounds import VideoBackground
from rtmatte.errors import InputError, OutputError, SettingsError, StreamError
from rtmatte.media import MAX_PICTURE_PIXELS
from rtmatte.run.engine import Engine
from rtmatte.run.offline import Job, JobResult
from rtmatte.run.pipeline import Pipeline
from rtmatte.sinks import VideoFileSink
from rtmatte.sinks.atomic import Staging, check_target, write_error
from rtmatte.sinks.audio import AudioCarrier
from rtmatte.sources.file import VideoSource
from rtmatte.types import Frame, Matte

#: seconds of frames the model sees before a chunk's first frame: RVM's deepest recurrent
#: tensors take about 4 s to halve a difference, so after this and the head the chunk's own
#: state is usually within the seam's agreement at its first or second mark (docs/scale.md)
WARMUP_SECONDS = 6.0
#: seconds at a chunk's start that the seam task writes from the previous chunk's state, and
#: the length of each piece after it, at whose marks the two runs' states are compared
#: (docs/scale.md)
HEAD_SECONDS = 2.0
#: marks a chunk's body is cut at, at most: one head after the chunk's start, then 2, 4, 8, 16
#: and 32 heads after it, so a seam whose states agree only late redoes at most about twice as
#: much as it had to; past the last mark one that never agreed makes the whole rest again
MARKS = 6
#: a last chunk shorter than this share of --chunk-seconds joins the one before
_TAIL_SHARE = 0.25


@dataclass(frozen=True)
class Chunk:
    """One worker's share of a video: where to warm up and start (source pts), the marks
    that cut its body into pieces, and where its files go.

    The chunk's own run writes the pieces and keeps its state at each mark; the seam task
    writes the head and, until its state agrees with the chunk's own at a mark, the pieces
    before that mark again."""

    source: str
    folder: str
    suffix: str
    number: int
    warm_pts: int
    start_pts: int
    #: each piece's first frame (the first chunk has one piece from its start and no head)
    marks: tuple[int, ...]
    #: frames in each piece
    counts: tuple[int, ...]
    #: the next chunk's first frame; None for the last chunk
    end_pts: int | None
    #: the video's first frame, where a video background's clock starts
    first_pts: int
    head_frames: int
    time_base: Fraction
    rate: Fraction

    def _file(self, name: str) -> Path:
        return Path(self.folder) / f"{self.number:05d}-{name}"

    def piece(self, index: int) -> Path:
        return self._file(f"piece{index}{self.suffix}")

    def mark(self, index: int) -> Path:
        """The chunk's own state at mark ``index``."""
        return self._file(f"mark{index}.state")

    def stop(self, index: int) -> int | None:
        """Where piece ``index`` ends (the next mark, or the chunk's end)."""
        return self.marks[index + 1] if index + 1 < len(self.marks) else self.end_pts

    @property
    def end(self) -> Path:
        """The state after the chunk's last frame: the next chunk's head starts from it."""
        return self._file("end.state")

    def head(self, start_state: Path) -> Path:
        """The head segment made from ``start_state`` (named by its digest, so a head made
        from a state that has since been redone is never taken for a current one)."""
        return self._file(f"head-{_digest(start_state)}{self.suffix}")

    @property
    def done(self) -> bool:
        """The chunk's own run is finished: its pieces, its marks' states and its end."""
        return self.end.is_file() and all(
            self.piece(i).is_file() and (not self.number or self.mark(i).is_file())
            for i in range(len(self.marks)))


@dataclass
class ChunkPlan:
    """A video split into chunks, the hidden folder their files go to, and the output."""

    source: Path
    target: Path
    folder: Path
    chunks: list[Chunk]
    frames: int

    def head_done(self, chunk: Chunk) -> bool:
        """Whether ``chunk``'s head exists for the state the chunk before it ends with now."""
        if not chunk.number:
            return True
        before = self.chunks[chunk.number - 1].end
        return before.is_file() and chunk.head(before).is_file()

    @property
    def complete(self) -> bool:
        return all(c.done and self.head_done(c) for c in self.chunks)

    def pieces(self) -> list[tuple[Path, int, int]]:
        """The segments in order, each with its first frame's source pts and its frame count."""
        out = []
        for chunk in self.chunks:
            if chunk.number:
                out.append((chunk.head(self.chunks[chunk.number - 1].end), chunk.start_pts,
                            chunk.head_frames))
            out.extend((chunk.piece(i), mark, count) for i, (mark, count) in
                       enumerate(zip(chunk.marks, chunk.counts, strict=True)))
        return out


def plan_chunks(source: Path, target: Path, chunk_seconds: float, fingerprint: str,
                warmup_seconds: float = WARMUP_SECONDS, head_seconds: float = HEAD_SECONDS,
                max_pixels: int = MAX_PICTURE_PIXELS) -> ChunkPlan | None:
    """Split ``source`` at the first keyframe at least ``chunk_seconds`` after the last split;
    None when that leaves one chunk (the video then runs whole, as on one machine). Frames
    larger than ``max_pixels`` are refused here, before any worker starts."""
    with VideoSource(source, max_pixels) as probe:
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
    folder = _chunk_folder(source, target, f"{chunk_seconds!r}|{warmup_seconds!r}|"
                                           f"{head_seconds!r}", fingerprint)
    warm_ticks = Fraction(warmup_seconds) / tb
    frame_ticks = Fraction(pts[-1] - first, max(1, len(pts) - 1))  # the mean frame duration
    step = max(1, round(Fraction(head_seconds) / tb / frame_ticks)) if frame_ticks else 1
    chunks = []
    for number, start in enumerate(starts):
        end = starts[number + 1] if number + 1 < len(starts) else None
        first_index = bisect_left(pts, start)
        stop = len(pts) if end is None else bisect_left(pts, end)
        # the head, then pieces doubling in length; the last runs to the chunk's end
        cuts = [first_index] if not number else [
            first_index + step * (1 << k) for k in range(MARKS)
            if first_index + step * ((1 << k) + 1) <= stop]
        if not cuts and stop - first_index > 1:  # shorter than two heads: halves
            cuts = [first_index + (stop - first_index) // 2]
        if not cuts:
            raise InputError(f"{source}: chunk {number} holds one frame; use a longer "
                             "--chunk-seconds")
        warm = pts[bisect_left(pts, start - warm_ticks)] if number else start
        chunks.append(Chunk(
            source=str(source), folder=str(folder), suffix=target.suffix, number=number,
            warm_pts=warm, start_pts=start,
            marks=tuple(pts[i] for i in cuts),
            counts=tuple(b - a for a, b in zip(cuts, [*cuts[1:], stop], strict=True)),
            end_pts=end, first_pts=first, head_frames=cuts[0] - first_index, time_base=tb,
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


def _digest(path: Path) -> str:
    """A state file's digest; read again only when the file was replaced (the driver asks for
    every head's at each finished task)."""
    status = os.stat(path)
    return _digest_of(str(path), status.st_mtime_ns, status.st_size, status.st_ino)


@lru_cache(maxsize=4096)
def _digest_of(path: str, mtime_ns: int, size: int, inode: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def matte_chunk(job: Job, chunk: Chunk) -> JobResult:
    """The chunk's own run: warm up, run the head unwritten, write each piece into its segment,
    and keep the state at each mark and at the chunk's end."""
    job.engine.reset()
    run = _Run(job, chunk)
    run.span(chunk.warm_pts, chunk.marks[0], None, 0)
    for index, mark in enumerate(chunk.marks):
        if chunk.number:
            run.handoff().save(chunk.mark(index))
        run.span(mark, chunk.stop(index), chunk.piece(index), chunk.counts[index])
    run.handoff().save(chunk.end)
    return run.result("chunk", chunk.piece(0), sum(chunk.counts))


def matte_seam(job: Job, chunk: Chunk, start_state: Path) -> JobResult:
    """Write ``chunk``'s head from ``start_state`` (the previous chunk's end: the real state at
    the head's first frame), then, piece by piece, again each piece until this run's state at
    a mark agrees with the chunk's own there (:data:`rtmatte.cluster.handoff.AGREE`): from that
    mark on the chunk's own pieces stand. Where no mark agrees, every piece and the chunk's end
    state are made again from here. The head file comes last: it is there only when the chunk
    is whole."""
    head_file = chunk.head(start_state)
    engine = job.engine
    engine.post = Handoff.load(start_state).restore(engine.matter)
    run = _Run(job, chunk)
    staged = head_file.with_name(f".{head_file.name}")
    run.span(chunk.start_pts, chunk.marks[0], staged, chunk.head_frames)
    gaps: list[float] = []
    redone = 0
    for index, mark in enumerate(chunk.marks):
        gaps.append(run.handoff().gap(Handoff.load(chunk.mark(index))))
        if gaps[-1] <= AGREE:
            break
        piece = chunk.piece(index)
        run.span(mark, chunk.stop(index), piece.with_name(f".{piece.name}"), chunk.counts[index])
        os.replace(piece.with_name(f".{piece.name}"), piece)
        redone += 1
    if redone == len(chunk.marks):
        run.handoff().save(chunk.end)
    os.replace(staged, head_file)
    return run.result("seam", head_file, chunk.head_frames + sum(chunk.counts[:redone]),
                      seam={"gaps": gaps, "pieces_redone": redone,
                            "redone": redone == len(chunk.marks)})


class _Run:
    """One worker's pass over part of a chunk, span by span, through the job's engine (model,
    post chain and compositor), carrying its state from one span to the next; the frames of a
    span are encoded into its segment exactly as a whole file would be (same sink, codec,
    quality, time base)."""

    def __init__(self, job: Job, chunk: Chunk) -> None:
        self.job, self.engine, self.chunk = job, job.engine, chunk
        self.ratio: list[float] = []
        self.last_alpha: np.ndarray | None = None
        self.seconds = 0.0
        self.stages: dict[str, dict[str, float]] = {}
        _start_background(self.engine, chunk)

    def handoff(self) -> Handoff:
        """The state after the last frame run (the pipeline is idle between spans)."""
        return Handoff(Handoff.of_matter(self.engine.matter), Handoff.of_post(self.engine.post),
                       self.last_alpha)

    def span(self, from_pts: int, stop: int | None, segment: Path | None, count: int) -> None:
        """Run the source's frames from ``from_pts`` to ``stop`` (decoded from the keyframe at
        or before ``from_pts``) and write them into ``segment`` (None: run only)."""
        if stop is not None and from_pts >= stop:
            return
        engine, chunk = self.engine, self.chunk
        sink = None
        if segment is not None:
            segment.parent.mkdir(mode=0o700, exist_ok=True)
            sink = VideoFileSink(segment, time_base=chunk.time_base, rate=chunk.rate,
                                 alpha=engine.transparent, crf=self.job.settings.crf,
                                 overwrite=True)

        def infer(frame: Frame) -> tuple[Frame, Matte]:
            if not self.ratio:
                self.ratio.append(engine.matter.ratio_for(*frame.rgb.shape[:2]))
            return frame, engine.infer(frame.rgb)

        def post(item: tuple[Frame, Matte]) -> tuple[Frame, Matte]:
            frame, matte = item
            matte = engine.refine(frame.rgb, matte)
            self.last_alpha = matte.alpha
            return frame, matte

        def write(item: tuple[Frame, Matte]) -> None:
            frame, matte = item
            if sink is not None:
                sink.write(engine.composite(frame, matte), frame, matte)

        try:
            with VideoSource(Path(chunk.source), self.job.settings.max_picture_pixels,
                             start=from_pts, stop=stop) as frames:
                stats = Pipeline(frames, [("infer", infer), ("post", post)], write).run()
            made = sink.frames if sink is not None else 0
            if sink is not None and made != count:
                raise StreamError(f"{chunk.source}: chunk {chunk.number} decoded {made} of "
                                  f"its {count} frames")
        except BaseException:
            if sink is not None:
                sink.abort()
            raise
        if sink is not None:
            sink.close()
        self.seconds += stats.seconds
        for name, timing in stats.stages.items():
            into = self.stages.setdefault(name, {})
            for key, value in timing.as_dict().items():
                into[key] = into.get(key, 0) + value

    def result(self, kind: str, output: Path, frames: int, **stages: object) -> JobResult:
        engine = self.engine
        return JobResult(
            input=self.chunk.source, output=str(output), kind=kind, frames=frames,
            seconds=self.seconds, backend=engine.backend_name,
            downsample_ratio=self.ratio[0] if self.ratio else 0.0,
            stages={**self.stages, **stages}, scene_cuts=engine.matter.cuts)


def _start_background(engine: Engine, chunk: Chunk) -> None:
    """A video background's clock starts at the video's first frame, as in an unsplit run."""
    background = engine.compositor.background
    if background is None:
        return
    background.restart()
    if isinstance(background, VideoBackground):
        still = np.zeros((2, 2, 3), np.uint8)
        background.render(Frame(rgb=still, index=0, pts=chunk.first_pts,
                                time_base=chunk.time_base), np.zeros((2, 2), np.float32))


@dataclass
class Joined:
    """The joined output and what the carried streams went through."""

    output: Path
    frames: int
    audio: list[str]
    notes: list[str]


def judge_clip(plan: ChunkPlan) -> None:
    """What the post chain can only judge over the whole video (``--keep X,Y`` where nobody
    ever appeared), judged for a split one: each chunk's run ends with a chain that saw its own
    part, so the video is refused, as an unsplit run would refuse it, only when the chain of
    every chunk refuses it."""
    refusals: list[SettingsError] = []
    for chunk in plan.chunks:
        try:
            Handoff.load(chunk.end).post_chain().finish()
        except SettingsError as exc:
            refusals.append(exc)
        else:
            return
    raise refusals[0]


def join_segments(plan: ChunkPlan, overwrite: bool) -> Joined:
    """Copy every segment's video packets, in order, into the output beside the source's own
    audio and subtitles; staged and renamed into place whole, then the segments are removed.

    Each piece's timestamps are set from the source's: a segment's container may store its
    start rounded (QuickTime and MP4 keep a late start in an edit list counted in milliseconds),
    so its first frame is put back at the source pts it was made from, and the rest follow
    by their exact distances from it."""
    target = plan.target
    check_target(target, overwrite)
    judge_clip(plan)
    pieces = plan.pieces()
    staging = Staging(target.parent)
    staged = staging.file(target.name)
    carrier: AudioCarrier | None = None
    frames = 0
    last_dts = -(1 << 62)
    try:
        with av.open(str(staged), "w") as output:
            with av.open(str(pieces[0][0])) as first:
                template = first.streams.video[0]
                video = output.add_stream_from_template(template)
                video.time_base = template.time_base
                extradata = template.codec_context.extradata
            with av.open(str(plan.source)) as probe:
                carried = len(probe.streams.audio) + len(probe.streams.subtitles)
            if carried:
                carrier = AudioCarrier(plan.source, output, target.suffix.lower())
            for segment, first_pts, count in pieces:
                made = 0
                with av.open(str(segment)) as part:
                    stream = part.streams.video[0]
                    stored = min(p.pts for p in part.demux(stream) if p.size and p.pts is not None)
                with av.open(str(segment)) as part:
                    stream = part.streams.video[0]
                    if stream.codec_context.extradata != extradata:
                        raise OutputError(f"{target}: the chunks were encoded with different "
                                          "parameters and cannot be joined; rerun without "
                                          "--chunk-seconds")
                    shift = _exact(first_pts, plan.chunks[0].time_base, stream.time_base) - stored
                    for packet in part.demux(stream):
                        if packet.dts is None or not packet.size:
                            continue
                        packet.pts += shift
                        # a segment too short for the encoder's reordering starts its decode
                        # times later than the others: they must still only go forward
                        packet.dts = max(packet.dts + shift, last_dts + 1)
                        if packet.pts is not None and packet.dts > packet.pts:
                            raise OutputError(f"{target}: the segment {segment.name} cannot "
                                              "follow the one before it in decode order; rerun "
                                              "with a longer --chunk-seconds")
                        last_dts = packet.dts
                        if carrier is not None:
                            carrier.feed_until(float(packet.pts * packet.time_base))
                        packet.stream = video
                        output.mux(packet)
                        made += 1
                if made != count:
                    raise StreamError(f"{target}: the segment {segment.name} holds {made} "
                                      f"frames where its chunk has {count}")
                frames += made
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


def _exact(pts: int, source: Fraction, target: Fraction) -> int:
    """``pts`` of time base ``source`` in ``target``, rounded as FFmpeg's muxers round it (to
    the nearest tick, halves away from zero), so it lands where an unsplit run puts it."""
    value = Fraction(pts) * source / target
    whole = int(value)
    return whole + (1 if value - whole >= Fraction(1, 2) else 0) if value >= 0 else \
        -_exact(-pts, source, target)

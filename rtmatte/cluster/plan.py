"""What a cluster run does, decided before any worker starts: which inputs go to which outputs
(the file path's own planning, so the same refusals and names), which of them the manifest
already holds, which long videos are split into chunks, and which chunks are still to be made.

Nothing here talks to Ray; :mod:`rtmatte.cluster.pool` runs what this plans.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from rtmatte.cluster.chunks import HEAD_SECONDS, WARMUP_SECONDS, Chunk, ChunkPlan, plan_chunks
from rtmatte.cluster.manifest import Manifest
from rtmatte.compose.backgrounds import is_transparent
from rtmatte.errors import SettingsError, StreamError, UserError
from rtmatte.run.offline import Failure, check_output, plan_inputs
from rtmatte.settings import Settings
from rtmatte.sources.file import check_picture_file, readable_kind
from rtmatte.types import Notify


class Failures(Protocol):
    """Where a file that fails while it is planned is recorded (the pool's
    :class:`~rtmatte.cluster.pool.Batch`), beside those that fail on a worker."""

    failures: list[Failure]


@dataclass(frozen=True)
class ClusterOptions:
    """How to reach the cluster and how to cut the work."""

    #: ``local`` (start Ray on this machine), ``auto`` (the one running here) or ``HOST:PORT``
    address: str = "local"
    #: split videos longer than this into chunks of about this many seconds
    chunk_seconds: float | None = None
    #: seconds of frames the model sees before each chunk's first frame
    warmup_seconds: float = WARMUP_SECONDS
    #: seconds at each chunk's start written from the previous chunk's real state
    head_seconds: float = HEAD_SECONDS
    #: redo files the manifest says are finished
    force: bool = False
    #: workers to start; default one per GPU, else one per ``cpus_per_worker`` cores
    workers: int | None = None
    cpus_per_worker: int | None = None
    #: times one file is handed out before a worker dying under it fails it
    max_attempts: int = 3


@dataclass
class Task:
    """One item a worker is handed: a whole file, a chunk, or a chunk's seam."""

    source: Path
    target: Path
    overwrite: bool
    chunk: Chunk | None = None
    plan: ChunkPlan | None = None
    #: the chunk's head, from the state the chunk before it ended with (not the chunk itself)
    seam: bool = False
    attempt: int = 1

    @property
    def label(self) -> str:
        if self.chunk is None or self.plan is None:
            return self.source.name
        what = "seam before chunk" if self.seam else "chunk"
        return f"{self.source.name} {what} {self.chunk.number + 1}/{len(self.plan.chunks)}"


def plan_files(source: Path, target: Path | None, settings: Settings,
               options: ClusterOptions) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """Each input with its output, by the file path's :func:`~rtmatte.run.offline.plan_inputs`
    (the background file protected as an input), and the files the workers must read besides
    the inputs. Refuses what the cluster cannot do before anything is created."""
    background_file = Path(settings.bg).expanduser()
    protect = [background_file] if background_file.is_file() else []
    pairs = plan_inputs(source, target, is_transparent(settings.bg), protect)
    if settings.alpha_output and (len(pairs) > 1 or options.chunk_seconds):
        raise SettingsError("--alpha-output with --ray works for one file without "
                            "--chunk-seconds; run the others apart")
    return pairs, protect


def plan_work(pairs: list[tuple[Path, Path]], manifest: Manifest, fingerprint: str,
              settings: Settings, options: ClusterOptions, batch: Failures,
              say: Notify) -> tuple[list[Task], list[ChunkPlan]]:
    """The work left: whole files, and chunks of long videos whose segments are not yet made.
    Files the manifest holds as done with these settings are skipped and said; a file that
    cannot be split fails alone (into ``batch``), unless it is the only one."""
    tasks: list[Task] = []
    plans: list[ChunkPlan] = []
    skipped = 0
    for item, out in pairs:
        if not options.force and manifest.is_done(item, out, fingerprint):
            skipped += 1
            continue
        overwrite = settings.overwrite or manifest.owns(out)
        try:  # what a worker would refuse is refused now, before the cluster starts
            check_output(item, out, overwrite, is_transparent(settings.bg),
                         alpha_output=settings.alpha_output)
            check_picture_file(item, settings.max_picture_pixels)
            plan = None
            if options.chunk_seconds and readable_kind(item) == "video":
                plan = plan_chunks(item, out, options.chunk_seconds, fingerprint,
                                   options.warmup_seconds, options.head_seconds,
                                   settings.max_picture_pixels)
        except (UserError, StreamError) as exc:
            if len(pairs) == 1:
                raise
            batch.failures.append(Failure(input=str(item), error=str(exc)))
            say(f"failed {item.name}: {exc}")
            continue
        if plan is None:
            tasks.append(Task(item, out, overwrite))
            continue
        plans.append(plan)
        tasks.extend(Task(item, out, overwrite, chunk=c, plan=plan) for c in plan.chunks
                     if not c.done)
    if skipped:
        say(f"{skipped} of {len(pairs)} file{'s' * (len(pairs) != 1)} already done "
            f"({manifest.path}); --force does them again")
    return tasks, plans


def seams_left(plans: list[ChunkPlan]) -> int:
    """Seams whose head is not made yet for the state the chunk before it ends with."""
    return sum(1 for plan in plans for chunk in plan.chunks if not plan.head_done(chunk))

"""The batch on a Ray cluster: plan the work, keep a pool of model-holding workers busy, retry
what a dead worker dropped, record what is finished, and report the batch.

Scheduling is a plain queue in the driver: each worker (a Ray actor, one model each) holds one
file or chunk at a time and gets the next as soon as it answers. That keeps the order of work
and the handling of failures here, in one loop, instead of in Ray's task retries: a worker that
dies (its process killed, its node lost) loses only the item it held, which goes back to the
front of the queue for another worker, up to ``max_attempts`` times; a replacement worker is
started in its place wherever the cluster has room. A file that fails for a reason of its own
(corrupt, unreadable) fails alone and the rest go on.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rtmatte.cluster.chunks import (
    HEAD_SECONDS,
    WARMUP_SECONDS,
    Chunk,
    ChunkPlan,
    join_segments,
    plan_chunks,
)
from rtmatte.cluster.connect import check_reachable, connect, import_ray, worker_shape
from rtmatte.cluster.manifest import Manifest, settings_fingerprint
from rtmatte.cluster.progress import BatchProgress
from rtmatte.cluster.worker import MatteWorker, Outcome
from rtmatte.compose.backgrounds import is_transparent
from rtmatte.errors import InputError, SettingsError, StreamError, UserError
from rtmatte.matting.models.fetch import sha256_of
from rtmatte.matting.open import model_path
from rtmatte.run.offline import (
    BatchError,
    Failure,
    JobResult,
    describe,
    make_output_folder,
    plan_inputs,
)
from rtmatte.settings import Settings
from rtmatte.sinks.atomic import check_target
from rtmatte.sources.file import readable_kind
from rtmatte.types import Notify

#: how long the driver waits for any worker to come up before saying the cluster has no room
_START_TIMEOUT_S = 600.0
_TICK_S = 0.5
#: workers that may die before saying hello before the run gives up on the cluster
_START_DEATHS = 3


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
class _Task:
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


@dataclass
class _Batch:
    """Everything the loop learns as it goes."""

    results: list[JobResult] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    failed_plans: set[int] = field(default_factory=set)
    chunk_results: dict[int, list[JobResult]] = field(default_factory=dict)
    #: (plan id, chunk number) of the seams queued or running
    seams: set[tuple[int, int]] = field(default_factory=set)
    seams_done: set[tuple[int, int]] = field(default_factory=set)
    units_done: int = 0
    frames: int = 0


def process_on_cluster(
    source: str | Path, target: str | Path | None = None, *, settings: Settings,
    options: ClusterOptions | None = None, notify: Notify | None = None,
    progress: bool | None = False,
) -> list[JobResult]:
    """:func:`rtmatte.api.process` over a Ray cluster; same outputs, same errors.

    Returns the results of the files written by this run (those the manifest already held are
    skipped and said so). When any failed, :class:`BatchError` carries both lists; a single
    input that failed raises its own reason.
    """
    options = options or ClusterOptions()
    ray = import_ray()
    source = Path(source)
    if not source.exists():
        raise InputError(f"{source}: no such file or folder")
    check_reachable(options.address)  # before planning creates any output folder
    transparent = is_transparent(settings.bg)
    background_file = Path(settings.bg).expanduser()
    protect = [background_file] if background_file.is_file() else []
    pairs = plan_inputs(source, Path(target) if target else None, transparent, protect)
    if settings.alpha_output and (len(pairs) > 1 or options.chunk_seconds):
        raise SettingsError("--alpha-output with --ray works for one file without "
                            "--chunk-seconds; run the others apart")
    make_output_folder(source, Path(target) if target else None)  # the plan is accepted
    digest = sha256_of(model_path(settings, notify))
    fingerprint = settings_fingerprint(settings, digest)
    manifest = Manifest(pairs[0][1].parent)
    say = notify or (lambda message: None)
    batch = _Batch()
    tasks, plans = _plan(pairs, manifest, fingerprint, settings, options, batch, say)
    seams = sum(1 for plan in plans for c in plan.chunks if not plan.head_done(c))
    meter = BatchProgress(len(pairs), len(tasks) + seams, enabled=progress)

    def tell(message: str) -> None:
        meter.clear()
        say(message)

    loop = _Loop(ray, settings, manifest, fingerprint, batch, tell, meter)
    for plan in plans:  # every piece already made by an earlier run: only the join is left
        if plan.complete:
            loop.join(plan, settings.overwrite or manifest.owns(plan.target))
    if batch.results:
        manifest.save()
    if tasks or seams:
        stop = connect(options.address)
        try:
            shape = worker_shape(ray.cluster_resources(), settings.device, options.workers,
                                 options.cpus_per_worker)
            shape = dataclasses.replace(shape, count=min(shape.count, len(tasks)))
            readable = [str(p) for p in {t.source.parent: t.source for t in tasks}.values()]
            readable += [str(p) for p in protect]
            writable = sorted({str(t.target.parent) for t in tasks})
            loop.start(shape, digest, readable, writable, options.max_attempts)
            tell(f"ray: {shape.describe()}, {len(tasks)} item{'s' * (len(tasks) != 1)} to do")
            loop.run(deque(tasks), plans)
        finally:
            loop.stop()
            meter.clear()
            if stop is not None:
                stop()
    for plan in plans:
        if id(plan) in batch.failed_plans:
            shutil.rmtree(plan.folder, ignore_errors=True)
    if batch.failures:
        if len(pairs) == 1:
            raise UserError(batch.failures[0].error)
        error = BatchError(batch.results, batch.failures)
        if len(batch.failures) < len(pairs):  # files done by an earlier run count as done
            error.exit_code = BatchError.exit_code
        raise error
    return batch.results


def _plan(pairs: list[tuple[Path, Path]], manifest: Manifest, fingerprint: str,
          settings: Settings, options: ClusterOptions, batch: _Batch,
          say: Notify) -> tuple[list[_Task], list[ChunkPlan]]:
    """The work left: whole files, and chunks of long videos whose segments are not yet made."""
    tasks: list[_Task] = []
    plans: list[ChunkPlan] = []
    skipped = 0
    for item, out in pairs:
        if not options.force and manifest.is_done(item, out, fingerprint):
            skipped += 1
            continue
        overwrite = settings.overwrite or manifest.owns(out)
        try:
            plan = None
            if options.chunk_seconds and readable_kind(item) == "video":
                plan = plan_chunks(item, out, options.chunk_seconds, fingerprint,
                                   options.warmup_seconds, options.head_seconds)
            if plan is not None:
                check_target(out, overwrite)  # refused now, not after every chunk is matted
        except (UserError, StreamError) as exc:
            if len(pairs) == 1:
                raise
            batch.failures.append(Failure(input=str(item), error=str(exc)))
            say(f"failed {item.name}: {exc}")
            continue
        if plan is None:
            tasks.append(_Task(item, out, overwrite))
            continue
        plans.append(plan)
        tasks.extend(_Task(item, out, overwrite, chunk=c, plan=plan) for c in plan.chunks
                     if not c.done)
    if skipped:
        say(f"{skipped} of {len(pairs)} file{'s' * (len(pairs) != 1)} already done "
            f"({manifest.path}); --force does them again")
    return tasks, plans


class _Loop:
    """The pool of workers and the one loop that feeds them."""

    def __init__(self, ray: Any, settings: Settings, manifest: Manifest, fingerprint: str,
                 batch: _Batch, tell: Notify, meter: BatchProgress) -> None:
        self.ray = ray
        self.meter = meter
        self.settings = settings
        self.manifest = manifest
        self.fingerprint = fingerprint
        self.batch = batch
        self.tell = tell
        self.actors: list[Any] = []
        self.starting: dict[Any, Any] = {}
        self.idle: list[Any] = []
        self.running: dict[Any, tuple[Any, _Task]] = {}
        self.hosts: dict[Any, str] = {}
        self.died_starting = 0

    def start(self, shape: Any, digest: str, readable: list[str], writable: list[str],
              max_attempts: int) -> None:
        self.max_attempts = max_attempts
        worker = self.ray.remote(MatteWorker).options(
            num_cpus=shape.num_cpus, num_gpus=shape.num_gpus, max_restarts=0,
            scheduling_strategy="SPREAD")
        self._spawn_one = lambda: worker.remote(self.settings, digest, shape.cpu_threads,
                                                readable, writable)
        for _ in range(shape.count):
            self._spawn()

    def _spawn(self) -> None:
        actor = self._spawn_one()
        self.actors.append(actor)
        self.starting[actor.hello.remote()] = actor

    def stop(self) -> None:
        for actor in self.actors:
            try:
                self.ray.kill(actor, no_restart=True)
            except Exception:  # already gone with its node: nothing left to stop
                continue

    def run(self, queue: deque[_Task], plans: list[ChunkPlan]) -> None:
        meter = self.meter
        waited_since = time.monotonic()
        for plan in plans:
            self._seams_ready(plan, queue)
        while queue or self.running:
            while queue and self.idle:
                task = queue.popleft()
                if task.plan is not None and id(task.plan) in self.batch.failed_plans:
                    continue
                actor = self.idle.pop()
                if task.chunk is None:
                    call = actor.run_file.remote(str(task.source), str(task.target),
                                                 task.overwrite)
                elif task.seam:
                    assert task.plan is not None
                    before = task.plan.chunks[task.chunk.number - 1].end
                    call = actor.run_seam.remote(task.chunk, str(before))
                else:
                    call = actor.run_chunk.remote(task.chunk)
                self.running[call] = (actor, task)
            if queue and not (self.idle or self.running or self.starting):
                self._spawn()
            refs = [*self.starting, *self.running]
            ready, _ = self.ray.wait(refs, num_returns=1, timeout=_TICK_S)
            if ready:
                ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=0)
                waited_since = time.monotonic()
            elif not (self.idle or self.running) and \
                    time.monotonic() - waited_since > _START_TIMEOUT_S:
                raise UserError(f"no Ray worker came up in {_START_TIMEOUT_S:.0f} s: the cluster "
                                "has no free CPU or GPU for one (see `ray status`)")
            saved = len(self.batch.results)
            for ref in ready:
                if ref in self.starting:
                    self._started(ref)
                else:
                    self._finished(ref, queue)
            if len(self.batch.results) != saved:
                self.manifest.save()
            meter.update(len(self.batch.results), len(self.batch.failures),
                         self.batch.units_done, self.batch.frames)

    def _started(self, ref: Any) -> None:
        actor = self.starting.pop(ref)
        try:
            hello = self.ray.get(ref)
        except self.ray.exceptions.RayActorError as exc:
            self.died_starting += 1
            if self.died_starting > _START_DEATHS:
                raise UserError(f"Ray workers die as they start ({str(exc).splitlines()[0]}); "
                                "see `ray logs` on the cluster") from exc
            return  # the loop starts another if none is left
        if hello["problem"]:
            raise UserError(hello["problem"])
        self.hosts[actor] = hello["host"]
        self.idle.append(actor)

    def _finished(self, ref: Any, queue: deque[_Task]) -> None:
        errors = self.ray.exceptions
        actor, task = self.running.pop(ref)
        host = self.hosts.get(actor, "?")
        try:
            outcome: Outcome = self.ray.get(ref)
        except (errors.RayActorError, errors.WorkerCrashedError):
            self._lost(actor, task, host, queue)
            return
        except errors.RayTaskError as exc:  # a bug in rtmatte on the worker; the worker lives
            self.idle.append(actor)
            cause = exc.cause if exc.cause is not None else exc
            self._fail(task, f"unexpected error on {host}: {type(cause).__name__}: {cause} "
                             "(please report it)")
            return
        self.idle.append(actor)
        self.batch.units_done += 1
        if outcome.error is not None or outcome.result is None:
            self._fail(task, outcome.error or "no result")
        elif task.plan is None:
            self._record(outcome.result, outcome.host)
        else:
            self._chunk_done(task, outcome.result, queue)

    def _lost(self, actor: Any, task: _Task, host: str, queue: deque[_Task]) -> None:
        """A worker died holding ``task``: another worker takes it, unless this was its last
        attempt; a fresh worker replaces the dead one wherever the cluster has room."""
        self.actors.remove(actor)
        self.stop_one(actor)
        self._spawn()
        if task.attempt >= self.max_attempts:
            self._fail(task, f"a worker died each of the {self.max_attempts} times it took "
                             f"this file (last on {host})")
            return
        task.attempt += 1
        queue.appendleft(task)
        self.tell(f"worker on {host} died during {task.label}; handing it to another "
                  f"(attempt {task.attempt} of {self.max_attempts})")

    def stop_one(self, actor: Any) -> None:
        try:
            self.ray.kill(actor, no_restart=True)
        except Exception:  # already gone with its node
            return

    def _fail(self, task: _Task, error: str) -> None:
        if task.plan is not None:
            if id(task.plan) in self.batch.failed_plans:
                return
            self.batch.failed_plans.add(id(task.plan))
        self.batch.failures.append(Failure(input=str(task.source), error=error))
        self.tell(f"failed {task.source.name}: {error}")

    def _record(self, result: JobResult, host: str) -> None:
        self.batch.results.append(result)
        if result.stages.get("chunks") is None:  # a joined video's frames were counted by chunk
            self.batch.frames += result.frames
        self.manifest.add(result, self.fingerprint, host)
        for note in result.notes:
            self.tell(note)
        self.tell(f"{describe(result)} on {host}")

    def _chunk_done(self, task: _Task, result: JobResult, queue: deque[_Task]) -> None:
        plan = task.plan
        assert plan is not None and task.chunk is not None
        if task.seam:
            self.batch.seams.discard((id(plan), task.chunk.number))
            self.batch.seams_done.add((id(plan), task.chunk.number))
        if id(plan) in self.batch.failed_plans:
            return
        self.batch.frames += result.frames
        self.batch.chunk_results.setdefault(id(plan), []).append(result)
        self._seams_ready(plan, queue)
        if plan.complete and not any(key[0] == id(plan) for key in self.batch.seams):
            self.join(plan, task.overwrite)

    def _seams_ready(self, plan: ChunkPlan, queue: deque[_Task]) -> None:
        """Queue each seam whose two chunks are done and whose head is missing for the state
        the chunk before it ends with now (a seam that redid a chunk changed that state, so
        the next seam is done again from it)."""
        for chunk in plan.chunks[1:]:
            key = (id(plan), chunk.number)
            if key in self.batch.seams or plan.head_done(chunk):
                continue
            if chunk.done and plan.chunks[chunk.number - 1].done:
                if key in self.batch.seams_done:  # again, from a redone chunk's new end state
                    self.meter.units += 1
                self.batch.seams.add(key)
                queue.append(_Task(plan.source, plan.target, False, chunk=chunk, plan=plan,
                                   seam=True))

    def join(self, plan: ChunkPlan, overwrite: bool) -> None:
        """Join a video's finished segments into its output and record it."""
        started = time.perf_counter()
        try:
            joined = join_segments(plan, overwrite)
        except (UserError, StreamError) as exc:
            self.batch.failed_plans.add(id(plan))
            self.batch.failures.append(Failure(input=str(plan.source), error=str(exc)))
            self.tell(f"failed {plan.source.name}: {exc}")
            return
        done = self.batch.chunk_results.get(id(plan), [])
        parts = [p for p in done if p.kind == "chunk"]
        seams = [p.stages["seam"] for p in done if p.kind == "seam"]
        join_s = time.perf_counter() - started
        result = JobResult(
            input=str(plan.source), output=str(joined.output), kind="video",
            frames=joined.frames, seconds=sum(p.seconds for p in done) + join_s,
            backend=parts[0].backend if parts else "", downsample_ratio=(
                parts[0].downsample_ratio if parts else 0.0),
            stages={"chunks": {"items": len(plan.chunks), "matted_here": len(parts)},
                    "seams": {"items": len(seams),
                              "pieces_redone": sum(s["pieces_redone"] for s in seams),
                              "chunks_redone": sum(1 for s in seams if s["redone"]),
                              "gaps_at_first_mark": [round(s["gaps"][0], 6) for s in seams]},
                    "join": {"busy_s": round(join_s, 4), "items": joined.frames}},
            audio=joined.audio, scene_cuts=sum(p.scene_cuts for p in parts),
            notes=joined.notes)
        self._record(result, "the driver")

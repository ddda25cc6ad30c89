"""The pool of model-holding workers on a Ray cluster and the one loop that feeds them: hand
out what :mod:`rtmatte.cluster.plan` planned, retry what a dead worker dropped, queue each seam
once both its chunks are made, join a video whose pieces are all made, record what is finished
in the manifest, and keep the progress bar.

Scheduling is a plain queue in the driver: each worker (a Ray actor, one model each) holds one
file or chunk at a time and gets the next as soon as it answers. That keeps the order of work
and the handling of failures here, in one loop, instead of in Ray's task retries: a worker that
dies (its process killed, its node lost) loses only the item it held, which goes back to the
front of the queue for another worker, up to ``max_attempts`` times; a replacement worker is
started in its place wherever the cluster has room. A file that fails for a reason of its own
(corrupt, unreadable) fails alone and the rest go on.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from rtmatte.cluster.chunks import ChunkPlan, join_segments
from rtmatte.cluster.manifest import Manifest
from rtmatte.cluster.plan import Task
from rtmatte.cluster.progress import BatchProgress
from rtmatte.cluster.worker import MatteWorker, Outcome
from rtmatte.errors import StreamError, UserError
from rtmatte.run.offline import Failure, JobResult, describe
from rtmatte.settings import Settings
from rtmatte.types import Notify

#: how long the driver waits for any worker to come up before saying the cluster has no room
_START_TIMEOUT_S = 600.0
_TICK_S = 0.5
#: workers that may die before saying hello before the run gives up on the cluster
_START_DEATHS = 3


@dataclass
class Batch:
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


class WorkerPool:
    """The Ray actors (one model each) and the one loop that feeds them."""

    def __init__(self, ray: Any, settings: Settings, manifest: Manifest, fingerprint: str,
                 batch: Batch, tell: Notify, meter: BatchProgress) -> None:
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
        self.running: dict[Any, tuple[Any, Task]] = {}
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

    def run(self, queue: deque[Task], plans: list[ChunkPlan]) -> None:
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

    def _finished(self, ref: Any, queue: deque[Task]) -> None:
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

    def _lost(self, actor: Any, task: Task, host: str, queue: deque[Task]) -> None:
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

    def _fail(self, task: Task, error: str) -> None:
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

    def _chunk_done(self, task: Task, result: JobResult, queue: deque[Task]) -> None:
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

    def _seams_ready(self, plan: ChunkPlan, queue: deque[Task]) -> None:
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
                queue.append(Task(plan.source, plan.target, False, chunk=chunk, plan=plan,
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

"""The batch on a Ray cluster, end to end: plan the work (:mod:`rtmatte.cluster.plan`), join
what earlier runs already made, start the worker pool (:mod:`rtmatte.cluster.pool`) on the
cluster, and report the batch as :func:`rtmatte.api.process` does.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections import deque
from pathlib import Path
from types import ModuleType

from rtmatte.cluster.connect import check_reachable, connect, import_ray, worker_shape
from rtmatte.cluster.manifest import Manifest, settings_fingerprint
from rtmatte.cluster.plan import ClusterOptions, plan_files, plan_work, seams_left
from rtmatte.cluster.pool import Batch, WorkerPool
from rtmatte.cluster.progress import BatchProgress
from rtmatte.errors import InputError, UserError
from rtmatte.matting.models.fetch import sha256_of
from rtmatte.matting.open import model_path
from rtmatte.run.offline import BatchError, JobResult, make_output_folder
from rtmatte.settings import Settings
from rtmatte.sinks.atomic import remove_empty_folders
from rtmatte.types import Notify

__all__ = ["ClusterOptions", "process_on_cluster"]


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
    pairs, protect = plan_files(source, Path(target) if target else None, settings, options)
    made = make_output_folder(source, Path(target) if target else None)  # the plan is accepted
    try:
        return _run_batch(ray, pairs, protect, settings, options, notify, progress)
    finally:
        remove_empty_folders(made)  # as on one machine: a run that wrote nothing leaves nothing


def _run_batch(ray: ModuleType, pairs: list[tuple[Path, Path]], protect: list[Path],
               settings: Settings, options: ClusterOptions, notify: Notify | None,
               progress: bool | None) -> list[JobResult]:
    """The planned files on the cluster: those an earlier run made joined, the rest matted."""
    digest = sha256_of(model_path(settings, notify))
    fingerprint = settings_fingerprint(settings, digest)
    manifest = Manifest(pairs[0][1].parent)
    say = notify or (lambda message: None)
    batch = Batch()
    tasks, plans = plan_work(pairs, manifest, fingerprint, settings, options, batch, say)
    seams = seams_left(plans)
    meter = BatchProgress(len(pairs), len(tasks) + seams, enabled=progress)

    def tell(message: str) -> None:
        meter.clear()
        say(message)

    pool = WorkerPool(ray, settings, manifest, fingerprint, batch, tell, meter)
    for plan in plans:  # every piece already made by an earlier run: only the join is left
        if plan.complete:
            pool.join(plan, settings.overwrite or manifest.owns(plan.target))
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
            pool.start(shape, digest, readable, writable, options.max_attempts)
            tell(f"ray: {shape.describe()}, {len(tasks)} item{'s' * (len(tasks) != 1)} to do")
            pool.run(deque(tasks), plans)
        finally:
            pool.stop()
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

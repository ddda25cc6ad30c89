"""Reaching Ray: the optional import, connecting to a cluster, and sizing workers to what it has."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import ModuleType

from rtmatte.errors import UserError

INSTALL_HINT = "pip install 'rtmatte[ray]'"
#: cores one CPU worker reserves, and its ONNX Runtime threads; decode and encode run beside
#: them (docs/scale.md: on 2 cores, two workers of 1 did 12-21 % more files than one of 2)
CPU_PER_WORKER = 1


def import_ray() -> ModuleType:
    """Ray itself, or the one line that says how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise UserError(f"--ray needs Ray, which is not installed here: {INSTALL_HINT}") from exc
    return ray


def connect(address: str) -> bool:
    """Join the cluster at ``address`` (``local``: start one on this machine; ``auto``: the one
    ``ray start`` left here or $RAY_ADDRESS names). Returns whether this call started Ray, and
    so must shut it down; a Ray the caller already started is used as it is."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    options = {"include_dashboard": False, "logging_level": logging.WARNING,
               "log_to_driver": False}
    try:
        ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"cannot reach a Ray cluster at '{address}' ({reason}); start one with "
                        "`ray start --head`, or use --ray local for this machine alone") from exc
    return True


@dataclass(frozen=True)
class WorkerShape:
    """How many workers to start and what each reserves from Ray's scheduler."""

    count: int
    num_cpus: float
    num_gpus: float
    #: ONNX Runtime threads on a CPU worker (None on a GPU)
    cpu_threads: int | None

    def describe(self) -> str:
        each = "1 GPU" if self.num_gpus else f"{self.cpu_threads} CPU core" \
            f"{'s' * (self.cpu_threads != 1)}"
        return f"{self.count} worker{'s' * (self.count != 1)}, {each} each"


def worker_shape(resources: dict[str, float], device: str, workers: int | None = None,
                 cpus_per_worker: int | None = None) -> WorkerShape:
    """One worker per GPU when the cluster has GPUs (and the settings do not ask for the CPU);
    otherwise one per ``cpus_per_worker`` cores. Each keeps one model loaded for its whole life."""
    gpus = int(resources.get("GPU", 0))
    cpus = max(1, int(resources.get("CPU", 1)))
    if gpus and device != "cpu":
        return WorkerShape(count=workers or gpus, num_cpus=1, num_gpus=1, cpu_threads=None)
    if device == "cuda":
        raise UserError("--device cuda, but the Ray cluster has no GPU; drop --device or add "
                        "GPU nodes")
    per = max(1, min(cpus_per_worker or CPU_PER_WORKER, cpus))
    return WorkerShape(count=workers or max(1, cpus // per), num_cpus=per, num_gpus=0,
                       cpu_threads=per)

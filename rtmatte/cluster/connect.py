"""Reaching Ray: the optional import, connecting to a cluster, and sizing workers to what it has."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from rtmatte.cluster.watchdog import release_watchdog, start_watchdog
from rtmatte.errors import UserError

INSTALL_HINT = "pip install 'rtmatte[ray]'"
#: cores one CPU worker reserves, and its ONNX Runtime threads; decode and encode run beside
#: them (docs/scale.md: on 2 cores, two workers of 1 did 12-21 % more files than one of 2)
CPU_PER_WORKER = 1
#: seconds to wait for a named head's port to accept a connection; Ray's own client would
#: retry an unreachable head for minutes, printing only its retry lines
REACH_TIMEOUT_S = 5.0


def import_ray() -> ModuleType:
    """Ray itself, or the one line that says how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise UserError(f"--ray needs Ray, which is not installed here: {INSTALL_HINT}") from exc
    return ray


def check_reachable(address: str, timeout: float = REACH_TIMEOUT_S) -> None:
    """Refuse, in one line and within ``timeout`` seconds, a cluster head that does not accept
    connections, before anything is planned or written. ``local`` needs nothing; ``auto`` is
    checked when $RAY_ADDRESS names a head (else Ray itself finds the one ``ray start`` left)."""
    if address == "local":
        return
    named = os.environ.get("RAY_ADDRESS", "") if address == "auto" else address
    if not named or named in ("auto", "local"):
        return
    host, port = _host_port(named)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        reason = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise UserError(f"cannot reach a Ray cluster at '{named}' ({reason} within "
                        f"{timeout:g} s); start one with `ray start --head`, or use --ray local "
                        "for this machine alone") from exc


def _host_port(address: str) -> tuple[str, int]:
    """``HOST:PORT`` (``ray://HOST:PORT`` too, ``[IPv6]:PORT``) as a host and a port number."""
    plain = address.split("://", 1)[-1].rstrip("/")
    host, _, port = plain.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"--ray {address}: expected local, auto or HOST:PORT (the head's GCS "
                        "port, 6379 unless `ray start` was told otherwise)")
    return host, int(port)


def connect(address: str) -> Callable[[], None] | None:
    """Join the cluster at ``address`` (``local``: start one on this machine; ``auto``: the one
    ``ray start`` left here or $RAY_ADDRESS names). Returns what stops what this call started
    (None when it joined a Ray already running, which is left as it is). A local cluster is
    watched: if the driver dies without stopping it, its processes die too."""
    ray = import_ray()
    if ray.is_initialized():
        return None
    options = {"include_dashboard": False, "logging_level": logging.WARNING,
               "log_to_driver": False}
    watchdog = start_watchdog() if address == "local" else None
    try:
        ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        if watchdog is not None:
            release_watchdog(watchdog)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"cannot reach a Ray cluster at '{address}' ({reason}); start one with "
                        "`ray start --head`, or use --ray local for this machine alone") from exc

    def stop() -> None:
        ray.shutdown()
        if watchdog is not None:
            release_watchdog(watchdog)
    return stop


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

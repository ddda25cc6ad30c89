"""Which CPU engine ``--backend auto`` runs on this machine: measured here once, then remembered.

What makes an engine fast is the CPU's instruction set (OpenVINO's bfloat16 needs AVX-512 BF16 or
AMX; without them it runs float32, measured slower than ONNX Runtime), and machines that share a
model name can expose different instructions (virtual machines hide some). So the choice is never
made from a list of CPU names. Each contender is built and run on real frames (the sample
portrait at a representative size, the recurrent state carried), interleaved with the others,
and the fastest by median wins, but only if its mattes are within :data:`ALPHA_TOLERANCE` of
ONNX Runtime's float32 on the same frames: a fast engine that is wrong is never chosen. The
first contender in rank order (ONNX Runtime) stays unless another is faster by more than
:data:`MARGIN`, so that noise does not flip the choice from one measurement to the next.
A backend may offer devices besides the CPU (OpenVINO: an Intel laptop's GPU and NPU); each is
one more contender, under the same gate.

The result is cached as JSON in the rtmatte cache (``$RTMATTE_HOME/calibration`` or the user
cache folder), keyed by everything it depends on: the CPU's model name and the instruction-set
flags engines dispatch on, each engine's version, the model's sha256, the thread count, the
precision asked for and this recipe. A change to any of them measures again.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import json
import os
import platform
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from rtmatte.matting.backends.registry import REGISTRY, Backend, BackendEntry, Request
from rtmatte.matting.models.fetch import models_home, sha256_of
from rtmatte.matting.models.frame_size import fixed_frame_size
from rtmatte.samples import clip_frame

#: bump when how contenders are measured or chosen changes, so cached choices are remade
RECIPE = 1
#: the measured case: a webcam-sized frame at the ratio RVM suggests for it
WIDTH, HEIGHT, RATIO = 640, 480, 0.5
#: frames of the sample clip each contender mattes first, compared with the reference and warming
#: it up (the first frames of a compiled model are the slow ones)
CHECK_FRAMES = 6
#: interleaved timing rounds, each of this many frames per contender
ROUNDS, FRAMES_PER_ROUND = 5, 2
#: the largest mean |alpha - ONNX Runtime float32 alpha| on any checked frame; OpenVINO's
#: bfloat16 measured about 5e-4 on real frames, a wrong graph or a broken state tenths
ALPHA_TOLERANCE = 2e-3
#: another contender replaces the first only when its median is below this share of the first's
MARGIN = 0.95
#: the contender every other's mattes are compared with: ONNX Runtime, float32
REFERENCE = "onnx"
#: what joins a backend's name to another device's in a contender's name, e.g. ``openvino:GPU``
_ON = ":"
#: CPU flags that inference engines choose their kernels by (x86 vector and matrix extensions,
#: Arm's SIMD ones); the rest of the flag list says nothing about their speed
_ENGINE_FLAGS = re.compile(r"^(avx.*|amx.*|fma.*|f16c|sse4.*|.*vnni.*|.*bf16.*|asimd.*|sve.*|"
                           r"i8mm|fphp)$")


@dataclass(frozen=True)
class Contender:
    """A backend to measure: its registry name and how to build it."""

    name: str
    build: Callable[[], Backend]


@dataclass
class Result:
    """One contender's figures, or why it has none."""

    name: str
    #: the backend's own name, e.g. ``openvino/CPU/bf16``
    engine: str = ""
    median_ms: float | None = None
    #: the largest per-frame mean |alpha difference| from the reference: what the gate reads
    alpha_error: float | None = None
    failed: str | None = None
    #: the mean |alpha difference| over all the checked frames
    alpha_mean: float | None = None

    @property
    def valid(self) -> bool:
        """Measured, and its mattes match the reference's."""
        return (self.failed is None and self.median_ms is not None
                and self.alpha_error is not None and self.alpha_error <= ALPHA_TOLERANCE)


@dataclass
class Calibration:
    """What was measured, what was chosen, and what the measurement depended on."""

    chosen: str
    results: list[Result]
    key: dict[str, Any]
    measured_at: str
    #: True when read from the cache rather than measured by this call
    from_cache: bool = field(default=False, compare=False)

    def result(self, name: str) -> Result:
        return next(result for result in self.results if result.name == name)

    def reason(self) -> str:
        """Why the choice fell as it did, with the figures, in one line."""
        chosen = self.result(self.chosen)
        others = [r for r in self.results if r.name != self.chosen]
        parts = [f"{_library(self.chosen)} {chosen.median_ms:.1f} ms"]
        for other in others:
            if other.failed:
                parts.append(f"{_library(other.name)} failed ({other.failed})")
            elif not other.valid:
                parts.append(f"{_library(other.name)} {other.median_ms:.1f} ms but its mattes "
                             f"differ by {other.alpha_error:.1e} > {ALPHA_TOLERANCE:g}")
            else:
                parts.append(f"{_library(other.name)} {other.median_ms:.1f} ms")
        where = (f"{WIDTH}x{HEIGHT} at ratio {RATIO:g}, {self.key['threads']} thread(s), "
                 f"{'cached from ' if self.from_cache else 'measured '}{self.measured_at}")
        return f"{', '.join(parts)} ({where})"

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("from_cache")
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Calibration:
        results = [Result(**result) for result in data["results"]]
        return cls(data["chosen"], results, dict(data["key"]), data["measured_at"],
                   from_cache=True)


def create_calibrated(request: Request, entries: Sequence[BackendEntry]) -> Backend:
    """The backend ``--backend auto`` runs on the CPU: the calibrated choice among ``entries``
    (present on the CPU, in rank order), measured now when no cached choice matches."""
    if REFERENCE not in [entry.name for entry in entries]:
        return entries[0].create(request)  # nothing to check the others' mattes against
    contenders = contenders_for(request, entries)
    key = calibration_key(request, entries, contenders)
    # a cached choice was measured on this very model, so its frame size is free: the probe
    # below (which parses the whole graph) is paid once, not by every run
    size = None if load_cached(key) is not None else fixed_frame_size(Path(request.model_path))
    if size is not None:
        # the measured case is a 640x480 frame, which a graph fixed to another size cannot run;
        # such graphs are exported for one engine's sake, and ONNX Runtime runs any of them
        if request.notify is not None:
            request.notify(f"{Path(request.model_path).name} is fixed to {size[0]}x{size[1]} "
                           "frames, so --backend auto runs it on ONNX Runtime without measuring "
                           "the CPU engines")
        return REGISTRY[REFERENCE].create(request)
    calibration, built = calibrate(contenders, key)
    chosen = built.get(calibration.chosen)
    if chosen is not None:
        return chosen
    # the key names every contender, so a cached choice is always one of them
    return next(c for c in contenders if c.name == calibration.chosen).build()


def cpu_calibration(request: Request, entries: Sequence[BackendEntry],
                    measure: bool = True, fresh: bool = False) -> Calibration | None:
    """The calibration ``--backend auto`` would use for ``request``: cached, else measured now
    (unless ``measure`` is false: then None). For ``doctor`` and the benches."""
    contenders = contenders_for(request, entries)
    key = calibration_key(request, entries, contenders)
    cached = None if fresh else load_cached(key)
    if cached is not None or not measure:
        return cached
    return calibrate(contenders, key, fresh=True)[0]


def calibrate(contenders: Sequence[Contender], key: Mapping[str, Any], fresh: bool = False
              ) -> tuple[Calibration, dict[str, Backend]]:
    """The cached calibration for ``key`` (unless ``fresh``), else a new measurement, cached.

    Returns the backends built along the way (none from the cache), so the caller can run the
    chosen one without building it twice. The first contender is the default; the reference
    (:data:`REFERENCE`) must be among them.
    """
    cached = None if fresh else load_cached(key)
    if cached is not None:
        return cached, {}
    results, built = measure(contenders)
    calibration = Calibration(choose(results), results, dict(key),
                              datetime.now(timezone.utc).isoformat(timespec="seconds"))
    save(calibration)
    return calibration, built


def measure(contenders: Sequence[Contender], case: tuple[int, int, float] | None = None,
            rounds: int | None = None, check_frames: int | None = None
            ) -> tuple[list[Result], dict[str, Backend]]:
    """Each contender's mattes against the reference's on the first frames of a clip, then its
    per-frame time over interleaved rounds. A contender that fails to build or run gets a
    ``failed`` result; the reference failing is an error. ``case`` (width, height, ratio),
    ``rounds`` and ``check_frames`` default to the calibration's; the engine bench passes
    others."""
    names = [contender.name for contender in contenders]
    if REFERENCE not in names:
        raise ValueError(f"the reference {REFERENCE!r} is not among the contenders {names}")
    width, height, ratio = case or (WIDTH, HEIGHT, RATIO)
    count = check_frames or CHECK_FRAMES
    frames = [clip_frame(index, count, width, height) for index in range(count)]
    results = {name: Result(name) for name in names}
    runs: dict[str, _Run] = {}
    alphas: dict[str, list[np.ndarray]] = {}
    for contender in contenders:
        try:
            run = _Run(contender.build(), ratio)
            alphas[contender.name] = [run.step(rgb) for rgb in frames]
        except Exception as exc:  # any engine error: that engine is out, the others go on
            if contender.name == REFERENCE:
                raise
            results[contender.name].failed = _first_line(exc)
            continue
        runs[contender.name] = run
        results[contender.name].engine = run.backend.name
    reference = alphas[REFERENCE]
    for name, mattes in alphas.items():
        errors = [float(np.abs(alpha - ref).mean())
                  for alpha, ref in zip(mattes, reference, strict=True)]
        results[name].alpha_error = max(errors)
        results[name].alpha_mean = statistics.fmean(errors)
    times: dict[str, list[float]] = {name: [] for name in runs}
    order = list(runs)
    for turn in range(rounds or ROUNDS):
        for name in order[turn % len(order):] + order[:turn % len(order)]:  # rotated each round
            if results[name].failed:
                continue
            for index in range(FRAMES_PER_ROUND):
                began = time.perf_counter()
                try:
                    runs[name].step(frames[(turn * FRAMES_PER_ROUND + index) % len(frames)])
                except Exception as exc:
                    if name == REFERENCE:
                        raise
                    results[name].failed = _first_line(exc)
                    break
                times[name].append((time.perf_counter() - began) * 1000.0)
    for name, values in times.items():
        if results[name].failed is None:
            results[name].median_ms = statistics.median(values)
    built = {name: run.backend for name, run in runs.items() if results[name].failed is None}
    return [results[name] for name in names], built


def choose(results: Sequence[Result]) -> str:
    """The fastest valid result; the first (the default) unless beaten by more than the margin."""
    valid = [result for result in results if result.valid]
    if not valid:
        raise ValueError("no contender was measured with mattes matching the reference")
    fastest = min(valid, key=lambda result: result.median_ms or 0.0)
    default = results[0]
    if (default.valid and default.median_ms is not None and fastest.median_ms is not None
            and fastest.median_ms >= MARGIN * default.median_ms):
        return default.name
    return fastest.name


class _Run:
    """A backend stepping through frames with its own recurrent state, as a clip would."""

    def __init__(self, backend: Backend, ratio: float) -> None:
        self.backend = backend
        self._ratio = ratio
        self._state = backend.initial_state()

    def step(self, rgb: np.ndarray) -> np.ndarray:
        alpha, _fgr, self._state = self.backend.infer(rgb, self._state, self._ratio)
        return alpha


def calibration_key(request: Request, entries: Iterable[BackendEntry],
                    contenders: Sequence[Contender] | None = None) -> dict[str, Any]:
    """Everything a calibration for ``request`` among ``entries`` depends on; ``contenders``:
    those :func:`contenders_for` made of them, when the caller has them already."""
    entries = list(entries)
    packages = sorted({package for entry in entries for package in entry.needs})
    if contenders is None:
        contenders = contenders_for(request, entries)
    return make_key(
        engines={package: package_version(package) for package in packages},
        contenders=[contender.name for contender in contenders],
        model_sha256=sha256_of(Path(request.model_path)),
        threads=request.cpu_threads or os.cpu_count() or 1,
        precision=request.precision,
    )


def make_key(engines: Mapping[str, str], contenders: Sequence[str], model_sha256: str,
             threads: int, precision: str) -> dict[str, Any]:
    return {"recipe": RECIPE, "cpu": cpu_identity(), "engines": dict(engines),
            "contenders": list(contenders), "model_sha256": model_sha256, "threads": threads,
            "precision": precision, "case": f"{WIDTH}x{HEIGHT}@{RATIO:g}"}


def package_version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def cpu_identity() -> dict[str, Any]:
    """The CPU's model name and the flags engines dispatch on (Linux's /proc/cpuinfo; elsewhere
    the platform's processor name, which is all it offers without external tools)."""
    name, flags = "", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            label, _, value = line.partition(":")
            label = label.strip()
            if label in ("model name", "Hardware", "CPU part") and not name:
                name = value.strip()
            elif label in ("flags", "Features"):
                flags.update(flag for flag in value.split() if _ENGINE_FLAGS.match(flag))
    except OSError:
        pass
    return {"model": name or platform.processor() or platform.machine(),
            "machine": platform.machine(), "flags": sorted(flags)}


def cache_file(key: Mapping[str, Any]) -> Path:
    """Where the calibration for ``key`` is kept: one file per key, named by its digest."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    return models_home().parent / "calibration" / f"cpu-{digest}.json"


def load_cached(key: Mapping[str, Any]) -> Calibration | None:
    """The cached calibration for exactly ``key``; None when missing, unreadable or another's."""
    try:
        data = json.loads(cache_file(key).read_text())
        calibration = Calibration.from_json(data)
        calibration.result(calibration.chosen)
    except (OSError, ValueError, KeyError, TypeError, StopIteration):
        return None
    return calibration if calibration.key == dict(key) else None


def save(calibration: Calibration) -> None:
    """Write the calibration under a temporary name and rename it into place, so a reader never
    sees half a file. A cache that cannot be written only means measuring again next time."""
    target = cache_file(calibration.key)
    text = json.dumps(calibration.as_json(), indent=2) + "\n"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".calibration-") as tmp:
            partial = Path(tmp) / target.name
            partial.write_text(text)
            os.replace(partial, target)
    except OSError:
        return


def contenders_for(request: Request, entries: Sequence[BackendEntry]) -> list[Contender]:
    """Each backend on the CPU, then on each other device its module offers besides the CPU
    (``other_devices(request)``: OpenVINO's Intel GPU and NPU), named ``backend:DEVICE``."""
    contenders = []
    for entry in entries:
        contenders.append(Contender(entry.name, partial(entry.create, request)))
        offered = getattr(importlib.import_module(entry.module), "other_devices", None)
        for device, build in (offered(request) if offered else {}).items():
            contenders.append(Contender(f"{entry.name}{_ON}{device}", build))
    return contenders


def _library(name: str) -> str:
    backend, _, device = name.partition(_ON)
    entry = REGISTRY.get(backend)
    library = entry.library if entry else backend
    return f"{library} on {device}" if device else library


def _first_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {next(iter(str(exc).strip().splitlines()), '')}"

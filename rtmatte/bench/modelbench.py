"""Model-alone speed of each backend and precision present here, set against RVM's own figures.

RVM publishes MobileNetV3 speeds measured on frames already on the GPU, so the comparable figure
is the network call on device tensors, timed on the device (CUDA events) after warm-up. What a
user pays also includes moving the frame up and the matte down, so the backend's whole
``infer()`` is timed beside it. Without a GPU the same code measures the CPU variants, so the tool
never has nothing to say; its output states which case it is.

This module measures; :mod:`rtmatte.bench.modelreport` turns its rows into the printed table.
"""

from __future__ import annotations

import functools
import os
import platform
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from rtmatte.errors import UserError
from rtmatte.matting.backends import REGISTRY, Backend, create_backend, gpu
from rtmatte.matting.backends.calibrate import cpu_identity
from rtmatte.matting.backends.onnx import PROVIDERS, session_options
from rtmatte.matting.rvm.tensors import OUTPUTS, RATIO, SRC, STATE_INPUTS
from rtmatte.samples import clip_frame

#: RVM's published MobileNetV3 speeds, RTX 3090, FP16, batch 1: the figure GPU rows are read
#: against
ANCHOR_FPS = {(1920, 1080): 172.0, (3840, 2160): 154.0}
#: the multiple of that figure a data-centre GPU should reach (docs/benchmarks.md, "GPU")
TARGET_FACTOR = 3.0
#: GPU figures are the median of at least this many frames, after warm-up
GPU_MIN_FRAMES = 200
#: distinct frames cycled through a run, so the recurrent state sees motion
DISTINCT_FRAMES = 6


@dataclass(frozen=True)
class Case:
    """One frame size and the downsample ratio the model runs it at."""

    width: int
    height: int
    ratio: float

    @property
    def label(self) -> str:
        return f"{self.width}x{self.height}"


DEFAULT_CASES = (Case(1920, 1080, 0.25), Case(3840, 2160, 0.125))


@dataclass(frozen=True)
class Timing:
    """Per-frame milliseconds summarised by percentiles, which a few slow frames cannot move."""

    median_ms: float
    p10_ms: float
    p90_ms: float

    @classmethod
    def of(cls, times_ms: Sequence[float]) -> Timing:
        p10, median, p90 = np.percentile(np.asarray(times_ms, dtype=np.float64), [10, 50, 90])
        return cls(float(median), float(p10), float(p90))

    @property
    def fps(self) -> float:
        return 1000.0 / self.median_ms


@dataclass
class Row:
    """One variant at one size, or one variant that could not run (``case`` is then None)."""

    variant: str
    case: Case | None = None
    frames: int = 0
    warmup: int = 0
    clock: str = ""
    model: Timing | None = None
    infer: Timing | None = None
    on_gpu: bool = False
    skipped: str | None = None
    failed: str | None = None

    @property
    def anchor_fps(self) -> float | None:
        return ANCHOR_FPS.get((self.case.width, self.case.height)) if self.case else None

    @property
    def vs_anchor(self) -> float | None:
        anchor = self.anchor_fps
        return self.model.fps / anchor if anchor and self.model else None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("model", "infer"):
            timing = getattr(self, key)
            if timing is not None:
                data[key]["fps"] = timing.fps
        data["anchor_fps"] = self.anchor_fps
        data["vs_anchor"] = self.vs_anchor
        if self.on_gpu and self.vs_anchor is not None:
            data["target_met"] = self.vs_anchor >= TARGET_FACTOR
        return data


def _wall(call: Callable[[], Any]) -> tuple[Any, float]:
    began = time.perf_counter()
    result = call()
    return result, (time.perf_counter() - began) * 1000.0


class _CudaEvents:
    """Times a call on the GPU's own clock: host-side timing of asynchronous launches would
    measure queueing, not the work."""

    def __init__(self, torch: Any) -> None:
        self._start = torch.cuda.Event(enable_timing=True)
        self._end = torch.cuda.Event(enable_timing=True)

    def __call__(self, call: Callable[[], Any]) -> tuple[Any, float]:
        self._start.record()
        result = call()
        self._end.record()
        self._end.synchronize()
        return result, self._start.elapsed_time(self._end)


def _measure(step: Callable[[Any, Any], Any], sources: Sequence[Any], state: Any, warmup: int,
             count: int, clock: Callable[[Callable[[], Any]], tuple[Any, float]]) -> list[float]:
    """Milliseconds of ``count`` steps after ``warmup``; the state runs on through the frames as
    in a clip, since a first frame (zero state) costs differently from the rest."""
    times = []
    for index in range(warmup + count):
        state, ms = clock(functools.partial(step, sources[index % len(sources)], state))
        if index >= warmup:
            times.append(ms)
    return times


class _TorchModel:
    """The torch backend's device step (a CUDA graph replay on a GPU, after a clip's first
    frame) on frames already on the device: the backend's whole call adds the transfers."""

    def __init__(self, model_path: Path, device: str, precision: str,
                 cpu_threads: int | None) -> None:
        """``cpu_threads`` is set for the whole process by :func:`run`."""
        import torch

        from rtmatte.matting.backends.torch import TorchBackend

        self._torch = torch
        self._backend = TorchBackend(model_path, device=device, precision=precision)
        self.clock = "cuda-events" if device == "cuda" else "wall"

    def times(self, frames: Sequence[np.ndarray], ratio: float, warmup: int,
              count: int) -> list[float]:
        torch, backend = self._torch, self._backend
        with torch.inference_mode():
            sources = [torch.from_numpy(rgb).to(backend.device) for rgb in frames]

            def step(frame: Any, state: tuple) -> tuple:
                return tuple(backend.run_on_device(frame, state, ratio)[2:])

            clock = _CudaEvents(torch) if backend.device.type == "cuda" else _wall
            return _measure(step, sources, backend.initial_state(), warmup, count, clock)


class _OnnxModel:
    """An ONNX Runtime session on the released graph, run on frames, states and outputs bound on
    its device, so on a GPU a run moves nothing across the bus (one code path for CPU and GPU).
    ONNX Runtime works on its own CUDA stream, so the clock is the host's around a run that ends
    synchronised. The session options are the backend's own (no spinning idle threads)."""

    def __init__(self, model_path: Path, device: str, precision: str,
                 cpu_threads: int | None) -> None:
        """``precision`` is the graph's own."""
        self._session = ort.InferenceSession(str(model_path), session_options(cpu_threads),
                                             providers=[PROVIDERS[device]])
        self._device = device
        self.clock = "wall" if self._device == "cpu" else "wall+sync"

    def times(self, frames: Sequence[np.ndarray], ratio: float, warmup: int,
              count: int) -> list[float]:
        # kept referenced: on CPU an OrtValue wraps the array's memory without copying it
        arrays = [rgb.transpose(2, 0, 1)[np.newaxis].astype(np.float32) / np.float32(255)
                  for rgb in frames]
        zeros = np.zeros((1, 1, 1, 1), dtype=np.float32)
        ratio_array = np.array([ratio], dtype=np.float32)

        def bound(array: np.ndarray) -> ort.OrtValue:
            return ort.OrtValue.ortvalue_from_numpy(array, self._device, 0)

        binding = self._session.io_binding()
        binding.bind_ortvalue_input(RATIO, ort.OrtValue.ortvalue_from_numpy(
            ratio_array))

        def step(src: ort.OrtValue, state: list) -> list:
            binding.bind_ortvalue_input(SRC, src)
            for name, value in zip(STATE_INPUTS, state, strict=True):
                binding.bind_ortvalue_input(name, value)
            for name in OUTPUTS:
                binding.bind_output(name, self._device)
            self._session.run_with_iobinding(binding)
            binding.synchronize_outputs()
            return binding.get_outputs()[2:]

        return _measure(step, [bound(a) for a in arrays], [bound(zeros)] * 4, warmup, count,
                        _wall)


@dataclass(frozen=True)
class Variant:
    """A backend, device and precision, named as rtmatte's ``--backend``, ``--device`` and
    ``--precision`` flags name them (TensorRT runs through ONNX Runtime's provider)."""

    backend: str
    device: str
    precision: str

    @property
    def name(self) -> str:
        return f"{self.backend}/{self.device}/{self.precision}"

    def matches(self, selector: str) -> bool:
        return selector in (self.name, self.backend, self.device)

    def unavailable(self) -> str | None:
        """Why this variant cannot run here, or None when it can."""
        return REGISTRY[self.backend].unavailable(self.device)

    def model(self, model_path: Path, cpu_threads: int | None) -> _TorchModel | _OnnxModel | None:
        """The bare network, for the backends this bench knows how to run bare; None for the
        others (TensorRT's engines are built per frame size by OnnxBackend: shapes, precision,
        cache), of which only the whole ``infer()`` is measured."""
        bare = _BARE_MODELS.get(self.backend)
        return bare(model_path, self.device, self.precision, cpu_threads) if bare else None

    def full_backend(self, model_path: Path, cpu_threads: int | None) -> Backend:
        """rtmatte's backend for this variant, as a user's run would build it."""
        return create_backend(model_path, self.backend, self.device, cpu_threads=cpu_threads,
                              precision=self.precision)


_BARE_MODELS = {"torch": _TorchModel, "onnx": _OnnxModel}


def variants() -> list[Variant]:
    """Every registered backend on each device it runs on, in each precision it has there (a CPU
    runs float32, or OpenVINO's own choice for the CPU as ``auto``): GPU variants first, the
    figures this bench is for, each device's in the order ``--backend auto`` prefers them."""
    backends = sorted(REGISTRY.values(), key=lambda entry: entry.auto_rank)
    return [Variant(entry.name, device, precision)
            for device in ("cuda", "cpu") for entry in backends if device in entry.devices
            for precision in (entry.precisions if device == "cuda" else entry.cpu_precisions)]


def sample_frames(case: Case, count: int = DISTINCT_FRAMES) -> list[np.ndarray]:
    """Frames of a person at the case's size, cycled: the state then carries what a real clip
    gives it, and the frames are made once rather than inside the timed loop."""
    return [clip_frame(index, count, case.width, case.height) for index in range(count)]


def time_infer(backend: Backend, frames: Sequence[np.ndarray], ratio: float, warmup: int,
               count: int) -> list[float]:
    """Milliseconds of whole ``infer()`` calls. Each returns host arrays, so the download has
    waited for the GPU and the host clock covers the work."""
    def step(rgb: np.ndarray, state: Any) -> Any:
        return backend.infer(rgb, state, ratio)[2]

    return _measure(step, frames, backend.initial_state(), warmup, count, _wall)


def run(model_path: Path, variants: Iterable[Variant], cases: Sequence[Case],
        frames: int | None = None, warmup: int | None = None, cpu_frames: int = 10,
        cpu_warmup: int = 2, gpu_warmup: int = 20, cpu_threads: int | None = None,
        report: Callable[[Row], None] | None = None) -> list[Row]:
    """Measure each variant present here at each case; ``frames``/``warmup`` override the
    per-device defaults (GPU: 200 frames; CPU: few, as a 4K frame takes seconds).

    ``cpu_threads`` also sets torch's thread count for the whole process. A variant that fails
    at run time becomes a ``failed`` row: on a lent GPU with limited time, one broken provider
    should not cost the figures of the others.
    """
    if cpu_threads:
        try:
            import torch
        except ImportError:
            pass
        else:
            torch.set_num_threads(cpu_threads)
    frames_by_case = {case: sample_frames(case) for case in cases}
    rows: list[Row] = []

    def add(row: Row) -> None:
        rows.append(row)
        if report:
            report(row)

    for variant in variants:
        on_gpu = variant.device == "cuda"
        reason = variant.unavailable()
        if reason:
            add(Row(variant.name, on_gpu=on_gpu, skipped=reason))
            continue
        count = frames or (GPU_MIN_FRAMES if on_gpu else cpu_frames)
        skip = warmup if warmup is not None else (gpu_warmup if on_gpu else cpu_warmup)
        try:
            model = variant.model(model_path, cpu_threads)
            backend = variant.full_backend(model_path, cpu_threads)
            for case in cases:
                sources = frames_by_case[case]
                row = Row(variant.name, case, count, skip, model.clock if model else "wall",
                          on_gpu=on_gpu)
                if model is not None:
                    row.model = Timing.of(model.times(sources, case.ratio, skip, count))
                row.infer = Timing.of(time_infer(backend, sources, case.ratio, skip, count))
                add(row)
        except UserError as exc:  # e.g. a provider listed whose libraries are missing
            add(Row(variant.name, on_gpu=on_gpu, skipped=str(exc)))
        except Exception as exc:  # any provider or driver error: report it, measure the rest
            first_line = next(iter(str(exc).strip().splitlines()), "")
            add(Row(variant.name, on_gpu=on_gpu, failed=f"{type(exc).__name__}: {first_line}"))
    return rows


def environment() -> dict[str, Any]:
    """What the figures depend on, so a reader can tell one machine's numbers from another's."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_identity()["model"],
        "logical_cpus": os.cpu_count(),
        "onnxruntime": ort.__version__,
        "onnxruntime_providers": ort.get_available_providers(),
        "gpu": gpu.described(),
        "torch": None,
        "cuda": None,
        "cudnn": None,
        "torch_cuda_available": False,
        "tensorrt": None,
    }
    try:
        import torch
    except ImportError:
        pass
    else:
        cuda = torch.cuda.is_available()
        info.update(torch=torch.__version__, cuda=torch.version.cuda,
                    cudnn=torch.backends.cudnn.version() if cuda else None,
                    torch_cuda_available=cuda)
        if cuda and not info["gpu"]:
            info["gpu"] = [torch.cuda.get_device_name(0)]
    from rtmatte.matting.models.trt_cache import tensorrt_found, tensorrt_version

    if tensorrt_found():
        info["tensorrt"] = tensorrt_version()
    return info

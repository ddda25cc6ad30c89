"""The inference backends: the contract each meets, and the one list of them.

The pipeline and :class:`~rtmatte.matting.matter.Matter` only see the contract, so ONNX Runtime,
PyTorch, TensorRT or OpenVINO can run the network without anything upstream knowing which. The
recurrent state is opaque to callers: a backend may keep it on a GPU between frames.

Everything that offers, checks or picks a backend reads the one list of them (its vocabulary
in :mod:`.registry`, its entries registered at the end of this file): the CLI's choices and
settings validation (:data:`BACKENDS`), ``rtmatte doctor``, ``--backend auto``
(:func:`fastest_present`; on a CPU, a measurement among :func:`cpu_contenders`) and the model
bench. Adding a backend is one module (its ``create`` and ``unavailable``, as in
:mod:`.tensorrt`) and one :func:`register_backend` line at the end of this file. Backend
modules are imported only when their backend is probed or built, so this list costs the CLI
nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from rtmatte.errors import BackendUnavailable, SettingsError
from rtmatte.matting.backends.registry import (
    BACKENDS,
    DEVICES,
    GPU_PRECISIONS,
    PRECISIONS,
    REGISTRY,
    Backend,
    BackendEntry,
    Request,
    backend_names,
    check_choice,
    register_backend,
)
from rtmatte.types import Notify

__all__ = ["BACKENDS", "DEVICES", "GPU_PRECISIONS", "PRECISIONS", "REGISTRY", "Backend",
           "BackendEntry", "Request", "backend_names", "check_choice", "cpu_contenders",
           "create_backend", "create_fastest", "fastest_present", "register_backend"]

def create_backend(model_path: Path, backend: str = "auto", device: str = "auto",
                   cpu_threads: int | None = None, precision: str = "auto",
                   notify: Notify | None = None) -> Backend:
    """Build the asked-for backend; ``auto`` takes the fastest present (:func:`fastest_present`).

    ``cpu_threads`` sizes the CPU engines' thread pools. ``precision`` is what PyTorch runs in
    and TensorRT builds its engines in; OpenVINO runs its own choice for the CPU on ``auto`` and
    float32 on ``fp32``; ONNX Runtime's CPU and CUDA providers run a graph in the precision it
    was exported in (``rtmatte models export --fp16`` makes one). ``auto`` on a CPU measures
    the engines present there against each other once per machine (:mod:`.calibrate`).
    ``notify`` hears the one-line notes a choice may need to pass on.
    """
    check_choice("backend", backend, BACKENDS)
    check_choice("device", device, DEVICES)
    check_choice("precision", precision, PRECISIONS)
    if precision == "fp16" and device == "cpu":
        raise SettingsError("--precision fp16 runs on an NVIDIA GPU; on a CPU rtmatte runs "
                            "float32 (drop --precision or --device cpu)")
    request = Request(Path(model_path), device, precision, cpu_threads, notify)
    if backend == "auto":
        return create_fastest(request)
    entry = REGISTRY[backend]
    if device != "auto" and device not in entry.devices:
        raise SettingsError(f"--backend {backend} runs on {_device_words(entry.devices)}; "
                            f"drop --device {device}")
    return entry.create(request)


def create_fastest(request: Request, among: Sequence[str] | None = None) -> Backend:
    """The fastest of the backends named in ``among`` (default: all) present on the device
    asked for; an error that says what to install where none is."""
    choice = fastest_present(request.device, among)
    if choice is None:
        raise BackendUnavailable(
            "no CUDA inference is installed: `pip install onnxruntime-gpu` (NVIDIA driver and "
            "CUDA 12 needed) or `pip install rtmatte[torch]` with a CUDA build of PyTorch"
        )
    entry, device = choice
    if device == "cpu" and request.precision == "fp16":
        raise BackendUnavailable("--precision fp16 needs an NVIDIA GPU, and no CUDA inference is "
                                 "usable here; drop --precision to run float32 on the CPU")
    request = replace(request, device=device)
    contenders = cpu_contenders(among) if device == "cpu" and entry.cpu_calibrated else []
    if len(contenders) > 1:
        from rtmatte.matting.backends.calibrate import create_calibrated

        return create_calibrated(request, contenders)
    return entry.create(request)


def cpu_contenders(among: Sequence[str] | None = None) -> list[BackendEntry]:
    """The backends present on the CPU that ``--backend auto`` measures against each other there,
    in rank order: the first is the default, which another replaces only by measuring faster."""
    entries = sorted((REGISTRY[name] for name in among or REGISTRY),
                     key=lambda entry: entry.auto_rank)
    return [entry for entry in entries
            if entry.cpu_calibrated and "cpu" in entry.devices and entry.present("cpu")]


def fastest_present(device: str = "auto",
                    among: Sequence[str] | None = None) -> tuple[BackendEntry, str] | None:
    """What ``--backend auto`` runs on this machine, as (backend, device): the lowest-ranked
    backend present on a GPU, else on the CPU; None when ``device`` is ``cuda`` and no backend
    can use one. ``among`` limits the choice to those backends."""
    entries = sorted((REGISTRY[name] for name in among or REGISTRY),
                     key=lambda entry: entry.auto_rank)
    tried = {"auto": ("cuda", "cpu"), "cuda": ("cuda",), "cpu": ("cpu",)}[device]
    for candidate in tried:
        for entry in entries:
            if candidate in entry.devices and entry.present(candidate):
                return entry, candidate
    return None


_DEVICE_WORDS = {"cpu": "the CPU", "cuda": "an NVIDIA GPU"}


def _device_words(devices: Sequence[str]) -> str:
    return " or ".join(_DEVICE_WORDS.get(device, device) for device in devices)


register_backend(BackendEntry(
    "onnx", "rtmatte.matting.backends.onnx", needs=("onnxruntime",), library="ONNX Runtime",
    runs={"cpu": "ONNX Runtime on the CPU", "cuda": "ONNX Runtime on CUDA"}, auto_rank=1,
    precisions=("fp32",),  # the graph's own: the released one is float32
    cpu_calibrated=True,
))
register_backend(BackendEntry(
    "torch", "rtmatte.matting.backends.torch", needs=("torch",), library="PyTorch",
    runs={"cpu": "PyTorch on the CPU", "cuda": "PyTorch on CUDA (float16, CUDA graphs)"},
    auto_rank=2,
))
register_backend(BackendEntry(
    "tensorrt", "rtmatte.matting.backends.tensorrt", needs=("onnxruntime",),
    library="ONNX Runtime with TensorRT",
    runs={"cuda": "ONNX Runtime with TensorRT (engines built once per frame size, then cached)"},
    auto_rank=0,
))
register_backend(BackendEntry(
    "openvino", "rtmatte.matting.backends.openvino", needs=("openvino",), library="OpenVINO",
    runs={"cpu": "OpenVINO on the CPU"}, auto_rank=3, cpu_precisions=("auto", "fp32"),
    cpu_calibrated=True,
))

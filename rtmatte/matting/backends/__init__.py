"""The contract every inference backend meets, and the factory that picks one.

The pipeline and :class:`~rtmatte.matting.matter.Matter` only see this contract, so ONNX Runtime,
PyTorch or TensorRT can run the network without anything upstream knowing which. The recurrent
state is opaque to callers: a backend may keep it on a GPU between frames.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rtmatte.errors import BackendUnavailable, SettingsError

BACKENDS = ("auto", "onnx", "torch", "tensorrt")
DEVICES = ("auto", "cpu", "cuda")
#: ``auto`` is float16 on a GPU and float32 on a CPU, which has no fast float16 convolutions
PRECISIONS = ("auto", "fp16", "fp32")


class Backend(Protocol):
    """Runs one recurrent matting step."""

    #: what ran, for stats and messages, e.g. "onnxruntime/CPUExecutionProvider"
    name: str

    def initial_state(self) -> Any:
        """The recurrent state for the first frame of a clip."""

    def infer(
        self, rgb: np.ndarray, state: Any, downsample_ratio: float
    ) -> tuple[np.ndarray, np.ndarray, Any]:
        """Matte one frame.

        ``rgb`` is uint8 (H, W, 3). Returns ``alpha`` float32 (H, W) and ``fgr`` float32
        (H, W, 3), both in [0, 1] and possibly non-contiguous views, and the next state.
        """


def create_backend(model_path: Path, backend: str = "auto", device: str = "auto",
                   cpu_threads: int | None = None, spin: bool = False,
                   precision: str = "auto") -> Backend:
    """Build the asked-for backend; ``auto`` takes the fastest present: TensorRT > CUDA > CPU.

    ``cpu_threads`` and ``spin`` shape ONNX Runtime's CPU thread pool. ``precision`` is what
    PyTorch runs in and TensorRT builds its engines in; ONNX Runtime's CPU and CUDA providers run
    a graph in the precision it was exported in (``rtmatte models export --fp16`` makes one).
    """
    if backend not in BACKENDS:
        raise SettingsError(f"unknown backend '{backend}'; choose one of {', '.join(BACKENDS)}")
    if device not in DEVICES:
        raise SettingsError(f"unknown device '{device}'; choose one of {', '.join(DEVICES)}")
    if precision not in PRECISIONS:
        raise SettingsError(f"unknown precision '{precision}'; choose one of "
                            f"{', '.join(PRECISIONS)}")
    if precision == "fp16" and device == "cpu":
        raise SettingsError("--precision fp16 runs on an NVIDIA GPU; on a CPU rtmatte runs "
                            "float32 (drop --precision or --device cpu)")
    gpu_precision = "fp16" if precision == "auto" else precision
    if backend == "torch":
        from rtmatte.matting.backends.torch import TorchBackend

        return TorchBackend(model_path, device=device, precision=precision)

    from rtmatte.matting.backends.onnx import OnnxBackend

    if backend == "tensorrt":
        if device == "cpu":
            raise SettingsError("--backend tensorrt runs on an NVIDIA GPU; drop --device cpu")
        return OnnxBackend(model_path, "TensorrtExecutionProvider", precision=gpu_precision)
    if backend == "onnx":
        if device == "cuda":
            return OnnxBackend(model_path, provider="CUDAExecutionProvider")
        if device == "cpu":
            return OnnxBackend(model_path, "CPUExecutionProvider", cpu_threads, spin)
    choice = fastest_present(device, with_torch=backend == "auto")
    if choice == "tensorrt":
        return OnnxBackend(model_path, "TensorrtExecutionProvider", precision=gpu_precision)
    if choice == "onnx-cuda":
        return OnnxBackend(model_path, provider="CUDAExecutionProvider")
    if choice == "torch-cuda":
        from rtmatte.matting.backends.torch import TorchBackend

        return TorchBackend(model_path, device="cuda", precision=precision)
    if device == "cuda":
        raise BackendUnavailable(
            "no CUDA inference is installed: `pip install onnxruntime-gpu` (NVIDIA driver and "
            "CUDA 12 needed) or `pip install rtmatte[torch]` with a CUDA build of PyTorch"
        )
    if precision == "fp16":
        raise BackendUnavailable("--precision fp16 needs an NVIDIA GPU, and no CUDA inference is "
                                 "usable here; drop --precision to run float32 on the CPU")
    return OnnxBackend(model_path, "CPUExecutionProvider", cpu_threads, spin)


def fastest_present(device: str = "auto", with_torch: bool = True) -> str:
    """What ``--backend auto`` runs on this machine: ``tensorrt``, ``onnx-cuda``, ``torch-cuda``
    or ``onnx-cpu`` (``with_torch`` False: what ``--backend onnx`` runs)."""
    import onnxruntime as ort

    from rtmatte.matting.models.trt_cache import tensorrt_found

    if device != "cpu":
        providers = ort.get_available_providers()
        # onnxruntime-gpu lists its TensorRT provider even where TensorRT is not installed
        if "TensorrtExecutionProvider" in providers and tensorrt_found():
            return "tensorrt"
        if "CUDAExecutionProvider" in providers:
            return "onnx-cuda"
        if with_torch and _torch_cuda_available():
            return "torch-cuda"
    return "onnx-cpu"


def _torch_cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())

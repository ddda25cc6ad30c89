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
                   precision: str = "fp16") -> Backend:
    """Build the asked-for backend; ``auto`` takes the fastest present: TensorRT > CUDA > CPU.

    ``cpu_threads`` and ``spin`` shape ONNX Runtime's CPU thread pool, ``precision`` (fp16 or
    fp32) TensorRT's engines (see OnnxBackend).
    """
    if backend not in BACKENDS:
        raise SettingsError(f"unknown backend '{backend}'; choose one of {', '.join(BACKENDS)}")
    if device not in DEVICES:
        raise SettingsError(f"unknown device '{device}'; choose one of {', '.join(DEVICES)}")
    if backend == "torch":
        from rtmatte.matting.torch_backend import TorchBackend

        return TorchBackend(model_path, device=device)

    from rtmatte.matting.onnx_backend import OnnxBackend, available_providers
    from rtmatte.matting.trt_cache import tensorrt_found

    if backend == "tensorrt":
        if device == "cpu":
            raise SettingsError("--backend tensorrt runs on an NVIDIA GPU; drop --device cpu")
        return OnnxBackend(model_path, provider="TensorrtExecutionProvider", precision=precision)
    if backend == "onnx":
        if device == "cuda":
            return OnnxBackend(model_path, provider="CUDAExecutionProvider")
        if device == "cpu":
            return OnnxBackend(model_path, "CPUExecutionProvider", cpu_threads, spin)
    providers = available_providers()
    if device != "cpu":
        # onnxruntime-gpu lists its TensorRT provider even where TensorRT is not installed
        if "TensorrtExecutionProvider" in providers and tensorrt_found():
            return OnnxBackend(model_path, "TensorrtExecutionProvider", precision=precision)
        if "CUDAExecutionProvider" in providers:
            return OnnxBackend(model_path, provider="CUDAExecutionProvider")
        if backend == "auto" and _torch_cuda_available():
            from rtmatte.matting.torch_backend import TorchBackend

            return TorchBackend(model_path, device="cuda")
        if device == "cuda":
            raise BackendUnavailable(
                "no CUDA inference is installed: `pip install onnxruntime-gpu` (NVIDIA driver and "
                "CUDA 12 needed) or `pip install rtmatte[torch]` with a CUDA build of PyTorch"
            )
    return OnnxBackend(model_path, "CPUExecutionProvider", cpu_threads, spin)


def _torch_cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())

"""``--backend tensorrt``: ONNX Runtime's TensorRT provider, with rtmatte's engine cache.

The engines themselves are built and cached by :class:`~rtmatte.matting.backends.onnx.OnnxBackend`
(one session per frame size); this module is the registry's view of it: whether it can run here,
and in which precision it builds.
"""

from __future__ import annotations

from rtmatte.matting.backends import Request
from rtmatte.matting.backends.onnx import (
    TENSORRT_PROVIDER,
    OnnxBackend,
    available_providers,
    missing_provider_message,
    missing_tensorrt_message,
)
from rtmatte.matting.models import trt_cache


def create(request: Request) -> OnnxBackend:
    precision = "fp16" if request.precision == "auto" else request.precision
    return OnnxBackend(request.model_path, TENSORRT_PROVIDER, precision=precision)


def unavailable(device: str) -> str | None:
    if TENSORRT_PROVIDER not in available_providers():
        return missing_provider_message(TENSORRT_PROVIDER)
    # onnxruntime-gpu lists its TensorRT provider even where TensorRT is not installed
    if not trt_cache.tensorrt_found():
        return missing_tensorrt_message()
    return None

"""ONNX Runtime backend for RVM-style ONNX graphs (inputs src, r1i..r4i, downsample_ratio)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from rtmatte.errors import BackendUnavailable, ModelError

_STATE_NAMES = ("r1i", "r2i", "r3i", "r4i")
_INPUT_NAMES = {"src", *_STATE_NAMES, "downsample_ratio"}
#: graphs from `rtmatte models export` have the ratio baked in and recorded in their metadata
_BAKED_INPUT_NAMES = {"src", *_STATE_NAMES}
_BAKED_RATIO_KEY = "rtmatte.downsample_ratio"
_OUTPUT_NAMES = ["fgr", "pha", "r1o", "r2o", "r3o", "r4o"]
_SCALE = np.float32(1.0 / 255.0)


def available_providers() -> list[str]:
    return list(ort.get_available_providers())


class OnnxBackend:
    """One ONNX Runtime session; the recurrent state travels as numpy arrays between frames."""

    def __init__(self, model_path: Path, provider: str = "CPUExecutionProvider",
                 cpu_threads: int | None = None, spin: bool = False) -> None:
        """``cpu_threads`` (default: one per core) and ``spin`` tune the CPU thread pool. Spinning
        threads wait for work by burning CPU; that takes cores from decode, compositing and
        encode running beside the model, and measured no faster even for the model alone (720p,
        2 cores: 7.4 fps without spinning, 6.9 with), so it is off by default."""
        if provider not in available_providers():
            raise BackendUnavailable(_missing_provider_message(provider))
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if cpu_threads:
            options.intra_op_num_threads = cpu_threads
        if not spin:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers: list = [provider]
        if provider == "TensorrtExecutionProvider":
            cache = Path(model_path).with_suffix(".trt-cache")
            cache.mkdir(exist_ok=True)
            providers = [
                (provider, {"trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache),
                            "trt_fp16_enable": True}),
                "CUDAExecutionProvider",
            ]
        try:
            self._session = ort.InferenceSession(str(model_path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
            raise ModelError(f"cannot load model {model_path}: {str(exc).splitlines()[0]}") from exc
        names = {i.name for i in self._session.get_inputs()}
        metadata = self._session.get_modelmeta().custom_metadata_map
        #: the ratio fixed inside an exported graph; None when the graph takes it per frame
        self.baked_ratio: float | None = None
        if names == _BAKED_INPUT_NAMES and _BAKED_RATIO_KEY in metadata:
            self.baked_ratio = float(metadata[_BAKED_RATIO_KEY])
        elif names != _INPUT_NAMES:
            raise ModelError(
                f"{model_path} is not an RVM-compatible model: its inputs are {sorted(names)}, "
                f"expected {sorted(_INPUT_NAMES)}"
            )
        self.name = f"onnxruntime/{provider}"
        self._ratio = np.zeros(1, dtype=np.float32)

    def initial_state(self) -> list[np.ndarray]:
        return [np.zeros((1, 1, 1, 1), dtype=np.float32) for _ in _STATE_NAMES]

    def infer(
        self, rgb: np.ndarray, state: list[np.ndarray], downsample_ratio: float
    ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """One step; an exported graph with a baked ratio ignores ``downsample_ratio``."""
        src = rgb.transpose(2, 0, 1)[np.newaxis].astype(np.float32)
        src *= _SCALE
        feeds = {"src": src}
        if self.baked_ratio is None:
            self._ratio[0] = downsample_ratio
            feeds["downsample_ratio"] = self._ratio
        feeds.update(zip(_STATE_NAMES, state, strict=True))
        fgr, pha, *next_state = self._session.run(_OUTPUT_NAMES, feeds)
        # planes to interleaved HWC in one pass: later full-frame maths then reads memory in order
        return pha[0, 0], cv2.merge(list(fgr[0])), next_state


def _missing_provider_message(provider: str) -> str:
    if provider == "CPUExecutionProvider":
        return "onnxruntime has no CPU provider; reinstall it with `pip install onnxruntime`"
    return (
        f"ONNX Runtime's {provider} is not available here (found: "
        f"{', '.join(available_providers())}); install onnxruntime-gpu in place of onnxruntime "
        "and make sure the NVIDIA driver, CUDA 12 and cuDNN 9 (plus TensorRT for the TensorRT "
        "provider) are installed"
    )

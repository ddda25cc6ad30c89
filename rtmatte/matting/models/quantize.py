"""int8 weights for RVM, made on this machine with ONNX Runtime's static quantization.

Convolutions get int8 weights (per output channel) and uint8 activations whose ranges come from
running the float model over frames of the bundled sample clip. The result is cached beside the
float model with a record of both files' sha256, so a later run uses it only when it was made
from exactly this float model and has not changed since.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from rtmatte.matting.models.derived import build_derived, is_current
from rtmatte.matting.models.fetch import models_home
from rtmatte.matting.rvm.tensors import RATIO, SRC, STATE_INPUTS
from rtmatte.types import Notify

#: bump when the recipe changes, so cached files made the old way are rebuilt
RECIPE = 1
_CALIBRATION_FRAMES = 24
_CALIBRATION_SIZE = (640, 480)
_CALIBRATION_RATIO = 0.375
#: per-channel scales need DequantizeLinear's axis, which arrived in opset 13
_OPSET = 13


def quantized_path(fp32: Path) -> Path:
    name = Path(fp32).name.replace("_fp32", "")
    return models_home() / name.replace(".onnx", "_int8.onnx")


def ensure_quantized(fp32: Path, notify: Notify | None = None) -> Path:
    """The int8 model made from ``fp32``, building it (a few seconds) when missing."""
    fp32 = Path(fp32)
    target = quantized_path(fp32)
    if is_current(fp32, target, RECIPE):
        return target
    if notify:
        notify(f"making int8 weights from {fp32.name} (once; cached as {target.name})")
    return build_derived(fp32, target, RECIPE, quantize)


def quantize(fp32: Path, target: Path) -> None:
    """Write the int8 version of ``fp32`` to ``target``."""
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    upgraded = Path(target).with_suffix(".opset13.onnx")
    onnx.save(version_converter.convert_version(onnx.load(str(fp32)), _OPSET), str(upgraded))
    try:
        quantize_static(
            str(upgraded), str(target), _Calibration(fp32),
            quant_format=QuantFormat.QOperator, op_types_to_quantize=["Conv"], per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
    finally:
        upgraded.unlink(missing_ok=True)


class _Calibration:
    """Feeds the quantizer real inputs: sample frames with the recurrent state they would have."""

    def __init__(self, fp32: Path) -> None:
        self._feeds = _calibration_feeds(fp32)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)


def _calibration_feeds(fp32: Path) -> Iterator[dict[str, np.ndarray]]:
    from rtmatte.matting.backends.onnx import OnnxBackend
    from rtmatte.samples import clip_frame

    backend = OnnxBackend(fp32)
    state = backend.initial_state()
    ratio = np.array([_CALIBRATION_RATIO], dtype=np.float32)
    width, height = _CALIBRATION_SIZE
    for index in range(_CALIBRATION_FRAMES):
        rgb = clip_frame(index, _CALIBRATION_FRAMES, width, height)
        src = rgb.transpose(2, 0, 1)[np.newaxis].astype(np.float32) / np.float32(255.0)
        yield {SRC: src, **dict(zip(STATE_INPUTS, state, strict=True)), RATIO: ratio}
        _, _, state = backend.infer(rgb, state, _CALIBRATION_RATIO)

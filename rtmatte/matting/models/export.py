"""Export rtmatte's PyTorch network to ONNX, specialised for one downsample ratio.

Baking the ratio in removes the run-time Resize-by-input that the released graph carries, which
engines such as TensorRT handle poorly, and lets an optional fixed frame size make every shape
static. The recurrent state inputs keep free dimensions, so the first frame can still pass zeros of
shape (1, 1, 1, 1) as with the released model. Inputs and outputs stay float32 even in a
``fp16`` export (the casts sit inside the graph), so callers feed the same arrays either way.

The ratio is recorded in the file's metadata under ``rtmatte.downsample_ratio``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

from rtmatte.errors import SettingsError
from rtmatte.matting.models.convert import load_network
from rtmatte.matting.rvm.network import MattingNetwork
from rtmatte.matting.rvm.tensors import (
    BAKED_RATIO_KEY,
    FGR,
    OUTPUTS,
    PHA,
    SRC,
    STATE_INPUTS,
    STATE_OUTPUTS,
)

DEFAULT_OPSET = 17
#: frame size traced when no fixed size is asked for; any size runs afterwards
_TRACE_SIZE = (256, 192)


class _FixedRatio(nn.Module):
    """The network as a function of (frame, state) alone, in float32 at its edges."""

    def __init__(
        self, network: MattingNetwork, downsample_ratio: float, dtype: torch.dtype
    ) -> None:
        super().__init__()
        self.network = network.to(dtype)
        self.ratio = downsample_ratio
        self.dtype = dtype

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.dtype != torch.float32:
            inputs = tuple(x.to(self.dtype) for x in inputs)
        outputs = self.network(*inputs, self.ratio)
        if self.dtype != torch.float32:
            outputs = tuple(y.float() for y in outputs)
        return outputs


def export_onnx(
    model_path: Path,
    out_path: Path,
    downsample_ratio: float,
    size: tuple[int, int] | None = None,
    fp16: bool = False,
    opset: int = DEFAULT_OPSET,
) -> Path:
    """Write the network with the weights of ``model_path`` to ``out_path`` as ONNX.

    ``size`` is (width, height) for a graph with a static frame size (batch 1); without it, batch,
    height and width are free. Returns ``out_path``.
    """
    if not 0.0 < downsample_ratio <= 1.0:
        raise SettingsError(f"downsample ratio must be in (0, 1], got {downsample_ratio}")
    if size is not None and min(size) < 16:
        raise SettingsError(f"frame size {size[0]}x{size[1]} is too small to matte")
    dtype = torch.float16 if fp16 else torch.float32
    module = _FixedRatio(load_network(model_path, "cpu"), downsample_ratio, dtype)
    width, height = size or _TRACE_SIZE
    zeros = torch.zeros(1, 1, 1, 1)
    example = (torch.rand(1, 3, height, width), zeros, zeros, zeros, zeros)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of torch.export, which needs the
        # onnxscript package; this one needs nothing extra and handles the shape-dependent crops.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            module, example, str(out_path), dynamo=False, opset_version=opset,
            input_names=[SRC, *STATE_INPUTS], output_names=list(OUTPUTS),
            dynamic_axes=_dynamic_axes(static_frame=size is not None),
        )
    model = onnx.load(str(out_path))
    onnx.helper.set_model_props(model, {
        BAKED_RATIO_KEY: repr(float(downsample_ratio)),
        "rtmatte.precision": "fp16" if fp16 else "fp32",
    })
    onnx.checker.check_model(model)
    onnx.save(model, str(out_path))
    return out_path


def _dynamic_axes(static_frame: bool) -> dict[str, dict[int, str]]:
    frame = {} if static_frame else {0: "batch", 2: "height", 3: "width"}
    state_in = {0: "batch", 1: "channels", 2: "height", 3: "width"}
    state_out = {} if static_frame else {0: "batch", 2: "height", 3: "width"}
    axes: dict[str, dict[int, str]] = {SRC: frame, FGR: frame, PHA: frame}
    for index, (state, next_state) in enumerate(zip(STATE_INPUTS, STATE_OUTPUTS, strict=True), 1):
        axes[state] = {key: f"{name}_r{index}" for key, name in state_in.items()}
        axes[next_state] = {key: f"{name}_r{index}" for key, name in state_out.items()}
    return axes

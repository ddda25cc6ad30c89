"""The frame size an exported graph is fixed to (``rtmatte models export --size``), read from the
model file without building a session: the calibration cannot measure such a graph on its own
clip, and a frame of another size must be refused in one line, not fail inside the engine."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rtmatte.matting.rvm.tensors import SRC


def fixed_frame_size(model_path: Path) -> tuple[int, int] | None:
    """The (width, height) the graph's frame input is fixed to; None when any size runs, and
    when the file is no graph at all (the engine that opens it then says so in one line).
    The onnx package is imported here, not with the module: it costs 0.6 s of CPU, and a run
    whose calibration is cached never asks."""
    import onnx
    from google.protobuf.message import DecodeError

    try:
        graph = onnx.load(str(model_path), load_external_data=False).graph
    except (OSError, ValueError, DecodeError):
        return None
    for tensor in graph.input:
        if tensor.name == SRC:
            return frame_size_of([dim.dim_value if dim.HasField("dim_value") else None
                                  for dim in tensor.type.tensor_type.shape.dim])
    return None


def frame_size_of(shape: Sequence[object]) -> tuple[int, int] | None:
    """(width, height) from an NCHW shape whose last two sides are numbers, else None (a side
    named by a symbol, as ONNX Runtime reports a free one, is not a number)."""
    dims = [dim if isinstance(dim, int) and dim > 0 else None for dim in shape]
    if len(dims) == 4 and dims[2] and dims[3]:
        return int(dims[3]), int(dims[2])
    return None

"""An RVM graph that stops short of its full-resolution step, which rtmatte runs on the host.

The released graph ends with the last step of the deep guided filter: upsample two per-pixel
linear maps (gain and offset, four channels each) from the network's working size to the frame,
apply them to the frame and clamp. That step is a dozen passes over full-size planar tensors; on
a 2-core CPU at 1920x1080 it took 70 of ONNX Runtime's 249 ms per frame. The coarse graph made
here outputs the two small maps in place of the mattes, everything before them unchanged, and
:mod:`rtmatte.matting.backends.host_refine` applies them with OpenCV in a few interleaved passes.

The maps are found by the shape of the graph's end, which RVM's released graphs and rtmatte's
exports share: ``pha = Clip(Split(Add(Mul(Resize(gain), Concat(src, ReduceMean(src))),
Resize(offset)))[1])`` and ``fgr = Clip(Split(...)[0] + src)``. A graph that ends otherwise is
run whole. The coarse graph is cached beside the other derived model files.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from rtmatte.matting.models.derived import ensure_derived
from rtmatte.matting.models.fetch import models_home
from rtmatte.matting.rvm.tensors import FGR, PHA, SRC, STATE_OUTPUTS

if TYPE_CHECKING:  # the onnx package is imported only to build the graph (0.6 s of CPU a run)
    import onnx

#: bump when what the coarse graph holds changes, so cached ones are rebuilt
RECIPE = 1
GAIN, OFFSET = "gain", "offset"


def coarse_path(model_path: Path) -> Path:
    return models_home() / f"{Path(model_path).stem}.coarse.onnx"


def ensure_coarse(model_path: Path) -> Path | None:
    """The cached coarse graph of ``model_path``, built when missing or stale; None when the
    graph does not end in the guided filter rtmatte knows how to take over."""
    model_path = Path(model_path)
    target = coarse_path(model_path)
    try:
        return ensure_derived(model_path, target, RECIPE, _build)
    except _NotRecognised:
        return None


class _NotRecognised(Exception):
    """The graph's last step is not RVM's guided-filter upsampling."""


def _build(source: Path, target: Path) -> None:
    import onnx
    from onnx import helper

    try:
        model = onnx.load(str(source))
    except Exception as exc:  # protobuf's untyped errors: ONNX Runtime's loader then says why
        raise _NotRecognised from exc
    gain, offset = refiner_maps(model.graph)
    graph = model.graph
    states = [output for output in graph.output if output.name in STATE_OUTPUTS]
    if len(states) != len(STATE_OUTPUTS):
        raise _NotRecognised
    graph.node.extend([helper.make_node("Identity", [gain], [GAIN]),
                       helper.make_node("Identity", [offset], [OFFSET])])
    outputs = [helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)
               for name in (GAIN, OFFSET)] + states
    del graph.output[:]
    graph.output.extend(outputs)
    _prune(graph, [output.name for output in outputs])
    onnx.save(model, str(target))


def refiner_maps(graph: onnx.GraphProto) -> tuple[str, str]:
    """Names of the working-size gain and offset tensors the graph upsamples and applies."""
    producer = {name: node for node in graph.node for name in node.output}
    constants = _constants(graph)

    def made_by(name: str, op: str) -> onnx.NodeProto:
        node = producer.get(name)
        if node is None or node.op_type != op:
            raise _NotRecognised
        return node

    outputs = {output.name for output in graph.output}
    if not {FGR, PHA} <= outputs:
        raise _NotRecognised
    pha_clip = made_by(PHA, "Clip")
    split = made_by(pha_clip.input[0], "Split")
    if len(split.output) != 2 or pha_clip.input[0] != split.output[1]:
        raise _NotRecognised
    fgr_clip = made_by(FGR, "Clip")
    if sorted(made_by(fgr_clip.input[0], "Add").input) != sorted([split.output[0], SRC]):
        raise _NotRecognised
    for clip in (pha_clip, fgr_clip):
        if [constants.get(name) for name in clip.input[1:]] != [0.0, 1.0]:
            raise _NotRecognised
    applied = made_by(split.input[0], "Add")
    kinds = {producer[name].op_type: producer[name] for name in applied.input if name in producer}
    if set(kinds) != {"Mul", "Resize"}:
        raise _NotRecognised
    scaled, offset_up = kinds["Mul"], kinds["Resize"]
    factors = {producer[name].op_type: producer[name] for name in scaled.input
               if name in producer}
    if set(factors) != {"Resize", "Concat"} or not _is_frame_with_grey(factors["Concat"],
                                                                        producer):
        raise _NotRecognised
    gain_up = factors["Resize"]
    if not all(_is_bilinear(node) for node in (gain_up, offset_up)):
        raise _NotRecognised
    return gain_up.input[0], offset_up.input[0]


def _is_frame_with_grey(concat: onnx.NodeProto, producer: dict) -> bool:
    """``Concat(src, ReduceMean(src over channels))``: the frame plus its grey level."""
    if len(concat.input) != 2 or concat.input[0] != SRC:
        return False
    mean = producer.get(concat.input[1])
    return mean is not None and mean.op_type == "ReduceMean" and list(mean.input[:1]) == [SRC]


def _is_bilinear(resize: onnx.NodeProto) -> bool:
    """Linear with half-pixel centres, which is what OpenCV's INTER_LINEAR does."""
    from onnx import helper

    attributes = {a.name: helper.get_attribute_value(a) for a in resize.attribute}
    mode = attributes.get("mode", b"nearest")
    transform = attributes.get("coordinate_transformation_mode", b"half_pixel")
    return mode == b"linear" and transform in (b"half_pixel", b"pytorch_half_pixel")


def _constants(graph: onnx.GraphProto) -> dict[str, float]:
    """Scalar constants by name, from initialisers and Constant nodes (the clamp bounds)."""
    import onnx
    from onnx import helper

    found: dict[str, float] = {}
    tensors = [(t.name, t) for t in graph.initializer]
    tensors += [(node.output[0], helper.get_attribute_value(node.attribute[0]))
                for node in graph.node if node.op_type == "Constant" and node.attribute]
    for name, tensor in tensors:
        if isinstance(tensor, onnx.TensorProto):
            array = onnx.numpy_helper.to_array(tensor)
            if array.size == 1:
                found[name] = float(array.reshape(()))
    return found


def _prune(graph: onnx.GraphProto, keep: Iterable[str]) -> None:
    """Drop the nodes and weights nothing kept depends on (the full-resolution tail)."""
    producer = {name: node for node in graph.node for name in node.output}
    needed: set[int] = set()
    pending = list(keep)
    while pending:
        node = producer.get(pending.pop())
        if node is not None and id(node) not in needed:
            needed.add(id(node))
            pending.extend(node.input)
    nodes = [node for node in graph.node if id(node) in needed]
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for node in nodes for name in node.input}
    weights = [tensor for tensor in graph.initializer if tensor.name in used]
    del graph.initializer[:]
    graph.initializer.extend(weights)

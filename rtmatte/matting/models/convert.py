"""Weights for the PyTorch network, taken from the verified ONNX release (or a training checkpoint).

The released ONNX file is the one model file rtmatte fetches and checks, so the PyTorch backend
reads its weights from there instead of trusting a second download. Its convolutions appear in the
graph in the order :class:`~rtmatte.matting.rvm.network.MattingNetwork` runs them; each is matched
to the module by that order and checked by shape (and by name where the exporter kept one), so a
graph of another architecture is refused rather than loaded wrongly. The backbone (MobileNetV3 or
ResNet-50) is told apart by the number of convolutions, and afterwards by the weights' names.

Converting parses the whole graph, so it is done once and cached in the models folder as
``<stem>.pt`` with a ``<stem>.pt.json`` record (see :mod:`rtmatte.matting.models.derived`): a
new ONNX file or a truncated or edited ``.pt`` is rebuilt.
"""

from __future__ import annotations

from pathlib import Path

import onnx
import torch
from onnx import numpy_helper
from torch import nn

from rtmatte.errors import ModelError
from rtmatte.matting.models.derived import build_derived, ensure_derived
from rtmatte.matting.models.fetch import models_home
from rtmatte.matting.rvm.checkpoint import fold_batchnorm, has_batchnorm
from rtmatte.matting.rvm.network import VARIANTS, MattingNetwork, variant_of

#: bump when the layout of the converted state dict changes, so old caches are rebuilt
CACHE_FORMAT = 1
_LABELS = {"mobilenetv3": "MobileNetV3", "resnet50": "ResNet-50"}


def onnx_state_dict(onnx_path: Path) -> dict[str, torch.Tensor]:
    """Read the convolution weights of an RVM ONNX graph as a network state dict."""
    try:
        graph = onnx.load(str(onnx_path)).graph
    except Exception as exc:  # onnx raises protobuf's untyped errors for damaged files
        raise ModelError(f"cannot read ONNX model {onnx_path}: {exc}") from exc
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    conv_inputs: list[tuple[str, ...]] = []
    for node in graph.node:
        inputs = tuple(node.input[1:])
        if node.op_type == "Conv" and inputs not in conv_inputs:  # the box filter is reused
            conv_inputs.append(inputs)

    layouts = {
        variant: [(name, m) for name, m in MattingNetwork(variant).named_modules()
                  if isinstance(m, nn.Conv2d)]
        for variant in VARIANTS
    }
    convs = next((c for c in layouts.values() if len(c) == len(conv_inputs)), None)
    if convs is None:
        counts = " and ".join(f"RVM {_LABELS[v]} has {len(c)}" for v, c in layouts.items())
        raise ModelError(
            f"{onnx_path} has {len(conv_inputs)} distinct convolutions, where {counts}; the "
            "PyTorch backend only runs those architectures"
        )
    state: dict[str, torch.Tensor] = {}
    for (prefix, conv), inputs in zip(convs, conv_inputs, strict=True):
        params = [("weight", conv.weight), ("bias", conv.bias)]
        expected = [(part, p) for part, p in params if p is not None]
        if len(inputs) != len(expected) or any(name not in initializers for name in inputs):
            raise ModelError(f"{onnx_path}: convolution for {prefix} does not match the network")
        for (part, param), name in zip(expected, inputs, strict=True):
            key = f"{prefix}.{part}"
            array = numpy_helper.to_array(initializers[name])
            if tuple(array.shape) != tuple(param.shape) or not _names_agree(name, key):
                raise ModelError(
                    f"{onnx_path}: tensor {name} {tuple(array.shape)} does not fit {key} "
                    f"{tuple(param.shape)}; is this a released RVM model?"
                )
            state[key] = torch.from_numpy(array.copy())
    return state


def _names_agree(name: str, key: str) -> bool:
    """An initializer the exporter kept a module path for must carry this parameter's path
    (``rtmatte models export`` prefixes it with its wrapper's name); numbered ones can't say."""
    if not name.endswith((".weight", ".bias")):
        return True
    return name == key or name.endswith(f".{key}")


def convert_onnx(onnx_path: Path, out_path: Path) -> Path:
    """Convert ``onnx_path`` to a ``torch.save`` state dict at ``out_path`` plus its record."""
    return build_derived(onnx_path, out_path, CACHE_FORMAT, _save_state)


def cached_weights(onnx_path: Path) -> Path:
    """The converted weights of ``onnx_path`` in the models folder, (re)built when not valid."""
    onnx_path = Path(onnx_path)
    return ensure_derived(onnx_path, models_home() / f"{onnx_path.stem}.pt", CACHE_FORMAT,
                          _save_state)


def _save_state(onnx_path: Path, out_path: Path) -> None:
    torch.save(onnx_state_dict(onnx_path), out_path)


def load_network(model_path: Path, device: str | torch.device = "cpu") -> MattingNetwork:
    """An evaluation-mode network on ``device`` with the weights of ``model_path``.

    ``model_path`` is the released ONNX file (converted once, then cached), a state dict written
    by :func:`convert_onnx`, or an official training checkpoint (``.pth``), folded on load.
    """
    model_path = Path(model_path)
    weights = cached_weights(model_path) if model_path.suffix == ".onnx" else model_path
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises pickle, zip and runtime errors alike
        raise ModelError(f"cannot load weights {weights}: {str(exc).splitlines()[0]}") from exc
    if has_batchnorm(state):
        state = fold_batchnorm(state)
    variant = variant_of(state)
    network = MattingNetwork(variant)
    try:
        network.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelError(f"{weights} does not fit RVM {_LABELS[variant]}: {exc}") from exc
    return network.eval().requires_grad_(False).to(device)

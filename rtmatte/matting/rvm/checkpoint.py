"""Training checkpoints (``.pth``, with batch-norm tensors) mapped onto the inference form.

In a training checkpoint each folded convolution is followed by a batch-norm: ``P.i`` by ``P.(i+1)``
in sequential blocks, ``P.convK`` by ``P.bnK`` in the ResNet-50 encoder. In
:class:`~rtmatte.matting.rvm.MattingNetwork` that slot is an identity, so folding the norm's
affine map into the convolution's weight and bias gives exactly the keys the network expects.
Only the naming and the arithmetic are tested here: no official ``.pth`` could be fetched.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

_BN_PARTS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
#: the segmentation head is used in training only; inference never reads it
_UNUSED_PREFIXES = ("project_seg.",)


def _eps(norm: str) -> float:
    """MobileNetV3 is built with eps=1e-3 batch-norms, the rest of RVM with PyTorch's 1e-5."""
    return 1e-3 if norm.startswith("backbone.features.") else 1e-5


def _conv_of(norm: str) -> str:
    """The convolution a batch-norm follows: ``P.3`` -> ``P.2``, ``P.bn2`` -> ``P.conv2``."""
    parent, index = norm.rsplit(".", 1)
    if index.startswith("bn"):
        return f"{parent}.conv{index[2:]}"
    return f"{parent}.{int(index) - 1}"


def has_batchnorm(state: Mapping[str, torch.Tensor]) -> bool:
    return any(key.endswith(".running_var") for key in state)


def fold_batchnorm(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Return ``state`` with every batch-norm folded into the convolution that feeds it."""
    norms = {key.removesuffix(".running_var") for key in state if key.endswith(".running_var")}
    norm_keys = {f"{norm}.{part}" for norm in norms for part in _BN_PARTS}
    folded = {
        key: value for key, value in state.items()
        if key not in norm_keys and not key.startswith(_UNUSED_PREFIXES)
    }
    for norm in norms:
        conv = _conv_of(norm)
        weight = state[f"{conv}.weight"].double()
        bias = state.get(f"{conv}.bias", torch.zeros(weight.shape[0])).double()
        scale = state[f"{norm}.weight"].double() / torch.sqrt(
            state[f"{norm}.running_var"].double() + _eps(norm))
        folded[f"{conv}.weight"] = (weight * scale.view(-1, 1, 1, 1)).float()
        folded[f"{conv}.bias"] = (
            (bias - state[f"{norm}.running_mean"].double()) * scale + state[f"{norm}.bias"].double()
        ).float()
    return folded

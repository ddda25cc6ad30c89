"""MobileNetV3-Large feature encoder (Howard et al., 2019), as RVM uses it.

RVM keeps the classification trunk up to the last 1x1 convolution and taps four feature maps at
strides 2, 4, 8 and 16 for its decoder. The last stage trades its stride-2 step for dilation 2, so
the deepest features stay at 1/16 of the input and keep enough detail for hair and edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from rtmatte.matting.rvm.layers import conv_bn_act

#: ImageNet statistics the backbone was trained with; RVM feeds it normalised RGB.
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)
#: indices into ``features`` whose outputs feed the decoder (strides 2, 4, 8 and 16)
_TAPS = (1, 3, 6, 16)


@dataclass(frozen=True)
class _Stage:
    kernel: int
    expanded: int
    out: int
    squeeze_excite: bool
    hard_swish: bool
    stride: int
    dilation: int = 1


# Table 1 of the MobileNetV3 paper (Large), with the last three blocks dilated instead of strided.
_LARGE = (
    _Stage(3, 16, 16, False, False, 1),
    _Stage(3, 64, 24, False, False, 2),
    _Stage(3, 72, 24, False, False, 1),
    _Stage(5, 72, 40, True, False, 2),
    _Stage(5, 120, 40, True, False, 1),
    _Stage(5, 120, 40, True, False, 1),
    _Stage(3, 240, 80, False, True, 2),
    _Stage(3, 200, 80, False, True, 1),
    _Stage(3, 184, 80, False, True, 1),
    _Stage(3, 184, 80, False, True, 1),
    _Stage(3, 480, 112, True, True, 1),
    _Stage(3, 672, 112, True, True, 1),
    _Stage(5, 672, 160, True, True, 1, dilation=2),
    _Stage(5, 960, 160, True, True, 1, dilation=2),
    _Stage(5, 960, 160, True, True, 1, dilation=2),
)


def _round_to_8(value: float) -> int:
    """Channel counts rounded to a multiple of 8 (never more than 10% down), as the paper does."""
    rounded = max(8, int(value + 4) // 8 * 8)
    return rounded + 8 if rounded < 0.9 * value else rounded


class SqueezeExcite(nn.Module):
    """Channel attention: a global summary of the map re-weights its channels."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        squeezed = _round_to_8(channels / 4)
        self.fc1 = nn.Conv2d(channels, squeezed, 1)
        self.fc2 = nn.Conv2d(squeezed, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = F.adaptive_avg_pool2d(x, 1)
        scale = F.hardsigmoid(self.fc2(F.relu(self.fc1(scale))))
        return x * scale


class InvertedResidual(nn.Module):
    """Expand, filter depthwise, squeeze-excite (some blocks), project; skip when shapes match."""

    def __init__(self, in_channels: int, stage: _Stage) -> None:
        super().__init__()
        activation = nn.Hardswish if stage.hard_swish else nn.ReLU
        layers: list[nn.Module] = []
        if stage.expanded != in_channels:
            layers.append(nn.Sequential(
                *conv_bn_act(in_channels, stage.expanded, 1, activation=activation)))
        layers.append(nn.Sequential(*conv_bn_act(
            stage.expanded, stage.expanded, stage.kernel, stride=stage.stride,
            dilation=stage.dilation, groups=stage.expanded, activation=activation,
        )))
        if stage.squeeze_excite:
            layers.append(SqueezeExcite(stage.expanded))
        layers.append(nn.Sequential(*conv_bn_act(stage.expanded, stage.out, 1, activation=None)))
        self.block = nn.Sequential(*layers)
        self.residual = stage.stride == 1 and in_channels == stage.out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.residual else y


class MobileNetV3LargeEncoder(nn.Module):
    """Returns the feature maps at strides 2, 4, 8 and 16 (16, 24, 40 and 960 channels)."""

    channels = (16, 24, 40, 960)

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Sequential(*conv_bn_act(3, 16, 3, stride=2, activation=nn.Hardswish))
        ]
        in_channels = 16
        for stage in _LARGE:
            layers.append(InvertedResidual(in_channels, stage))
            in_channels = stage.out
        layers.append(nn.Sequential(*conv_bn_act(in_channels, 960, 1, activation=nn.Hardswish)))
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, rgb: torch.Tensor) -> list[torch.Tensor]:
        x = (rgb - self.mean) / self.std
        taps = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in _TAPS:
                taps.append(x)
        return taps

"""ResNet-50 feature encoder (He et al., 2016), RVM's larger and slower backbone.

RVM uses the standard ImageNet ResNet-50 (stride on the 3x3 convolution of each bottleneck) with
its last stage dilated instead of strided, so the deepest 2048-channel features stay at 1/16 of
the input like the MobileNetV3 encoder's. Unlike that encoder it takes the 0..1 RGB frame as it
is, without ImageNet normalisation: the released weights were trained that way.

Attribute names (``conv1``/``bn1`` … ``downsample``) are those of the training checkpoints, with
each batch-norm folded into the convolution before it and its slot left as an identity.
"""

from __future__ import annotations

import torch
from torch import nn

#: (bottleneck width, blocks, stride, dilate) of the four stages of ResNet-50
_STAGES = ((64, 3, 1, False), (128, 4, 2, False), (256, 6, 2, False), (512, 3, 2, True))
_EXPANSION = 4


def _conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
          dilation: int = 1) -> nn.Conv2d:
    padding = (kernel_size - 1) // 2 * dilation
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                     dilation=dilation, bias=True)


class Bottleneck(nn.Module):
    """1x1 squeeze, 3x3 filter (strided or dilated), 1x1 expand, plus the shortcut."""

    def __init__(self, in_channels: int, width: int, stride: int, dilation: int) -> None:
        super().__init__()
        out_channels = width * _EXPANSION
        self.conv1 = _conv(in_channels, width, 1)
        self.bn1 = nn.Identity()
        self.conv2 = _conv(width, width, 3, stride=stride, dilation=dilation)
        self.bn2 = nn.Identity()
        self.conv3 = _conv(width, out_channels, 1)
        self.bn3 = nn.Identity()
        self.relu = nn.ReLU()
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(_conv(in_channels, out_channels, 1, stride=stride),
                                            nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.conv1(x))
        y = self.relu(self.conv2(y))
        y = self.conv3(y)
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(y + shortcut)


class ResNet50Encoder(nn.Module):
    """Returns the feature maps at strides 2, 4, 8 and 16 (64, 256, 512 and 2048 channels)."""

    channels = (64, 256, 512, 2048)

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = _conv(3, 64, 7, stride=2)
        self.bn1 = nn.Identity()
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        in_channels, dilation = 64, 1
        for index, (width, blocks, stride, dilate) in enumerate(_STAGES, start=1):
            # A dilated stage keeps the resolution: its first block runs undilated and unstrided,
            # the following ones dilated by the stride given up.
            first_dilation = dilation
            if dilate:
                dilation, stride = dilation * stride, 1
            layers = [Bottleneck(in_channels, width, stride, first_dilation)]
            in_channels = width * _EXPANSION
            layers += [Bottleneck(in_channels, width, 1, dilation) for _ in range(blocks - 1)]
            self.add_module(f"layer{index}", nn.Sequential(*layers))

    def forward(self, rgb: torch.Tensor) -> list[torch.Tensor]:
        f1 = self.relu(self.conv1(rgb))
        f2 = self.layer1(self.maxpool(f1))
        f3 = self.layer2(f2)
        f4 = self.layer4(self.layer3(f3))
        return [f1, f2, f3, f4]

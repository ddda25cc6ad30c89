"""Lite R-ASPP head (from the MobileNetV3 paper), which RVM puts between encoder and decoder.

It squeezes the 960 deepest channels to 128 and gates them with a per-image global summary, a
cheap stand-in for full atrous spatial pyramid pooling that gives the decoder image-wide context.
"""

from __future__ import annotations

import torch
from torch import nn

from rtmatte.matting.rvm.layers import conv_bn_act


class LRASPP(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.aspp1 = nn.Sequential(*conv_bn_act(in_channels, out_channels, 1))
        self.aspp2 = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.aspp1(x) * self.aspp2(x)

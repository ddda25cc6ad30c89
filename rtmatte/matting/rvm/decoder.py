"""RVM's recurrent decoder (Lin et al., 2021, section 3.1).

Each of the four coarse scales keeps a ConvGRU memory of earlier frames. Only half of a block's
channels go through the GRU: the other half passes straight on, which the paper found enough for
temporal coherence at half the cost. The memories are plain tensors passed in and returned, so the
network stays a pure function of (frame, state) and exports to ONNX as such.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from rtmatte.matting.rvm.layers import conv_bn_act


class ConvGRU(nn.Module):
    """A GRU whose gates are 3x3 convolutions, so its memory is a feature map."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.ih = nn.Sequential(nn.Conv2d(channels * 2, channels * 2, 3, padding=1), nn.Sigmoid())
        self.hh = nn.Sequential(nn.Conv2d(channels * 2, channels, 3, padding=1), nn.Tanh())

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        # A first-frame state of shape (1, 1, 1, 1) broadcasts to zeros of the right size.
        h = h.expand_as(x)
        reset, update = self.ih(torch.cat([x, h], dim=1)).split(self.channels, dim=1)
        candidate = self.hh(torch.cat([x, reset * h], dim=1))
        return (1 - update) * h + update * candidate


class _HalfRecurrent(nn.Module):
    """Shared tail of the recurrent blocks: the GRU updates the second half of the channels."""

    gru: ConvGRU

    def _recur(self, x: torch.Tensor, r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        passthrough, recurrent = x.split(self.gru.channels, dim=1)
        r = self.gru(recurrent, r)
        return torch.cat([passthrough, r], dim=1), r


class BottleneckBlock(_HalfRecurrent):
    """Temporal memory on the LR-ASPP output (1/16 scale)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gru = ConvGRU(channels // 2)

    def forward(self, x: torch.Tensor, r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._recur(x, r)


def _upsample_to(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Double the size and crop to ``like``: odd sizes halve with rounding up on the way down."""
    x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
    return x[:, :, : like.shape[2], : like.shape[3]]


class UpsamplingBlock(_HalfRecurrent):
    """Upsample, merge the encoder skip and the downscaled image, convolve, then recur."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(*conv_bn_act(in_channels + skip_channels + 3, out_channels, 3))
        self.gru = ConvGRU(out_channels // 2)

    def forward(
        self, x: torch.Tensor, skip: torch.Tensor, image: torch.Tensor, r: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([_upsample_to(x, skip), skip, image], dim=1)
        return self._recur(self.conv(x), r)


class OutputBlock(nn.Module):
    """Back to the (downsampled) input resolution; no memory here, it would cost too much."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            *conv_bn_act(in_channels + 3, out_channels, 3),
            *conv_bn_act(out_channels, out_channels, 3),
        )

    def forward(self, x: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([_upsample_to(x, image), image], dim=1))


class RecurrentDecoder(nn.Module):
    """Turns the four encoder taps plus memories into a map at the input resolution.

    ``block_channels`` are the outputs of the three upsampling blocks and the output block, from
    coarse to fine: (80, 40, 32, 16) behind MobileNetV3, (128, 64, 32, 16) behind ResNet-50. The
    memories hold half of each block's channels: (16, 20, 40, 64) and (16, 32, 64, 128).
    """

    def __init__(self, skip_channels: tuple[int, int, int], aspp_channels: int,
                 block_channels: tuple[int, int, int, int]) -> None:
        super().__init__()
        f1, f2, f3 = skip_channels
        c3, c2, c1, c0 = block_channels
        self.decode4 = BottleneckBlock(aspp_channels)
        self.decode3 = UpsamplingBlock(aspp_channels, f3, c3)
        self.decode2 = UpsamplingBlock(c3, f2, c2)
        self.decode1 = UpsamplingBlock(c2, f1, c1)
        self.decode0 = OutputBlock(c1, c0)

    def forward(
        self,
        image: torch.Tensor,
        f1: torch.Tensor,
        f2: torch.Tensor,
        f3: torch.Tensor,
        f4: torch.Tensor,
        r1: torch.Tensor,
        r2: torch.Tensor,
        r3: torch.Tensor,
        r4: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        s1 = _half(image)
        s2 = _half(s1)
        s3 = _half(s2)
        x, r4 = self.decode4(f4, r4)
        x, r3 = self.decode3(x, f3, s3, r3)
        x, r2 = self.decode2(x, f2, s2, r2)
        x, r1 = self.decode1(x, f1, s1, r1)
        return self.decode0(x, image), r1, r2, r3, r4


def _half(x: torch.Tensor) -> torch.Tensor:
    """2x2 mean, rounding odd sizes up so each level lines up with the encoder's strided maps."""
    return F.avg_pool2d(x, 2, stride=2, ceil_mode=True, count_include_pad=False)

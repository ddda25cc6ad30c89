"""Building blocks shared by the encoder, the decoder and the refiner.

The released weights come with batch-norm already folded into the convolutions, so every
convolution here carries a bias and batch-norm is gone. Its slot is kept as an ``nn.Identity`` so
that layer indices (and hence state-dict keys) stay those of the trained network: a training
checkpoint then maps onto this module by folding each BN into the convolution just before it.
"""

from __future__ import annotations

from torch import nn


def conv_bn_act(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    stride: int = 1,
    dilation: int = 1,
    groups: int = 1,
    activation: type[nn.Module] | None = nn.ReLU,
) -> list[nn.Module]:
    """A "same"-padded convolution, its folded-away batch-norm slot and an optional activation."""
    padding = (kernel_size - 1) // 2 * dilation
    conv = nn.Conv2d(
        in_channels, out_channels, kernel_size, stride=stride, padding=padding,
        dilation=dilation, groups=groups, bias=True,
    )
    layers: list[nn.Module] = [conv, nn.Identity()]
    if activation is not None:
        layers.append(activation())
    return layers

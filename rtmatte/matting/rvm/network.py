"""The whole RVM network: encoder, LR-ASPP, recurrent decoder, projection and refiner.

The recurrent state is four tensors passed in and handed back, never kept on the module, so one
network can serve several streams and traces to ONNX as a pure function of (frame, state).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from rtmatte.matting.rvm.decoder import RecurrentDecoder
from rtmatte.matting.rvm.lraspp import LRASPP
from rtmatte.matting.rvm.mobilenetv3 import MobileNetV3LargeEncoder
from rtmatte.matting.rvm.refiner import DeepGuidedFilterRefiner
from rtmatte.matting.rvm.resnet import ResNet50Encoder

State = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]

#: the released backbones: encoder, LR-ASPP width, decoder block widths (coarse to fine)
VARIANTS = {
    "mobilenetv3": (MobileNetV3LargeEncoder, 128, (80, 40, 32, 16)),
    "resnet50": (ResNet50Encoder, 256, (128, 64, 32, 16)),
}


def variant_of(state: Mapping[str, torch.Tensor]) -> str:
    """Which backbone a state dict (converted or training) belongs to, from its tensor names."""
    return "resnet50" if "backbone.conv1.weight" in state else "mobilenetv3"


class Projection(nn.Module):
    """1x1 convolution from the decoder's 16 channels to foreground residual (3) and alpha (1)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class MattingNetwork(nn.Module):
    """RVM in its inference form (batch-norm folded away), with either released backbone:
    ``mobilenetv3`` (MobileNetV3-Large, the real-time one) or ``resnet50``.

    Submodules are registered in the order they run, which is the order their convolutions appear
    in the released ONNX graph; :mod:`rtmatte.matting.models.convert` relies on that to map weights.
    """

    def __init__(self, variant: str = "mobilenetv3") -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown RVM variant '{variant}'; known: {', '.join(VARIANTS)}")
        encoder, aspp_channels, block_channels = VARIANTS[variant]
        self.variant = variant
        self.backbone = encoder()
        f1, f2, f3, f4 = self.backbone.channels
        self.aspp = LRASPP(f4, aspp_channels)
        self.decoder = RecurrentDecoder((f1, f2, f3), aspp_channels, block_channels)
        self.project_mat = Projection(block_channels[-1], 4)
        self.refiner = DeepGuidedFilterRefiner(block_channels[-1])

    def forward(
        self,
        src: torch.Tensor,
        r1: torch.Tensor,
        r2: torch.Tensor,
        r3: torch.Tensor,
        r4: torch.Tensor,
        downsample_ratio: float = 1.0,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Matte one batch of frames ``src`` (N, 3, H, W) in 0..1.

        The first frame of a clip takes zeros of shape (1, 1, 1, 1) as its states. The refiner
        runs at every ratio, 1.0 included, as it does in the released ONNX graph, so both
        backends give the same matte for the same settings.
        """
        # The ONNX graph takes the ratio as float32; rounding it the same way gives the same
        # downsampled size and sampling grid.
        ratio = float(np.float32(downsample_ratio))
        small = src
        if ratio != 1.0:
            small = F.interpolate(src, scale_factor=ratio, mode="bilinear", align_corners=False,
                                  recompute_scale_factor=False)
        f1, f2, f3, f4 = self.backbone(small)
        hidden, r1, r2, r3, r4 = self.decoder(small, f1, f2, f3, self.aspp(f4), r1, r2, r3, r4)
        fgr_residual, pha = self.project_mat(hidden).split([3, 1], dim=1)
        fgr_residual, pha = self.refiner(src, small, fgr_residual, pha, hidden)
        fgr = (fgr_residual + src).clamp(0.0, 1.0)
        return fgr, pha.clamp(0.0, 1.0), r1, r2, r3, r4

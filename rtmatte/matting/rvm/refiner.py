"""Deep guided filter refiner (Wu et al., 2018), which RVM uses for high-resolution output.

The network runs on a downsampled frame. Rather than upsample its coarse alpha and foreground, the
refiner fits, in each small window of the coarse frame, a local linear map from image colour to
output; those maps are smooth, so they upsample well, and applying them to the full-resolution
image brings back edges (hair) at the cost of a few cheap convolutions.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from rtmatte.matting.rvm.layers import conv_bn_act


class DeepGuidedFilterRefiner(nn.Module):
    def __init__(self, hidden_channels: int = 16) -> None:
        super().__init__()
        # Guide and target are each RGB plus one extra channel (grey guide, alpha target). The
        # window average is learned per channel rather than a fixed box.
        self.box_filter = nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False)
        self.conv = nn.Sequential(
            *conv_bn_act(4 * 2 + hidden_channels, hidden_channels, 1),
            *conv_bn_act(hidden_channels, hidden_channels, 1),
            nn.Conv2d(hidden_channels, 4, 1),
        )

    def forward(
        self,
        fine_src: torch.Tensor,
        base_src: torch.Tensor,
        base_fgr: torch.Tensor,
        base_pha: torch.Tensor,
        base_hid: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        fine_x = _with_grey(fine_src)
        base_x = _with_grey(base_src)
        base_y = torch.cat([base_fgr, base_pha], dim=1)

        mean_x = self.box_filter(base_x)
        mean_y = self.box_filter(base_y)
        cov_xy = self.box_filter(base_x * base_y) - mean_x * mean_y
        var_x = self.box_filter(base_x * base_x) - mean_x * mean_x

        gain = self.conv(torch.cat([cov_xy, var_x, base_hid], dim=1))
        offset = mean_y - gain * mean_x
        size = (fine_src.shape[2], fine_src.shape[3])
        gain = F.interpolate(gain, size=size, mode="bilinear", align_corners=False)
        offset = F.interpolate(offset, size=size, mode="bilinear", align_corners=False)
        fine_fgr, fine_pha = (gain * fine_x + offset).split([3, 1], dim=1)
        return fine_fgr, fine_pha


def _with_grey(rgb: torch.Tensor) -> torch.Tensor:
    return torch.cat([rgb, rgb.mean(dim=1, keepdim=True)], dim=1)

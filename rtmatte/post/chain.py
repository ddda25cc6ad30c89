"""The ordered list of post-processing steps applied to each matte."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from rtmatte.matting.matter import Matte


@dataclass
class PostSettings:
    """Which post-processing runs. ``enabled=False`` (``--post none``) leaves the model's matte
    untouched, so it can be compared with a direct run of the model."""

    enabled: bool = True


class PostStep(Protocol):
    def reset(self) -> None:
        """Forget temporal memory (a new clip or shot starts)."""

    def __call__(self, rgb: np.ndarray, matte: Matte) -> Matte:
        """Refine ``matte`` of the frame ``rgb``."""


class PostChain:
    def __init__(self, steps: Sequence[PostStep] = ()) -> None:
        self.steps = list(steps)

    def reset(self) -> None:
        for step in self.steps:
            step.reset()

    def __call__(self, rgb: np.ndarray, matte: Matte) -> Matte:
        for step in self.steps:
            matte = step(rgb, matte)
        return matte


def build_post(settings: PostSettings) -> PostChain:
    """The chain the settings ask for (empty when post-processing is off)."""
    if not settings.enabled:
        return PostChain()
    return PostChain()

"""The ordered list of post-processing steps applied to each matte."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from rtmatte.errors import SettingsError
from rtmatte.post.grow import EdgeMover
from rtmatte.post.hard import HardCut
from rtmatte.post.keep import KeepPerson, parse_keep
from rtmatte.post.refine import GuidedRefiner
from rtmatte.post.shape import EdgeShaper
from rtmatte.post.temporal import TemporalSmoother
from rtmatte.types import Matte


@dataclass
class PostSettings:
    """Which post-processing runs, and how. ``enabled=False`` (``--post none``) leaves the
    model's matte untouched, so it can be compared with a direct run of the model.

    The defaults are the best balance measured with ``tools/eval.py`` (see docs/quality.md).
    ``light_wrap``, ``decontaminate``, ``despill`` and ``harmonize`` belong to the compositor:
    they change the picture, never alpha, so they are not switched off by ``enabled=False``.
    """

    enabled: bool = True
    temporal: bool = True
    temporal_strength: float = 0.8
    temporal_motion: float = 8.0
    refine: bool = False
    refine_radius: int = 8
    refine_eps: float = 1e-3
    keep: str = "all"
    keep_memory: int = 150
    erode: int = 0
    grow: float = 0.0
    shrink: float = 0.0
    feather: float = 0.0
    hard: bool = False
    hard_low: float = 0.35
    hard_high: float = 0.75
    light_wrap: float = 0.0
    decontaminate: bool = True
    despill: bool = False
    harmonize: float = 0.0

    def validate(self) -> PostSettings:
        """Refuse values the steps cannot honour, naming the setting, instead of odd output."""
        checks = [
            (0.0 <= self.temporal_strength <= 0.95, "temporal_strength must be in [0, 0.95]"),
            (self.temporal_motion > 0, "temporal_motion must be above 0"),
            (1 <= self.refine_radius <= 64, "refine_radius must be 1-64 pixels"),
            (self.refine_eps > 0, "refine_eps must be above 0"),
            (1 <= self.keep_memory <= 100_000, "keep_memory must be 1-100000 frames"),
            (abs(self.erode) <= 64, "erode must be within ±64 pixels"),
            (0.0 <= self.grow <= 64 and 0.0 <= self.shrink <= 64,
             "grow and shrink must be 0-64 pixels"),
            (not (self.grow and self.shrink), "grow or shrink, not both"),
            (0.0 <= self.feather <= 32, "feather must be 0-32 pixels"),
            (0.0 < self.hard_low < self.hard_high < 1.0, "need 0 < hard_low < hard_high < 1"),
            (0.0 <= self.light_wrap <= 1.0, "light_wrap must be in [0, 1]"),
            (0.0 <= self.harmonize <= 1.0, "harmonize must be in [0, 1]"),
        ]
        for ok, message in checks:
            if not ok:
                raise SettingsError(f"post: {message}")
        parse_keep(self.keep)
        return self


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

    def finish(self) -> None:
        """The clip is over: a step that can only judge the whole of it (``--keep X,Y`` where
        nobody ever appeared) raises here, before the output is committed."""
        for step in self.steps:
            finish = getattr(step, "finish", None)
            if finish is not None:
                finish()


def build_post(settings: PostSettings) -> PostChain:
    """The chain the settings ask for (empty when post-processing is off).

    Order matters: refinement comes first so the smoothing also calms the shimmer it adds
    (a guided filter follows sensor noise in the guide); choosing whom to keep works on that
    calmer matte; the erode, cut and feather come last because they decide the final look of
    the kept person's edge.
    """
    if not settings.enabled:
        return PostChain()
    steps: list[PostStep] = []
    if settings.refine:
        steps.append(GuidedRefiner(settings.refine_radius, settings.refine_eps))
    if settings.temporal and settings.temporal_strength > 0:
        steps.append(TemporalSmoother(settings.temporal_strength, settings.temporal_motion))
    keep = parse_keep(settings.keep)
    if not keep.everyone:
        steps.append(KeepPerson(keep, settings.keep_memory))
    if settings.erode:
        steps.append(EdgeShaper(erode=settings.erode))
    if settings.grow or settings.shrink:
        steps.append(EdgeMover(settings.grow or -settings.shrink))
    if settings.hard:
        steps.append(HardCut(settings.hard_low, settings.hard_high))
    if settings.feather > 0:
        steps.append(EdgeShaper(feather=settings.feather))
    return PostChain(steps)

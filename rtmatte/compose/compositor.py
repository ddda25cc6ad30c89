"""Putting the matted subject onto its new background."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from rtmatte.compose.backgrounds import Background
from rtmatte.compose.edges import SoftEdge, composite, decontaminate, light_wrap
from rtmatte.compose.harmonize import Harmonizer
from rtmatte.compose.spill import despill
from rtmatte.types import Frame, Matte


class EdgeTreatment(Protocol):
    """The compositing switches; the ``[post]`` settings carry them beside the matte steps
    because users tune them together, but compositing needs nothing else from there."""

    decontaminate: bool
    despill: bool
    light_wrap: float
    harmonize: float


@dataclass(frozen=True)
class Edges:
    decontaminate: bool = True
    despill: bool = False
    light_wrap: float = 0.0
    harmonize: float = 0.0


class Compositor:
    """Blends the model's foreground colours over a background, or emits RGBA when transparent.

    The model's ``fgr`` is used rather than the camera pixels: at hair and other soft edges the
    camera pixels still hold the old background's colour, which would show as a fringe.
    ``edges`` adds edge decontamination or despill (what the model's ``fgr`` still holds of
    the old background), light wrap and harmonization; none changes alpha.
    """

    def __init__(self, background: Background | None, edges: EdgeTreatment | None = None) -> None:
        self.background = background
        self.edges = edges or Edges()
        self._harmonize = Harmonizer(self.edges.harmonize)

    @property
    def transparent(self) -> bool:
        return self.background is None

    def __call__(self, frame: Frame, matte: Matte) -> np.ndarray:
        alpha = np.ascontiguousarray(matte.alpha, dtype=np.float32)
        edge = SoftEdge(alpha, clear=self.transparent)
        foreground = matte.fgr
        if self.edges.despill:  # the exact form of decontamination: one or the other
            foreground = despill(frame.rgb, foreground, alpha)
        elif self.edges.decontaminate:
            foreground = decontaminate(foreground, edge)
        if self.background is None:
            return to_rgba(foreground, alpha)
        backdrop = self.background.render(frame, alpha)
        if self.edges.harmonize > 0:
            foreground = self._harmonize(foreground, alpha, backdrop)
        picture = composite(foreground, backdrop, edge)
        if self.edges.light_wrap > 0:
            lit = picture.astype(np.float32)
            light_wrap(lit, backdrop, alpha, self.edges.light_wrap)
            picture = np.clip(lit + 0.5, 0, 255).astype(np.uint8)
        return picture


def to_rgba(foreground: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Straight (not premultiplied) uint8 RGBA from uint8 foreground and float alpha in [0, 1]."""
    return cv2.merge([*cv2.split(foreground), cv2.convertScaleAbs(alpha, alpha=255.0)])

"""Scores for the edge tools: grow/shrink on alpha, despill and the blur background on pictures.

Alpha is scored as everywhere else (MAD ×1e3, Grad ×1e-3). The pictures are scored against
the composite the truth gives, ``alpha * F + (1 - alpha) * B``, with the clip's exact alpha and
foreground colours over the same new background:

* **spill**: the mean colour error (0-255, mean over R, G, B) of the composite on the true
  edge (true alpha strictly between 0.02 and 0.98), on a saturated colour background that shows
  any leftover of the old one.
* **halo**: the mean colour error with ``--bg blur`` in a ring round the person (true alpha
  under 0.01, within 3 % of the frame's long side of them), against the same blur made from the
  clean background and the true alpha: what a blurred background shows of the person around
  them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from rtmatte.compose.backgrounds import BlurBackground, ColourBackground
from rtmatte.compose.compositor import Compositor
from rtmatte.evaluation.material import CLIPS, EDGE_CLIPS, ClipFrame, PersonLayer, render_clip
from rtmatte.evaluation.metrics import grad, mad
from rtmatte.matting.matter import Matter
from rtmatte.post import PostSettings, build_post
from rtmatte.types import Frame, Matte

#: the new background spill is measured on: far in colour from every clip's old background
SPILL_BACKGROUND = (40, 150, 90)
_RING = 0.03


@dataclass(frozen=True)
class EdgeVariant:
    name: str
    post: PostSettings


def _truth_composite(frame: ClipFrame, backdrop: np.ndarray) -> np.ndarray:
    alpha = frame.alpha[..., None]
    return frame.fgr * 255.0 * alpha + backdrop.astype(np.float32) * (1.0 - alpha)


def _colour_error(picture: np.ndarray, truth: np.ndarray, where: np.ndarray) -> float:
    return float(np.abs(picture[where].astype(np.float32) - truth[where]).mean())


def score_edges(matter: Matter, layer: PersonLayer, variants: Sequence[EdgeVariant],
                clips: Sequence[str], frames: int,
                size: tuple[int, int]) -> dict[str, dict[str, float]]:
    """MAD, Grad, spill and halo per variant, each the mean over the clips' frames."""
    sums: dict[str, dict[str, list[float]]] = {v.name: {} for v in variants}
    ring_px = max(2, round(_RING * max(size)))
    ring_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * ring_px + 1,) * 2)
    for clip in clips:
        chains = {v.name: build_post(v.post) for v in variants}
        colour = {v.name: Compositor(ColourBackground(SPILL_BACKGROUND), v.post) for v in variants}
        blur = {v.name: Compositor(BlurBackground(), v.post) for v in variants}
        matter.reset()
        spec = EDGE_CLIPS.get(clip) or CLIPS[clip]
        for index, frame in enumerate(render_clip(spec, layer, frames, size)):
            raw = matter(frame.rgb)
            shown = Frame(rgb=frame.rgb, index=index)
            edge = (frame.alpha > 0.02) & (frame.alpha < 0.98)
            near = cv2.dilate((frame.alpha >= 0.01).astype(np.uint8), ring_kernel) > 0
            ring = near & (frame.alpha < 0.01)
            # the same blur of the clean background with the true hole: all that differs is
            # what the person's own colour and the matte's errors put into the blur
            clean_blur = BlurBackground().render(Frame(rgb=frame.scene, index=index), frame.alpha)
            solid_truth = _truth_composite(frame, colour[variants[0].name].background.render(
                shown, frame.alpha))
            blur_truth = _truth_composite(frame, clean_blur)
            for variant in variants:
                matte: Matte = chains[variant.name](frame.rgb, raw)
                scores = sums[variant.name]
                scores.setdefault("mad", []).append(mad(matte.alpha, frame.alpha))
                scores.setdefault("grad", []).append(grad(matte.alpha, frame.alpha))
                if edge.any():
                    picture = colour[variant.name](shown, matte)
                    scores.setdefault("spill", []).append(
                        _colour_error(picture, solid_truth, edge))
                if ring.any():
                    picture = blur[variant.name](shown, matte)
                    scores.setdefault("halo", []).append(_colour_error(picture, blur_truth, ring))
    return {name: {key: float(np.mean(values)) for key, values in scores.items()}
            for name, scores in sums.items()}

"""Runs the model once per clip and scores any number of post-processing variants on it.

The post chain never feeds back into the model (RVM's recurrent state only sees its own output),
so one model pass serves every variant: comparisons are of the same mattes, and cheap.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rtmatte.compose.backgrounds import ColourBackground
from rtmatte.compose.compositor import Compositor
from rtmatte.evaluation.material import CLIPS, PersonLayer, render_clip
from rtmatte.evaluation.metrics import ClipScores, image_scores
from rtmatte.evaluation.report import side_by_side, write_png
from rtmatte.matting.matter import Matter
from rtmatte.post import PostSettings, build_post
from rtmatte.types import Frame

#: the new background of the saved composites: a saturated colour shows any halo of the old one
SHOWCASE_BACKGROUND = (40, 150, 90)


@dataclass
class Variant:
    """A named post-processing configuration to score."""

    name: str
    post: PostSettings


@dataclass
class EvalResult:
    """Scores per variant and clip (the mean over frames), plus the run's parameters."""

    size: tuple[int, int]
    frames: int
    clips: list[str]
    scores: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    post_ms: dict[str, float] = field(default_factory=dict)
    images: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)

    def overall(self, variant: str) -> dict[str, float]:
        """Each metric averaged over the clips (every clip weighs the same)."""
        per_clip = self.scores[variant].values()
        names = sorted({name for clip in per_clip for name in clip})
        return {name: float(np.mean([c[name] for c in per_clip if name in c])) for name in names}

    def as_dict(self) -> dict:
        return {
            "size": list(self.size), "frames": self.frames, "clips": self.clips,
            "scales": "MAD, MSE ×1e3; Grad, Conn ×1e-3; dtSSD ×1e2; flicker ×1e3",
            "variants": {name: {"clips": clips, "overall": self.overall(name),
                                "post_ms_per_frame": self.post_ms.get(name)}
                         for name, clips in self.scores.items()},
            "images": self.images,
        }


def evaluate_clips(
    matter: Matter, layer: PersonLayer, variants: Sequence[Variant], clips: Sequence[str],
    frames: int, size: tuple[int, int], save_frames: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> EvalResult:
    """Score every variant on every clip; optionally write input | alpha | composite PNGs."""
    result = EvalResult(size=size, frames=frames, clips=list(clips))
    post_seconds = dict.fromkeys((v.name for v in variants), 0.0)
    for clip in clips:
        spec = CLIPS[clip]
        chains = {v.name: build_post(v.post) for v in variants}
        scores = {v.name: ClipScores() for v in variants}
        compositors = {v.name: Compositor(ColourBackground(SHOWCASE_BACKGROUND), v.post)
                       for v in variants}
        matter.reset()
        for index, frame in enumerate(render_clip(spec, layer, frames, size)):
            raw = matter(frame.rgb)
            for variant in variants:
                started = time.perf_counter()
                matte = chains[variant.name](frame.rgb, raw)
                post_seconds[variant.name] += time.perf_counter() - started
                scores[variant.name].add(matte.alpha, frame.alpha, frame.static)
                if save_frames is not None:
                    picture = compositors[variant.name](Frame(rgb=frame.rgb, index=index), matte)
                    write_png(save_frames / variant.name / clip / f"{index:04d}.png",
                              side_by_side(frame.rgb, matte.alpha, picture))
        for variant in variants:
            result.scores.setdefault(variant.name, {})[clip] = scores[variant.name].summary()
        if progress:
            progress(f"{clip}: done")
    total = max(1, frames * len(clips))
    result.post_ms = {name: 1000.0 * s / total for name, s in post_seconds.items()}
    return result


def evaluate_images(
    matter: Matter, variants: Sequence[Variant],
    pairs: Iterable[tuple[str, np.ndarray, np.ndarray]],
) -> dict[str, dict[str, dict[str, float]]]:
    """Single-image scores (MAD, MSE, Grad, Conn) per variant for (name, rgb, true alpha)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name, rgb, true in pairs:
        matter.reset()
        raw = matter(rgb)
        for variant in variants:
            matte = build_post(variant.post)(rgb, raw)
            out.setdefault(variant.name, {})[name] = image_scores(matte.alpha, true)
    return out

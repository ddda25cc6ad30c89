"""The live path's person crop in ``rtmatte bench``: what it costs and what it buys, measured.

A webcam-framed clip whose alpha is known exactly (:data:`~rtmatte.evaluation.material.
WEBCAM_SHELVES`, rendered in memory at the bench's size, before a background made here so that
the base install measures it too) is matted frame by frame through the live
path's own pacer (:meth:`~rtmatte.run.engine.Engine.live`) twice, with the crop and without, at
the same working pixels: the model on every frame, no adaptation (so the mattes do not depend on
how busy the machine is), one working size, :data:`INTERNAL` px on the whole frame's long side.
The cost is the pacer's time per frame, scout runs included; the benefit is MAD and dtSSD
against the exact alpha. The two passes take turns in the bench's interleaved rounds, like its
other figures, and the median of the rounds is kept.

This module measures and returns :class:`LiveCrop`; :mod:`rtmatte.bench.livecropreport`
writes it out.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rtmatte.evaluation.material import WEBCAM_SHELVES, render_clip
from rtmatte.evaluation.metrics import ClipScores
from rtmatte.evaluation.variants import load_person_layer
from rtmatte.matting.adaptive import LivePacer
from rtmatte.run.engine import Engine, open_matter
from rtmatte.settings import Settings

#: the working size compared, long side of the whole frame in px: what 2 cores afford live at
#: 30 fps (256x144 at 16:9, issue 21); the crop gets the same number of working pixels
INTERNAL = 256
#: frames each way is run on before the rounds: the whole frame, the crop's picture size and the
#: scout (on the 4th model run) each meet the engine once, which plans or compiles per size
WARMUP_FRAMES = 6
#: the pacer's frame budget; with adaptation off it moves nothing
_BUDGET_S = 1 / 30


@dataclass(frozen=True)
class Way:
    """One way of matting the clip: the crop or the whole frame."""

    name: str
    #: the pacer's mean time per frame over the clip (the median of the rounds): the model, the
    #: crop's resizing and pasting, the scout's runs and the post chain
    ms_per_frame: float
    mad: float  #: ×1e3 against the exact alpha, mean over the frames
    dtssd: float  #: ×1e2, mean over the frames after the first
    share: float  #: the mean share of the frame the model looked at (1.0: the whole frame)
    scout_runs: int  #: the scout's whole-frame looks in one pass over the clip


@dataclass
class LiveCrop:
    """The crop against the whole frame on one clip; ``off`` says why there are no figures."""

    size: tuple[int, int]
    frames: int
    clip: str
    internal: int
    ratio: float
    backend: str
    post: bool
    off: str | None = None
    crop: Way | None = None
    whole: Way | None = None
    rounds: int = 0

    def _ratio(self, name: str) -> float | None:
        if self.crop is None or self.whole is None:
            return None
        whole = getattr(self.whole, name)
        return getattr(self.crop, name) / whole if whole else None

    @property
    def ratios(self) -> dict[str, float | None]:
        """crop / whole for time, MAD and dtSSD: below 1 the crop is cheaper or better."""
        return {"time": self._ratio("ms_per_frame"), "mad": self._ratio("mad"),
                "dtssd": self._ratio("dtssd")}

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["size"] = f"{self.size[0]}x{self.size[1]}"
        data["ratios"] = {name: None if value is None else round(value, 3)
                          for name, value in self.ratios.items()}
        return data


@dataclass
class _Pass:
    times_ms: list[float] = field(default_factory=list)
    scores: ClipScores | None = None
    share: float = 0.0
    scout_runs: int = 0


class CropBench:
    """The two ways, ready to be run round by round beside the bench's other figures."""

    def __init__(self, settings: Settings, size: tuple[int, int], frames: int) -> None:
        """``settings``: the bench's (backend, device, precision, post chain); the crop's
        working size and live table are set here. The model loads and the clip is rendered
        now; where the crop cannot be measured, :attr:`off` says why and nothing loads."""
        width, height = size
        self.ratio = min(1.0, INTERNAL / max(width, height))
        live = dataclasses.replace(settings.live, adapt=False, matte_every=1, delay=0)
        self._settings = dataclasses.replace(settings, downsample_ratio=self.ratio, live=live)
        self.figures = LiveCrop(size, frames, WEBCAM_SHELVES.name, round(max(size) * self.ratio),
                                self.ratio, "", settings.post.enabled)
        matter = open_matter(self._settings, live=True)
        self.figures.backend = matter.backend.name
        if matter.backend.whole_frame_only is not None:
            self.figures.off = ("the crop is off here, the live path mattes the whole frame: "
                                f"{matter.backend.whole_frame_only}")
            return
        self._engines = {crop: Engine(dataclasses.replace(
            self._settings, live=dataclasses.replace(live, crop=crop)), matter)
            for crop in (True, False)}
        clip = render_clip(WEBCAM_SHELVES, load_person_layer(), frames, size)
        self._clip = [(frame.rgb, frame.alpha) for frame in clip]
        for crop in (True, False):
            self._pass(crop, self._clip[:WARMUP_FRAMES], scored=False)
        self._passes: dict[bool, list[_Pass]] = {True: [], False: []}

    @property
    def off(self) -> str | None:
        return self.figures.off

    def round(self) -> None:
        """One pass each way over the clip, the order alternating from round to round. The
        mattes do not depend on time (no adaptation), so the first round alone is scored."""
        first = not self._passes[True]
        order = (True, False) if len(self._passes[True]) % 2 == 0 else (False, True)
        for crop in order:
            self._passes[crop].append(self._pass(crop, self._clip, scored=first))

    def _pass(self, crop: bool, clip: list[tuple[np.ndarray, np.ndarray]],
              scored: bool) -> _Pass:
        pacer: LivePacer = self._engines[crop].live(_BUDGET_S)
        done = _Pass(scores=ClipScores() if scored else None)
        shares = []
        for rgb, truth in clip:
            began = time.perf_counter()
            alpha = pacer(rgb).alpha
            done.times_ms.append((time.perf_counter() - began) * 1000.0)
            shares.append(pacer.crop_share)
            if done.scores is not None:
                done.scores.add(alpha, truth, spatial=False)
        done.share = float(np.mean(shares))
        done.scout_runs = pacer.scout.runs if pacer.scout is not None else 0
        return done

    def result(self) -> LiveCrop:
        """The figures: each way's time is the median over the rounds of its mean per frame."""
        if self.off is None and self._passes[True]:
            self.figures.rounds = len(self._passes[True])
            self.figures.crop, self.figures.whole = (_way(name, self._passes[crop])
                                                     for name, crop in (("crop", True),
                                                                        ("whole frame", False)))
        return self.figures


def _way(name: str, passes: list[_Pass]) -> Way:
    scored = next(p for p in passes if p.scores is not None)
    summary = scored.scores.summary()
    return Way(name, statistics.median(statistics.fmean(p.times_ms) for p in passes),
               summary["mad"], summary.get("dtssd", float("nan")), scored.share,
               scored.scout_runs)


"""The figures every run reports, file or live: what it read and wrote, how many frames in how
many seconds, what ran the model at which ratio, and the time of each stage.

:class:`~rtmatte.run.offline.JobResult` (``api.process``, ``--stats``) and
:class:`~rtmatte.run.live.LiveResult` both are one of these, so a caller reads ``frames``,
``seconds``, ``fps``, ``backend`` and ``stages`` the same way from either; each adds what only
its kind of run has (audio and scene cuts; drops, latency and pacing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(kw_only=True)
class RunFigures:
    """The figures a file run and a live run share. Keyword-only, so each kind of run adds its
    own fields (with or without defaults) without reordering these."""

    input: str
    output: str
    #: image, video, chunk, seam (file runs) or live
    kind: str
    #: frames written (a live run: handed to the outputs)
    frames: int
    seconds: float
    #: what ran the model, e.g. ``openvino/CPU/bf16``
    backend: str
    downsample_ratio: float
    #: per stage, its timing (``StageTiming.as_dict``)
    stages: dict[str, Any] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

"""Mirror averaging: each frame is matted twice, as it is and mirrored left to right, and the
two mattes are averaged.

Why it helps: RVM's errors are not mirror-symmetric (its convolutions and recurrent state see a
person's left and right edges differently), while a person mirrored is still a person, so the
two runs err in part independently and their mean is closer to the truth. Measured on moving
clips (docs/quality.md) it lowers MAD and dtSSD by several per cent, for twice the model's time;
the ``quality`` preset turns it on.

The mirrored frames form a clip of their own, so they get a recurrent state of their own: a
second :class:`~rtmatte.matting.matter.Matter`, on a backend of its own (a backend may hand its
state back in buffers its next call overwrites, as PyTorch's CUDA graphs do, so two states must
not share one). Scene cuts are judged once, on the frames as they are, and reset both states.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from rtmatte.matting.backends import Backend
from rtmatte.matting.matter import AUTO_LONG_SIDE, Matter
from rtmatte.types import Matte


class MirrorMatter(Matter):
    """A :class:`Matter` whose mattes are the mean of the frame's and the mirrored frame's.

    Exactly mirror-equivariant: the matte of a clip mirrored is the matte of the clip, mirrored
    (the two runs swap roles and the mean does not depend on their order).
    """

    def __init__(self, backend: Backend, mirrored: Matter,
                 downsample_ratio: float | None = None, detect_cuts: bool = True,
                 auto_long_side: int = AUTO_LONG_SIDE) -> None:
        """``mirrored`` mattes the mirrored frames: the same model on a backend of its own, at
        the same ratio settings (the engine builds it, as it builds every Matter); its own cut
        detection is turned off, as cuts are judged here."""
        super().__init__(backend, downsample_ratio, detect_cuts, auto_long_side)
        mirrored.detect_cuts = False
        self._mirrored = mirrored

    def reset(self) -> None:
        super().reset()
        # built inside Matter.__init__ (which calls no reset), so present whenever reset runs
        if hasattr(self, "_mirrored"):
            self._mirrored.reset()

    def snapshot(self) -> tuple[Any, ...]:
        """Both recurrent states, for a cluster worker to carry on from (see :meth:`resume`)."""
        return (super().snapshot(), self._mirrored.snapshot())

    def resume(self, snapshot: tuple[Any, ...]) -> None:
        own, mirrored = snapshot
        super().resume(own)
        self._mirrored.resume(mirrored)

    def __call__(self, rgb: np.ndarray, ratio: float | None = None) -> Matte:
        cuts = self.cuts
        matte = super().__call__(rgb, ratio)
        if self.cuts != cuts:  # a scene cut seen on the frame itself starts both clips afresh
            self._mirrored.reset()
        other = self._mirrored(rgb[:, ::-1], ratio)
        alpha = matte.alpha + other.alpha[:, ::-1]
        alpha *= np.float32(0.5)
        fgr = cv2.addWeighted(matte.fgr, 0.5, np.ascontiguousarray(other.fgr[:, ::-1]), 0.5, 0.0)
        return Matte(alpha=alpha, fgr=fgr)

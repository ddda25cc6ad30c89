"""The state a chunk's worker hands to the next chunk's seam: what the model and the post chain
carry from one frame to the next, taken at one frame, saved to a file, and compared.

Two such states are compared where a chunk's own run (which began from a warm-up's guess) meets
the seam's run (which began from the previous chunk's real state): the recurrent tensors and
the last matte the post chain gave. When they agree within :data:`AGREE`, the chunk's own
frames from there on are what the unsplit run would give, to within what that gap lets through
(docs/scale.md measures it); when they do not, the seam writes the next piece again from the
real state and compares at the next mark.
"""

from __future__ import annotations

import os
import pickle
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rtmatte.errors import OutputError
from rtmatte.matting.matter import Matter
from rtmatte.post.chain import PostChain
from rtmatte.sinks.atomic import write_bytes

#: the largest mean absolute difference, over each recurrent tensor and the last alpha, at which
#: a chunk's own run is taken to have caught up with the real state. Measured on synthetic-motion
#: clips (docs/scale.md): gaps of 0.04-0.13 three to six seconds into a chunk's own run; where a
#: gap was at most 0.05 the chunk's later frames stayed within 4e-3 mean alpha of the unsplit
#: run's, while at 0.13 one was 8e-3 off
AGREE = 0.05


@dataclass
class Handoff:
    """The model's state (pickled), the post chain with its memory (pickled), and the last
    alpha the post chain gave (None before any frame)."""

    matter: bytes
    post: bytes
    alpha: np.ndarray | None

    @staticmethod
    def of_matter(matter: Matter) -> bytes:
        return pickle.dumps(matter.snapshot(), protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def of_post(post: PostChain) -> bytes:
        return pickle.dumps(post, protocol=pickle.HIGHEST_PROTOCOL)

    def save(self, path: Path) -> None:
        write_bytes(path, pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL))

    @staticmethod
    def load(path: Path) -> Handoff:
        """A state this run's workers saved into the run's own hidden folder. The file is a
        pickle, so it is read only from a folder this user owns and no one else may write in
        (the workers make it so), never from one another user could have planted."""
        folder = os.stat(Path(path).parent)
        if folder.st_uid != os.getuid() or folder.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise OutputError(f"{Path(path).parent} is not this user's own private folder; "
                              "move it away and run again")
        with open(path, "rb") as handle:
            handoff = pickle.load(handle)
        if not isinstance(handoff, Handoff):
            raise ValueError(f"{path} holds no chunk state")
        return handoff

    def restore(self, matter: Matter) -> PostChain:
        """Put ``matter`` at this state; returns the post chain to carry on with."""
        matter.resume(pickle.loads(self.matter))
        return self.post_chain()

    def post_chain(self) -> PostChain:
        """The post chain with its memory as it was at this state."""
        return pickle.loads(self.post)

    def gap(self, other: Handoff) -> float:
        """The largest mean absolute difference between the two states' recurrent tensors and
        last alphas; infinite where one has a state the other lacks (one of them was reset)."""
        ours, theirs = pickle.loads(self.matter)[0], pickle.loads(other.matter)[0]
        if ours is None or theirs is None:
            return 0.0 if ours is None and theirs is None else float("inf")
        pairs = list(zip(ours, theirs, strict=True))
        if self.alpha is not None and other.alpha is not None:
            pairs.append((self.alpha, other.alpha))
        elif (self.alpha is None) != (other.alpha is None):
            return float("inf")
        gaps = []
        for a, b in pairs:
            a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
            if a.shape != b.shape:
                return float("inf")
            gaps.append(float(np.abs(a - b).mean()))
        return max(gaps, default=0.0)

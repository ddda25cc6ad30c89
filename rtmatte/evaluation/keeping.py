"""Scores for ``--keep`` on crowd clips: is the right person kept, whole, and nobody else?

* **MAD** (×1e3) and **dtSSD** (×1e2) of the output against the kept person's own visible
  alpha, as for a single person.
* **others**: the mean alpha left on the other people, over the pixels that are clearly someone
  else's (their visible alpha over 0.5, the kept person's under 0.05), pooled over the clip.
  0 is perfect; ``--keep all`` leaves about 1.
* **switches**: how often the person the output mostly shows changes. Each frame's output
  alpha is shared out over the people by their visible alpha; the one with the most is the
  one shown (frames showing almost nobody do not count). 0 when the kept person stays kept.
* **wrong**: frames whose output mostly shows someone other than the target.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from rtmatte.evaluation.crowd import CROWDS, keep_spec, render_crowd
from rtmatte.evaluation.material import PersonLayer
from rtmatte.evaluation.metrics import dtssd, mad
from rtmatte.matting.matter import Matter
from rtmatte.post import PostSettings, build_post

#: a frame's output must hold this share of the frame's pixels (as alpha mass) on people before
#: its identity counts
_SHOWN = 0.002


@dataclass
class KeepScores:
    clip: str
    keep: str
    mad: float
    dtssd: float
    others: float
    switches: int
    wrong: int
    frames: int
    keep_ms: float = 0.0
    shown: list[int] = field(default_factory=list)
    others_all: float = float("nan")  # the same figure with --keep all, to compare

    def row(self) -> dict[str, float | int | str]:
        return {"clip": self.clip, "keep": self.keep, "mad": self.mad, "dtssd": self.dtssd,
                "others": self.others, "switches": self.switches, "wrong": self.wrong,
                "keep_ms": self.keep_ms, "others_keep_all": self.others_all}


def _shown(alpha: np.ndarray, people: Sequence[np.ndarray]) -> int | None:
    mass = [float((alpha * person).sum()) for person in people]
    if sum(mass) < _SHOWN * alpha.size:
        return None
    return int(np.argmax(mass))


def score_crowd(matter: Matter, layer: PersonLayer, clip: str, frames: int,
                size: tuple[int, int], post: PostSettings | None = None,
                keep: str | None = None) -> KeepScores:
    """Run ``clip`` through the model and the post chain with the clip's ``--keep`` rule (or
    ``keep``, e.g. ``"all"`` to see what keeping nobody out leaves).

    The rule is applied over ``post`` (default: the default settings); the time of the whole
    chain minus the same chain without keeping is the keep step's cost.
    """
    spec = CROWDS[clip]
    rendered = list(render_crowd(spec, layer, frames, size))
    rule = keep or keep_spec(spec, rendered[0])
    base = post or PostSettings()
    chain = build_post(PostSettings(**{**base.__dict__, "keep": rule}))
    plain = build_post(PostSettings(**{**base.__dict__, "keep": "all"}))
    matter.reset()
    mads, dts, shown = [], [], []
    on_others = covered = 0.0
    spent = 0.0
    previous: tuple[np.ndarray, np.ndarray] | None = None
    for frame in rendered:
        raw = matter(frame.rgb)
        started = time.perf_counter()
        plain(frame.rgb, raw)
        middle = time.perf_counter()
        out = chain(frame.rgb, raw).alpha
        spent += (time.perf_counter() - middle) - (middle - started)
        truth = frame.people[spec.target]
        mads.append(mad(out, truth))
        if previous is not None:
            dts.append(dtssd(out, previous[0], truth, previous[1]))
        previous = (out, truth)
        others = sum(p for i, p in enumerate(frame.people) if i != spec.target)
        theirs = (others > 0.5) & (truth < 0.05)
        on_others += float(out[theirs].sum())
        covered += float(theirs.sum())
        who = _shown(out, frame.people)
        if who is not None:
            shown.append(who)
    switches = sum(1 for a, b in pairwise(shown) if a != b)
    return KeepScores(
        clip=clip, keep=rule, mad=float(np.mean(mads)), dtssd=float(np.mean(dts)),
        others=on_others / max(covered, 1.0), switches=switches,
        wrong=sum(1 for who in shown if who != spec.target), frames=frames,
        keep_ms=1000.0 * spent / frames, shown=shown)

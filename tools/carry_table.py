"""The live ladder's trade, frame by frame: matte quality by working size and cadence, with the
frames between model runs carried forward (the default) or from both sides (``--delay``).

No real time here: the clip of ``tools/live_bench.py`` is fed frame by frame, the model (with the
default post chain) on every ``every``-th frame at a fixed size, and each frame's alpha scored
against its exact truth (MAD ×1e3, dtSSD ×1e2). The live ladders are ordered by these figures
(docs/live-cpu.md).

    python tools/carry_table.py --size 960x540 --rungs 480/1,384/3,320/3
"""

from __future__ import annotations

import argparse
import sys

from live_bench import CLIP, score  # tools/ is first on the path of a script run from it

from rtmatte import api
from rtmatte.argtypes import frame_size
from rtmatte.evaluation.material import render_clip
from rtmatte.evaluation.variants import load_person_layer
from rtmatte.matting.adaptive import LivePacer
from rtmatte.matting.carry import MotionCarry
from rtmatte.matting.ladder import Rung
from rtmatte.post import build_post
from rtmatte.settings import load_settings


def rung_scores(matter: LivePacer, frames: list, truth: list, internal: int,
                every: int) -> dict[str, dict[str, float]]:
    """Forward-carried and both-sides-carried scores for one (size, cadence)."""
    long_side = max(frames[0].shape[:2])
    input_long = min(long_side, 2 * internal)
    matter.start(frames[0].shape)
    assert matter.controller is not None
    matter.controller.rungs = [Rung(internal, input_long, internal / input_long, every)]
    matter.controller.index = 0
    matter.matter.reset()
    matter.post.reset()
    carry = MotionCarry()
    keys = {i: carry.keyframe(frames[i], matter.fresh_matte(frames[i]))
            for i in range(0, len(frames), every)}
    forward, both = [], []
    for index, rgb in enumerate(frames):
        before = index - index % every
        if index == before:
            alpha = keys[index].matte.alpha
            forward.append((index, alpha))
            both.append((index, alpha))
            continue
        grey = carry.grey(rgb)
        ahead = carry.carry(grey, keys[before]).alpha
        forward.append((index, ahead))
        after = keys.get(before + every)
        both.append((index, ahead if after is None else carry.between(
            grey, keys[before], after, (index - before) / every).alpha))
    return {"forward": score(forward, truth), "both sides": score(both, truth)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=frame_size, default=(960, 540))
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--rungs", default="480/1,480/2,480/3,480/4,384/3,320/3,256/3",
                        help="internal long side px / model on every Nth frame, comma-separated")
    args = parser.parse_args(argv)
    settings = load_settings()
    rendered = list(render_clip(CLIP, load_person_layer(), args.frames, args.size))
    frames, truth = [f.rgb for f in rendered], [f.alpha for f in rendered]
    matter = LivePacer(api.open_matter(settings), build_post(settings.post), 1 / 30,
                        adapt=False)
    print(f"# {args.size[0]}x{args.size[1]}, clip {CLIP.name}, {args.frames} frames; "
          "MAD / dtSSD, carried forward | from both sides")
    for spec in args.rungs.split(","):
        internal, every = (int(part) for part in spec.split("/"))
        result = rung_scores(matter, frames, truth, internal, every)
        print(f"{internal:>4} px every {every}: "
              + " | ".join(f"{s['mad']:.2f} / {s['dtssd']:.2f}" for s in result.values()),
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

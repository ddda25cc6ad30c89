"""ms per frame of --keep and the edge tools at a given size, on a real matte of a crowd clip.

    python tools/edge_bench.py                 # 1280x720
    python tools/edge_bench.py --size 1920x1080

Each step is timed alone on the same frames (median over the frames, after one warm-up), next
to the model's own time for the frame, so the cost reads against what it is added to.
"""

from __future__ import annotations

import argparse
import statistics
import time

import cv2

from rtmatte import api
from rtmatte.argtypes import frame_size
from rtmatte.compose.backgrounds import BlurBackground, ColourBackground
from rtmatte.compose.compositor import Compositor
from rtmatte.evaluation.crowd import CROWDS, render_crowd
from rtmatte.evaluation.variants import load_person_layer
from rtmatte.post import PostSettings, build_post
from rtmatte.types import Frame


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=frame_size, default=(1280, 720), metavar="WxH")
    parser.add_argument("--frames", type=int, default=24)
    args = parser.parse_args(argv)
    width, height = args.size
    matter = api.open_matter()
    crowd = render_crowd(CROWDS["walk-in"], load_person_layer(), args.frames, (512, 288))
    steps = {
        "keep center": build_post(PostSettings(temporal=False, keep="center")),
        "grow 2": build_post(PostSettings(temporal=False, grow=2.0)),
        "shrink 2": build_post(PostSettings(temporal=False, shrink=2.0)),
    }
    pictures = {
        "composite (default)": Compositor(ColourBackground((40, 150, 90)), PostSettings()),
        "composite --despill": Compositor(ColourBackground((40, 150, 90)),
                                          PostSettings(despill=True)),
        "composite --harmonize 0.3": Compositor(ColourBackground((40, 150, 90)),
                                                PostSettings(harmonize=0.3)),
        "blur background": Compositor(BlurBackground(), PostSettings()),
    }
    times: dict[str, list[float]] = {"model": []}
    for index, small in enumerate(crowd):
        rgb = cv2.resize(small.rgb, (width, height), interpolation=cv2.INTER_LINEAR)
        started = time.perf_counter()
        matte = matter(rgb)
        times["model"].append(time.perf_counter() - started)
        for name, chain in steps.items():
            started = time.perf_counter()
            chain(rgb, matte)
            times.setdefault(name, []).append(time.perf_counter() - started)
        frame = Frame(rgb=rgb, index=index)
        for name, compositor in pictures.items():
            started = time.perf_counter()
            compositor(frame, matte)
            times.setdefault(name, []).append(time.perf_counter() - started)
    print(f"ms per {width}x{height} frame (median of {args.frames - 1}):")
    for name, values in times.items():
        print(f"  {name:28s} {1000 * statistics.median(values[1:]):7.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The ONNX backend on the CPU with the guided filter's last step on the host, and without it.

    python tools/host_refine_bench.py --size 1920x1080 --ratio 0.25 --rounds 5

Both backends run the same frames of the sample portrait, interleaved round by round so a noisy
machine slows both alike; each round is the mean of a few frames with the state carried, and the
median round is shown.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from rtmatte.argtypes import frame_size
from rtmatte.matting.backends.onnx import OnnxBackend
from rtmatte.matting.models.fetch import ensure_model
from rtmatte.samples import clip_frame


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=frame_size, default=(1920, 1080), metavar="WxH")
    parser.add_argument("--ratio", type=float, default=0.25)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--frames", type=int, default=6, help="frames per round")
    args = parser.parse_args(argv)
    width, height = args.size
    model = ensure_model("rvm-mobilenetv3")
    backends = {"host step": OnnxBackend(model), "whole graph": OnnxBackend(model,
                                                                             host_refine=False)}
    frames = [clip_frame(index, args.frames, width, height) for index in range(args.frames)]
    rounds: dict[str, list[float]] = {name: [] for name in backends}
    for _ in range(args.rounds):
        for name, backend in backends.items():
            _, _, state = backend.infer(frames[0], backend.initial_state(), args.ratio)
            began = time.perf_counter()
            for rgb in frames:
                _, _, state = backend.infer(rgb, state, args.ratio)
            rounds[name].append((time.perf_counter() - began) / len(frames) * 1000.0)
    median = {name: statistics.median(values) for name, values in rounds.items()}
    print(f"{width}x{height} at ratio {args.ratio}, median of {args.rounds} interleaved rounds")
    for name, values in rounds.items():
        print(f"  {name:12} {median[name]:7.1f} ms  (rounds: "
              f"{', '.join(f'{v:.0f}' for v in values)})")
    print(f"  speed-up {median['whole graph'] / median['host step']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

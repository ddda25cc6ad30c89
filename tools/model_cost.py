"""What one model run costs at each live working size, on the whole frame: the figures behind
"What limits each size" in docs/live-cpu.md.

The sample person on the bench's bookshelves (``WEBCAM_SHELVES``) at each frame size, the
model through ``Matter`` on OpenVINO and ONNX Runtime, the frame shrunk to the working size's
picture first as the live ladder does; median and 90th percentile of the runs after the first
five (the engines plan or compile on the first). Run it on a quiet machine.

    python tools/model_cost.py
    python tools/model_cost.py --sizes 1280x720 --internal 480,384,320,256 --frames 40
"""

from __future__ import annotations

import argparse
import os
import time

import cv2
import numpy as np

from rtmatte.argtypes import frame_size
from rtmatte.evaluation.material import WEBCAM_SHELVES, render_clip
from rtmatte.evaluation.variants import load_person_layer
from rtmatte.matting.backends.onnx import OnnxBackend
from rtmatte.matting.backends.openvino import OpenVinoBackend
from rtmatte.matting.matter import Matter
from rtmatte.matting.models.fetch import ensure_model

#: runs left out of the figures: the engines plan memory or compile on the first ones
WARMUP = 5


def cost_ms(matter: Matter, frames: list[np.ndarray], picture: tuple[int, int],
            ratio: float) -> tuple[float, float]:
    """Median and 90th percentile of one run (shrink included) in ms."""
    times = []
    for frame in frames:
        began = time.perf_counter()
        small = frame if frame.shape[1::-1] == picture else cv2.resize(
            frame, picture, interpolation=cv2.INTER_AREA)
        matter(small, ratio)
        times.append(time.perf_counter() - began)
    kept = np.array(times[WARMUP:]) * 1000.0
    return float(np.median(kept)), float(np.percentile(kept, 90))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="960x540,1280x720")
    parser.add_argument("--internal", default="480,384,320",
                        help="working sizes, long side px (480: the goal's reference)")
    parser.add_argument("--frames", type=int, default=30)
    args = parser.parse_args(argv)
    model = ensure_model("rvm-mobilenetv3")
    engines = {"openvino": OpenVinoBackend(model, None, "auto"), "onnx": OnnxBackend(model)}
    print(f"# load average {os.getloadavg()[0]:.1f}", flush=True)
    for size in (frame_size(s) for s in args.sizes.split(",")):
        frames = [f.rgb for f in render_clip(WEBCAM_SHELVES, load_person_layer(), args.frames,
                                             size)]
        for internal in (int(v) for v in args.internal.split(",")):
            # the reference runs on the whole frame at its ratio; a live rung on a picture of
            # twice its working size at ratio 0.5 (rtmatte.matting.ladder)
            long = max(size) if internal == 480 else 2 * internal
            ratio = internal / long
            picture = (round(size[0] * long / max(size)), round(size[1] * long / max(size)))
            for name, backend in engines.items():
                median, p90 = cost_ms(Matter(backend, detect_cuts=False), frames, picture, ratio)
                print(f"{size[0]}x{size[1]} {internal} px ({picture[0]}x{picture[1]} at ratio "
                      f"{ratio:.3g}) {name}: median {median:.1f} ms, p90 {p90:.1f}", flush=True)
    print(f"# load average {os.getloadavg()[0]:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

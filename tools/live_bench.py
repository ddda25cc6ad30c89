"""Live-path speed and quality, each trade side by side, in one run.

Plays a generated 640x480 clip through the live runner in real time (``--realtime``) once per
configuration, and reports what a viewer would feel (frames out per second, drops, latency,
and whether latency creeps up over the run) next to what each speed-up costs in matte quality:
the mean absolute alpha difference from the full-quality model on real frames of the sample
portrait (0 = identical, 1 = everything wrong).

    python tools/live_bench.py                 # about 3 minutes of playback plus set-up
    python tools/live_bench.py --seconds 10 --configs adaptive,int8
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from rtmatte import api
from rtmatte.matting.adaptive import LiveMatter
from rtmatte.run.live import LiveResult
from rtmatte.samples import clip_frame, make_clip
from rtmatte.settings import LiveSettings, load_settings

SIZE = (640, 480)
#: name -> (int8 weights, adapt, model on every Nth frame (None: as the size ladder says),
#: ONNX Runtime on all cores but one); "adaptive" is what a run with no tuning flags does
CONFIGS = {
    "full": (False, False, 1, True),
    "adaptive": (False, True, None, True),
    "adaptive-size-only": (False, True, 1, True),
    "adaptive-all-cores": (False, True, None, False),
    "int8": (True, True, None, True),
    "every-2nd": (False, True, 2, True),
}


def live_settings(settings, int8: bool, adapt: bool, every: int | None):
    return dataclasses.replace(settings, live=LiveSettings(int8=int8, matte_every=every,
                                                           adapt=adapt))


def make_matter(settings, int8: bool, adapt: bool, every: int | None, fps: float) -> LiveMatter:
    return api.open_live_matter(live_settings(settings, int8, adapt, every), 1.0 / fps)


def play(clip: Path, settings, bg: str, fps: float,
         spare_core: bool) -> tuple[LiveResult, LiveMatter]:
    """One run through the live API, as ``rtmatte CLIP --realtime`` makes it."""
    threads = None if spare_core else (os.cpu_count() or 1)
    with api.open_live(clip, bg=bg, settings=settings) as live:
        if threads is not None:  # every core for the model, nothing kept for the other stages
            live.matter = api.open_live_matter(settings, 1.0 / fps, cpu_threads=threads)
        return live.run(), live.matter


def alphas(matter: LiveMatter, frames: list[np.ndarray]) -> list[np.ndarray]:
    return [matter(rgb).alpha.copy() for rgb in frames]


def quality(settings, reference: list[np.ndarray], frames: list[np.ndarray], int8: bool,
            every: int | None, rung: int, fps: float) -> float:
    """Mean |alpha - full-quality alpha| with the size the live run ended at, held fixed."""
    matter = make_matter(settings, int8, adapt=False, every=every, fps=fps)
    matter(frames[0])  # builds the ladder
    assert matter.controller is not None
    matter.controller.index = rung
    matter.matter.reset()
    matter.post.reset()
    got = alphas(matter, frames)
    return float(np.mean([np.abs(a - b).mean() for a, b in zip(got, reference, strict=True)]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--configs", default=",".join(CONFIGS),
                        help=f"comma-separated, from {', '.join(CONFIGS)}")
    parser.add_argument("--quality-frames", type=int, default=60)
    parser.add_argument("--bg", default="blur")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        parser.error(f"unknown configs {unknown}")
    settings = load_settings()
    frames_total = round(args.seconds * args.fps)
    print(f"# {sys.platform}, {os.cpu_count()} logical CPUs, load average "
          f"{os.getloadavg()[0]:.1f} at start; clip {SIZE[0]}x{SIZE[1]} at {args.fps} fps, "
          f"{args.seconds:g} s, --bg {args.bg}", flush=True)
    sequence = [clip_frame(i, frames_total, *SIZE)
                for i in range(frames_total // 2, frames_total // 2 + args.quality_frames)]
    reference = alphas(make_matter(settings, False, False, 1, args.fps), sequence)
    rows = []
    with tempfile.TemporaryDirectory(prefix="rtmatte-live-bench-") as tmp:
        clip = make_clip(Path(tmp) / "clip.mp4", frames=frames_total, size=SIZE, fps=args.fps,
                         audio=False)
        for name in names:
            int8, adapt, every, spare_core = CONFIGS[name]
            began = time.perf_counter()
            result, matter = play(clip, live_settings(settings, int8, adapt, every), args.bg,
                                  args.fps, spare_core)
            load = os.getloadavg()[0]
            assert matter.controller is not None
            rung = matter.controller.index
            mad = 0.0 if name == "full" else quality(settings, reference, sequence, int8, every,
                                                     rung, args.fps)
            first = result.latency_ms(0.0, 10.0)
            last = result.latency_ms(result.seconds - 10.0)
            rows.append({
                "config": name, "fps_out": round(result.fps, 1),
                "dropped": result.frames_dropped, "frames_in": result.frames_in,
                "latency_ms": result.latency_ms(), "first10_p50": first["p50"],
                "last10_p50": last["p50"], "ratio_end": result.downsample_ratio,
                "ratio_changes": result.ratio_changes, "every": result.matte_every,
                "alpha_mad": round(mad, 4),
                "load_after": round(load, 1), "wall_s": round(time.perf_counter() - began, 1),
                "matte_ms": result.stages["matte"]["ms_per_item"],
            })
            print(f"  ran {name}", flush=True)
    header = (f"{'config':22}{'fps out':>8}{'dropped':>9}{'p50 ms':>8}{'p95 ms':>8}"
              f"{'max ms':>8}{'p50 0-10s':>10}{'p50 last10':>11}{'ratio':>7}{'every':>6}"
              f"{'changes':>8}{'matte ms':>9}{'alpha MAD':>10}{'load':>6}")
    print(header)
    for row in rows:
        lat = row["latency_ms"]
        print(f"{row['config']:22}{row['fps_out']:>8}{row['dropped']:>9}{lat['p50']:>8.0f}"
              f"{lat['p95']:>8.0f}{lat['max']:>8.0f}{row['first10_p50']:>10.0f}"
              f"{row['last10_p50']:>11.0f}{row['ratio_end']:>7}{row['every']:>6}{row['ratio_changes']:>8}"
              f"{row['matte_ms']:>9.1f}{row['alpha_mad']:>10.4f}{row['load_after']:>6}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

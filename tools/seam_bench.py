"""A chunked run on ``--ray local`` against the unsplit run, through the whole pipeline: files
encoded and decoded, every frame's timestamp and matte compared, and the time each took.

    python tools/seam_bench.py                          # 2 clips of 12 s, about 15 minutes here
    python tools/seam_bench.py --clips 1 --seconds 8 --json bench.json

The clips are the SYNTHETIC-MOTION clips of tools/seam_sim.py (real photos of people, moved by
a program), written as H.264 with a keyframe each second: a lead, not real footage.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from seam_sim import CASTS, Clip

from rtmatte import api
from rtmatte.cluster.driver import ClusterOptions, process_on_cluster
from rtmatte.settings import load_settings


def write_clip(clip: Clip, path: Path, frames: int) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=clip.fps)
        stream.width, stream.height = clip.size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast", "g": str(clip.fps),
                          "keyint_min": str(clip.fps)}
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(clip.frame(index), "rgb24")
            frame.pts, frame.time_base = index, Fraction(1, clip.fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def decoded(path: Path) -> tuple[list[int], np.ndarray]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        pts = sorted(p.pts for p in container.demux(stream) if p.size)
    with av.open(str(path)) as container:
        alpha = np.stack([f.to_ndarray(format="rgba")[..., 3]
                          for f in container.decode(video=0)]).astype(np.float32) / 255.0
    return pts, alpha


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--chunk-seconds", type=float, default=5.0)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--ratio", type=float, default=0.5)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    settings = load_settings(overrides={"backend": "onnx", "bg": "transparent",
                                        "downsample_ratio": args.ratio})
    work = Path(tempfile.mkdtemp(prefix="rtmatte-seams-"))
    import ray

    ray.init(address="local", num_cpus=args.workers, include_dashboard=False,
             log_to_driver=False, logging_level=logging.WARNING)
    results = []
    try:
        for who, where in CASTS[:args.clips]:
            clip = Clip(who, where, (width, height), args.fps, settings)
            source = write_clip(clip, work / f"{who}.mp4", round(args.seconds * args.fps))
            started = time.perf_counter()
            api.process(source, work / f"{who}-whole.mov", settings=settings)
            unsplit_s = time.perf_counter() - started
            started = time.perf_counter()
            (result,) = process_on_cluster(
                source, work / f"{who}-split.mov", settings=settings,
                options=ClusterOptions(address="auto", chunk_seconds=args.chunk_seconds,
                                       workers=args.workers, cpus_per_worker=1))
            split_s = time.perf_counter() - started
            pts_whole, whole = decoded(work / f"{who}-whole.mov")
            pts_split, split = decoded(work / f"{who}-split.mov")
            error = np.abs(whole - split).mean(axis=(1, 2))
            figures = {"clip": clip.name, "frames": len(pts_whole),
                       "timestamps_equal": pts_whole == pts_split,
                       "worst_frame": round(float(error.max()), 5),
                       "worst_frame_at": int(error.argmax()),
                       "mean": round(float(error.mean()), 6),
                       "unsplit_s": round(unsplit_s, 1), "split_s": round(split_s, 1),
                       "seams": result.stages["seams"], "chunks": result.stages["chunks"]}
            print(json.dumps(figures), flush=True)
            results.append(figures)
    finally:
        ray.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Cluster batch figures on this machine: files per minute one machine vs ``--ray local``, the
overhead per file, and one long video chunked against the unsplit run (time and seam error).

    python tools/scale_bench.py                          # about 9 minutes on 2 cores
    python tools/scale_bench.py --parts folder           # files per minute only
    python tools/scale_bench.py --files 4 --long-seconds 8 --json scale.json

Clips are generated (``rtmatte.samples``), the backend is ONNX Runtime on the CPU, the
background a plain colour, so the figures are the model and the batch machinery, not disks.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from rtmatte import api
from rtmatte.cluster.driver import ClusterOptions, process_on_cluster
from rtmatte.samples import make_clip
from rtmatte.settings import load_settings

CLIP_SIZE = (480, 360)
LONG_SIZE = (320, 240)
FPS = 24


def alpha_of(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgba")[..., 3]
                         for f in container.decode(video=0)]).astype(np.float32) / 255.0


def timed(work, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    value = work(*args, **kwargs)
    return time.perf_counter() - started, value


def outside(wall: float, results, workers: int) -> float:
    """Worker time per file spent outside the files' own pipelines: start-up, model load,
    scheduling, the manifest (and idle workers at the tail of the batch)."""
    busy = sum(r.seconds for r in results)
    return round((wall * workers - busy) / len(results), 3)


def folder_figures(work: Path, files: int, frames: int, settings) -> dict:
    clips = work / "clips"
    clips.mkdir()
    for n in range(files):
        make_clip(clips / f"clip{n:03d}.mp4", frames=frames, size=CLIP_SIZE, fps=FPS)
    figures: dict = {"files": files, "frames_per_file": frames, "size": list(CLIP_SIZE)}
    seconds, results = timed(api.process, clips, work / "one", settings=settings)
    figures["one_machine"] = {"seconds": round(seconds, 2),
                              "files_per_min": round(60 * files / seconds, 2),
                              "outside_files_per_file_s": outside(seconds, results, 1)}
    import ray

    ray_start, _ = timed(ray.init, address="local", include_dashboard=False,
                         log_to_driver=False, logging_level=logging.WARNING)
    figures["ray_init_s"] = round(ray_start, 2)
    try:
        for label, workers, cores in (("ray_1x2", 1, 2), ("ray_2x1", 2, 1)):
            out = work / label
            options = ClusterOptions(address="auto", workers=workers, cpus_per_worker=cores)
            seconds, results = timed(process_on_cluster, clips, out, settings=settings,
                                     options=options)
            figures[label] = {
                "seconds": round(seconds, 2), "files_per_min": round(60 * files / seconds, 2),
                "outside_files_per_file_s": outside(seconds, results, workers)}
        rerun, _ = timed(process_on_cluster, clips, work / "ray_1x2", settings=settings,
                         options=ClusterOptions(address="auto"))
        figures["rerun_all_done_s"] = round(rerun, 3)
    finally:
        ray.shutdown()
    return figures


def long_figures(work: Path, seconds_long: float, chunk: float, warmups: list[float],
                 settings) -> dict:
    frames = round(seconds_long * FPS)
    source = make_clip(work / "long.mp4", frames=frames, size=LONG_SIZE, fps=FPS,
                       keyframe_every=FPS)
    transparent = load_settings(overrides={"backend": settings.backend, "bg": "transparent"})
    figures: dict = {"seconds": seconds_long, "frames": frames, "chunk_seconds": chunk,
                     "size": list(LONG_SIZE), "keyframe_every_s": 1.0}
    unsplit, _ = timed(api.process, source, work / "whole.mov", settings=transparent)
    figures["unsplit_s"] = round(unsplit, 2)
    whole = alpha_of(work / "whole.mov")
    import ray

    ray.init(address="local", include_dashboard=False, log_to_driver=False,
             logging_level=logging.WARNING)
    try:
        runs = []
        for warmup in warmups:
            out = work / f"split-{warmup:g}.mov"
            options = ClusterOptions(address="auto", chunk_seconds=chunk, warmup_seconds=warmup)
            took, results = timed(process_on_cluster, source, out, settings=transparent,
                                  options=options)
            error = np.abs(alpha_of(out) - whole)
            seams = [round(n * chunk * FPS) for n in range(1, int(seconds_long / chunk))]
            runs.append({
                "warmup_s": warmup, "seconds": round(took, 2),
                "chunks": results[0].stages["chunks"]["items"],
                "seam_frames": seams,
                "seam_mean_abs": round(float(error[seams].mean()), 5),
                "seam_max_abs": round(float(error[seams].max()), 4),
                "seam_share_over_0.1": round(float((error[seams] > 0.1).mean()), 5),
                "worst_frame_mean_abs": round(float(error.mean(axis=(1, 2)).max()), 5),
                "mean_abs": round(float(error.mean()), 6)})
        figures["chunked"] = runs
    finally:
        ray.shutdown()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--long-seconds", type=float, default=12.0)
    parser.add_argument("--chunk-seconds", type=float, default=4.0)
    parser.add_argument("--warmups", default="0,1,2")
    parser.add_argument("--parts", default="folder,long")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    settings = load_settings(overrides={"backend": "onnx", "bg": "#00b140"})
    work = Path(tempfile.mkdtemp(prefix="rtmatte-scale-"))
    try:
        report = {}
        if "folder" in args.parts:
            report["folder"] = folder_figures(work, args.files, args.frames, settings)
        if "long" in args.parts:
            report["long"] = long_figures(work, args.long_seconds, args.chunk_seconds,
                                          [float(w) for w in args.warmups.split(",")], settings)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The person crop against the whole frame at equal working pixels, offline on every frame.

Renders webcam-framed clips whose alpha is known exactly (the sample person filling most of the
frame height, swaying, a moving background, sensor noise), and mattes each in order through
:class:`~rtmatte.matting.adaptive.LivePacer` with the model on every frame and no adaptation, so
the figures do not depend on how busy the machine is: the whole frame at ``--ratio`` against the
crop at the same working pixels (each way of handling the recurrent state when the crop moves),
beside the whole frame at the reference ratio (0.375 at 1280x720, RVM's advice for 720p).
MAD ×1e3 and dtSSD ×1e2 against the exact alpha; the crop's mean share of the frame.

    python tools/crop_table.py                        # every clip, 1280x720, ratio 0.2
    python tools/crop_table.py --clips sway-rocket --ratio 0.25 --frames 60

``--live`` plays each clip in real time through ``api.open_live`` instead (default settings,
an in-memory sink), crop on and off interleaved, and an empty room (nobody ever in frame) for
the CPU the process uses while the model idles (100 % = one core):

    python tools/crop_table.py --live --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from rtmatte.evaluation.material import WEBCAM_CLIP, ClipSpec, render_clip
from rtmatte.evaluation.metrics import ClipScores
from rtmatte.evaluation.variants import load_person_layer
from rtmatte.matting.adaptive import LivePacer
from rtmatte.matting.backends.onnx import OnnxBackend
from rtmatte.matting.matter import Matter
from rtmatte.matting.models.fetch import ensure_model
from rtmatte.post import PostChain

#: webcam framings: the crop was tuned on the first, and is reported on the others; the last is
#: tools/live_bench.py's clip, on which the crop's shape was chosen
CLIPS = {spec.name: spec for spec in (
    ClipSpec("sway-rocket", "rocket",
             ((0.0, -0.1, 0.05, 0.85), (0.35, 0.12, 0.05, 0.85), (0.7, -0.05, 0.04, 0.88),
              (1.0, 0.08, 0.05, 0.85)),
             scene=((0.0, -0.1, 0.0, 1.1), (1.0, 0.1, 0.02, 1.15)), shake_px=1.5,
             about="tuning clip: swaying before a panned launch photo"),
    ClipSpec("lean-coffee", "coffee",
             ((0.0, 0.15, 0.08, 0.8), (0.3, 0.0, 0.04, 0.9), (0.6, -0.15, 0.06, 0.85),
              (1.0, -0.05, 0.03, 0.92)),
             scene=((0.0, 0.05, 0.0, 1.05), (1.0, -0.08, 0.03, 1.12)), shake_px=2.0,
             about="leaning in and out, stepping sideways, before a panned still life"),
    ClipSpec("step-grass", "grass",
             ((0.0, -0.2, 0.1, 0.75), (0.25, -0.2, 0.1, 0.75), (0.55, 0.18, 0.08, 0.8),
              (1.0, 0.1, 0.08, 0.8)),
             scene=((0.0, 0.1, 0.1, 1.05), (1.0, -0.1, -0.05, 1.2)), shake_px=1.0,
             about="a step across the frame before a moving busy texture"),
    ClipSpec("nod-chelsea", "chelsea",
             ((0.0, 0.05, 0.06, 0.9), (0.3, -0.06, 0.03, 0.95), (0.65, 0.08, 0.06, 0.9),
              (1.0, 0.0, 0.04, 1.0)),
             scene=((0.0, 0.0, 0.0, 1.0), (1.0, 0.0, 0.04, 1.2)), shake_px=1.5,
             about="close to the camera, swaying a little, before a cat the camera zooms to"),
    WEBCAM_CLIP,
)}


def matte(backend: OnnxBackend, frames: list, ratio: float, crop: bool,
          state: str = "move") -> dict[str, float]:
    scout = Matter(backend, detect_cuts=False) if crop else None
    pacer = LivePacer(Matter(backend, downsample_ratio=ratio), PostChain(), 1 / 30, adapt=False,
                      every=1, scout=scout)
    pacer.state_on_move = state
    scores, shares = ClipScores(), []
    began = time.perf_counter()
    for frame in frames:
        scores.add(pacer(frame.rgb).alpha, frame.alpha, spatial=False)
        shares.append(pacer.crop_share)
    seconds = time.perf_counter() - began
    summary = scores.summary()
    moves = pacer.tracker.moves if pacer.tracker else 0
    return {"mad": round(summary["mad"], 2), "dtssd": round(summary["dtssd"], 2),
            "share": round(float(np.mean(shares)), 3), "moves": moves,
            "ms": round(1000 * seconds / len(frames), 1)}


#: an empty room: the person stays far outside the frame while the camera pans
EMPTY = ClipSpec("empty-room", "rocket", ((0.0, 2.5, 0.0, 1.0),),
                 scene=((0.0, -0.1, 0.0, 1.1), (1.0, 0.1, 0.02, 1.15)), shake_px=1.5)


def live_rows(names: list[str], size: tuple[int, int], frames: int, rounds: int) -> None:
    """Each clip played in real time, crop on and off interleaved; one JSON line a run."""
    import dataclasses
    import tempfile
    from pathlib import Path

    import live_bench

    from rtmatte import api
    from rtmatte.settings import load_settings

    settings = load_settings()
    layer = load_person_layer()
    with tempfile.TemporaryDirectory(prefix="rtmatte-crop-") as tmp:
        for name in [*names, EMPTY.name]:
            spec = CLIPS.get(name, EMPTY)
            rendered = list(render_clip(spec, layer, frames, size))
            path = Path(tmp) / f"{name}.mp4"
            live_bench.write_clip(path, [f.rgb for f in rendered], 30)
            truth = [f.alpha for f in rendered]
            for round_ in range(rounds):
                for crop in (True, False):
                    recorder = live_bench._Recorder()
                    live_settings = dataclasses.replace(settings.live, crop=crop)
                    with api.open_live(path, bg="blur", sinks=[recorder], settings=dataclasses
                                       .replace(settings, live=live_settings)) as live:
                        result = live.run()
                        rung = live.pacer.controller.rung if live.pacer.controller else None
                        share = live.pacer.crop_share
                    row = {"clip": name, "crop": crop, "round": round_ + 1,
                           "fps_out": round(result.fps, 1),
                           "p95_ms": round(result.latency_ms()["p95"], 1),
                           "cpu_percent": round(recorder.cpu_percent),
                           "rung_end": f"{rung.internal}px/{rung.every}" if rung else "",
                           "share_end": round(share, 2), "backend": result.backend,
                           "load": round(os.getloadavg()[0], 1)}
                    if name != EMPTY.name:
                        row.update(live_bench.score(recorder.alphas, truth))
                    print(json.dumps(row), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", default=",".join(CLIPS))
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--frames", type=int, default=90)
    parser.add_argument("--ratio", type=float, default=0.2, help="the working pixels compared")
    parser.add_argument("--reference", type=float, default=0.375)
    parser.add_argument("--states", default="keep,move,reset")
    parser.add_argument("--live", action="store_true", help="real time through api.open_live")
    parser.add_argument("--rounds", type=int, default=2, help="with --live")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    if args.live:
        live_rows(args.clips.split(","), (width, height), args.frames, args.rounds)
        return 0
    backend = OnnxBackend(ensure_model("rvm-mobilenetv3"))
    layer = load_person_layer()
    print(f"# load average {os.getloadavg()[0]:.1f}; {args.size}, {args.frames} frames, "
          f"whole frame and crop at ratio {args.ratio}'s working pixels", flush=True)
    for name in args.clips.split(","):
        frames = list(render_clip(CLIPS[name], layer, args.frames, (width, height)))
        rows = {f"whole r{args.reference}": matte(backend, frames, args.reference, False),
                f"whole r{args.ratio}": matte(backend, frames, args.ratio, False)}
        for state in args.states.split(","):
            rows[f"crop r{args.ratio} state={state}"] = matte(backend, frames, args.ratio, True,
                                                              state)
        for config, row in rows.items():
            print(json.dumps({"clip": name, "config": config, **row}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Live-path speed and quality, each lever side by side, against exact ground truth.

Renders a clip whose alpha is known exactly (the evaluation material; by default a webcam
framing: the sample person filling most of the frame's height, swaying, while the camera pans a
photo behind her, with sensor noise), writes it as a near-lossless H.264 file, and plays it
through the live path in real time (what ``rtmatte CLIP --realtime`` does), once per
configuration, the configurations interleaved round by round. Every delivered frame's alpha is
scored against the exact alpha of the frame it was made from: MAD ×1e3 and dtSSD ×1e2 (between
consecutive delivered frames, against the true change over the same frames). Beside them:
frames delivered per second, p95 latency (capture → handed to the outputs), the process's CPU
use while frames flow (100 % = one core), the share of the frame the model was given (the person
crop, averaged over the delivered frames; 1.0 = the whole frame), and the same model run offline
on every decoded frame at the ratio the goal is stated against (0.375 for 1280x720 and up, RVM's
advice for 720p; 0.5 below).

    python tools/live_bench.py                                   # 640x480, 960x540, 1280x720
    python tools/live_bench.py --sizes 960x540 --configs default,hold --rounds 3
    python tools/live_bench.py --configs default,no-crop     # the crop against the whole frame
    python tools/live_bench.py --backend auto,onnx --sizes 1280x720   # engines interleaved

``--rungs`` measures the ladder's trade instead, frame by frame without real time: each
(internal size / cadence) rung alone, the matte carried between model frames as live, so rungs
can be ranked by both scores (docs/live-cpu.md):

    python tools/live_bench.py --sizes 960x540 --rungs 480/1,384/1,480/2,320/1,320/2
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

from rtmatte import api
from rtmatte.argtypes import frame_size
from rtmatte.evaluation.material import WEBCAM_CLIP, ClipSpec, render_clip
from rtmatte.evaluation.metrics import ClipScores
from rtmatte.evaluation.variants import load_person_layer
from rtmatte.matting.adaptive import LivePacer
from rtmatte.matting.ladder import Rung
from rtmatte.matting.matter import Matter
from rtmatte.settings import LiveSettings, Settings, load_settings
from rtmatte.types import Frame, Matte

#: a person walking across and back while the camera pans and zooms a photo behind her
CLIP = ClipSpec("live-walk", "rocket",
                ((0.0, -0.15, 0.0, 1.0), (0.5, 0.15, 0.02, 1.05), (1.0, -0.05, 0.0, 1.0)),
                scene=((0.0, -0.1, 0.0, 1.1), (1.0, 0.1, 0.02, 1.15)), shake_px=1.5,
                about="moving person, moving background: what a live call looks like")
CLIPS = {"webcam": WEBCAM_CLIP, "walk": CLIP}


def reference_ratio(size: tuple[int, int]) -> float:
    """The offline ratio the live goal is stated against: RVM's advice for 720p from 1280 px
    up, 0.5 below (issue 21)."""
    return 0.375 if max(size) >= 1280 else 0.5


class _Before(LivePacer):
    """The live path before this work, for the record: every frame down to 192 px, then every
    other frame with the alpha held."""

    def ladder(self, height: int, width: int) -> list[Rung]:
        long_side = max(height, width)
        top = super().ladder(height, width)[0]
        plan = [(s, 1) for s in (384, 320, 256, 224, 192)] + [(s, 2) for s in (192, 160, 128)]
        return [top] + [Rung(s, min(long_side, 2 * s), s / min(long_side, 2 * s), every)
                        for s, every in plan if s < top.internal]


def _hold(matter: LivePacer) -> LivePacer:
    matter.carry = None
    return matter


def _before(matter: LivePacer) -> LivePacer:
    return _Before(matter.matter, matter.post, matter.budget_s, carry=False)


def _state_on_move(way: str) -> Callable[[LivePacer], LivePacer]:
    """The crop's recurrent state handled ``way`` when it moves (``LivePacer.state_on_move``)."""
    def change(matter: LivePacer) -> LivePacer:
        matter.state_on_move = way
        return matter
    return change


#: name -> (live settings, change to the live matter); "default" is a run with no tuning flags
CONFIGS = {
    "default": (LiveSettings(), None),
    "no-crop": (LiveSettings(crop=False), None),
    "crop-keep": (LiveSettings(), _state_on_move("keep")),
    "crop-reset": (LiveSettings(), _state_on_move("reset")),
    "crop-move": (LiveSettings(), _state_on_move("move")),
    "hold": (LiveSettings(), _hold),
    "every-frame": (LiveSettings(matte_every=1), None),
    "before": (LiveSettings(), _before),
    "delay-3": (LiveSettings(delay=3), None),
    "delay-4": (LiveSettings(delay=4), None),
    "delay-6": (LiveSettings(delay=6), None),
}


class _Recorder:
    """A sink keeping every delivered alpha with the index of the frame it belongs to, the
    pacer's crop share at each, and the process's CPU time from the first frame to the end."""

    def __init__(self) -> None:
        self.alphas: list[tuple[int, np.ndarray]] = []
        self.shares: list[float] = []
        self.pacer: LivePacer | None = None
        self._first: tuple[float, float] | None = None
        self.cpu_percent = 0.0

    def write(self, picture: np.ndarray, frame: Frame, matte: Matte | None) -> None:
        if self._first is None:
            self._first = (time.perf_counter(), time.process_time())
        if matte is not None:
            self.alphas.append((frame.index, matte.alpha.copy()))
        if self.pacer is not None:
            self.shares.append(self.pacer.crop_share)

    def close(self) -> None:
        if self._first is not None:
            wall = time.perf_counter() - self._first[0]
            self.cpu_percent = 100.0 * (time.process_time() - self._first[1]) / max(wall, 1e-9)

    def abort(self) -> None:
        return None


def write_clip(path: Path, frames: list[np.ndarray], fps: int) -> list[np.ndarray]:
    """Encode near-losslessly; returns the decoded frames (what the live path will see)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "8", "preset": "veryfast"}
        for rgb in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, "rgb24")))
        container.mux(stream.encode())
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def score(pairs: list[tuple[int, np.ndarray]], truth: list[np.ndarray]) -> dict[str, float]:
    scores = ClipScores()
    for index, alpha in pairs:
        scores.add(alpha, truth[index], spatial=False)
    summary = scores.summary()
    return {"mad": round(summary["mad"], 2), "dtssd": round(summary.get("dtssd", 0.0), 2)}


def offline(settings: Settings, frames: list[np.ndarray], truth: list[np.ndarray],
            ratio: float) -> list[dict]:
    """The reference: the model at ``ratio`` on every frame, in order, all cores; and the same
    alpha held on every other frame."""
    from rtmatte.post import build_post

    matter = api.open_matter(dataclasses.replace(settings, downsample_ratio=ratio))
    post = build_post(settings.post)
    post(frames[0], matter(frames[0]))  # the engine's first run plans or compiles
    matter.reset()
    post.reset()
    began = time.perf_counter()
    alphas = [post(rgb, matter(rgb)).alpha for rgb in frames]
    fps = len(frames) / (time.perf_counter() - began)
    held = [alphas[i - i % 2] for i in range(len(alphas))]
    rows = [{"config": f"offline r{ratio} every frame", "fps_out": round(fps, 1),
             **score(list(enumerate(alphas)), truth)},
            {"config": f"offline r{ratio} 2nd held", "fps_out": None,
             **score(list(enumerate(held)), truth)}]
    return rows


def play(clip: Path, settings: Settings, name: str, bg: str) -> dict:
    live_settings, change = CONFIGS[name]
    if not settings.live.crop:  # --no-crop: every configuration on the whole frame
        live_settings = dataclasses.replace(live_settings, crop=False)
    # the last run's engine, threads and decoder sit in reference cycles until a collection;
    # one that came mid-run would stall it for the previous configuration's sake
    gc.collect()
    recorder = _Recorder()
    with api.open_live(clip, bg=bg, settings=dataclasses.replace(settings, live=live_settings),
                       sinks=[recorder]) as live:
        if change is not None:
            live.pacer = change(live.pacer)
        recorder.pacer = live.pacer
        result = live.run()
        rung = live.pacer.controller.rung if live.pacer.controller else None
    return {"config": name, "fps_out": round(result.fps, 1), "frames_in": result.frames_in,
            "dropped": result.frames_dropped, "latency_ms": result.latency_ms(),
            "rung_end": f"{rung.internal}px/{rung.every}" if rung else "",
            "changes": result.ratio_changes, "matte_ms": result.stages["matte"]["ms_per_item"],
            "composite_ms": result.stages["composite"]["ms_per_item"],
            "backend": result.backend, "cpu_percent": round(recorder.cpu_percent),
            "crop_share": round(float(np.mean(recorder.shares or [1.0])), 3),
            "pairs": recorder.alphas}


def median_row(runs: list[dict], truth: list[np.ndarray]) -> dict:
    """Each figure's median over the rounds (quality scored per round first)."""
    scored = [{**run, **score(run.pop("pairs"), truth)} for run in runs]
    row = dict(scored[-1])
    for key in ("fps_out", "mad", "dtssd", "matte_ms", "composite_ms", "dropped",
                "cpu_percent", "crop_share", "load"):
        row[key] = round(float(np.median([r[key] for r in scored])), 2)
    row["p95_ms"] = round(float(np.median([r["latency_ms"]["p95"] for r in scored])), 1)
    row["rungs_end"] = ",".join(r["rung_end"] for r in scored)
    row["rounds"] = "; ".join(f"{r['rung_end']} {r['mad']:.2f}/{r['latency_ms']['p95']:.0f}ms"
                              for r in scored)
    return row


def rung_table(settings: Settings, frames: list[np.ndarray], truth: list[np.ndarray],
               specs: list[tuple[int, int]]) -> list[dict]:
    """Each rung alone, frame by frame: the live pacer held at one (internal px, cadence), the
    matte carried between model frames as live, scored against the exact alpha."""
    from rtmatte.post import build_post

    matter = api.open_matter(settings)
    scout = Matter(matter.backend, detect_cuts=False) if settings.live.crop else None
    pacer = LivePacer(matter, build_post(settings.post), 1 / 30, adapt=False, scout=scout)
    long_side = max(frames[0].shape[:2])
    rows = []
    for internal, every in specs:
        pacer.start(frames[0].shape)
        assert pacer.controller is not None
        input_long = min(long_side, 2 * internal)
        pacer.controller.rungs = [Rung(internal, input_long, internal / input_long, every)]
        pacer.prepare(frames[0].shape[1], frames[0].shape[0], runs=1)
        began = time.perf_counter()
        pairs = [(index, pacer(rgb).alpha) for index, rgb in enumerate(frames)]
        rows.append({"config": f"{internal}/{every}", "fps_out": None,
                     "ms_per_frame": round(1e3 * (time.perf_counter() - began) / len(frames), 1),
                     **score(pairs, truth)})
    return rows


def _print_table(label: str, rows: list[dict]) -> None:
    reference = rows[0]
    print(f"\n{label}  (MAD ×1e3, dtSSD ×1e2; ratios against {reference['config']})")
    print(f"{'config':28}{'fps':>6}{'p95 ms':>8}{'MAD':>7}{'dtSSD':>7}{'MAD x':>7}"
          f"{'dtSSD x':>8}{'matte ms':>9}{'comp ms':>8}{'CPU %':>6}{'crop':>6}{'load':>6}"
          "  per round: rung at end, MAD/p95")
    for row in rows:
        p95 = f"{row['p95_ms']:.0f}" if "p95_ms" in row else "-"
        fps = "-" if row["fps_out"] is None else f"{row['fps_out']:.1f}"
        cpu = f"{row['cpu_percent']:.0f}" if "cpu_percent" in row else "-"
        crop = f"{row['crop_share']:.2f}" if "crop_share" in row else "-"
        load = f"{row['load']:.1f}" if "load" in row else "-"
        matte = row.get("matte_ms", row.get("ms_per_frame", 0.0))
        print(f"{row['config']:28}{fps:>6}{p95:>8}{row['mad']:>7.2f}{row['dtssd']:>7.2f}"
              f"{row['mad'] / reference['mad']:>7.2f}{row['dtssd'] / reference['dtssd']:>8.2f}"
              f"{matte:>9.1f}{row.get('composite_ms', 0.0):>8.1f}{cpu:>6}{crop:>6}{load:>6}  "
              f"{row.get('rounds', '')}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="640x480,960x540,1280x720")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--configs", default=",".join(CONFIGS),
                        help=f"comma-separated, from {', '.join(CONFIGS)}")
    parser.add_argument("--clip", choices=CLIPS, default="webcam",
                        help="webcam: a person filling most of the frame, swaying (default); "
                             "walk: the earlier clip, a person walking across")
    parser.add_argument("--backend", help="the engine, or several comma-separated, run "
                        "interleaved (default: the settings', usually auto)")
    parser.add_argument("--rungs", help="instead of live runs: these rungs frame by frame, "
                        "internal px / model on every Nth frame, comma-separated")
    parser.add_argument("--no-crop", action="store_true",
                        help="the model on the whole frame in every configuration and rung, as "
                             "rtmatte --no-crop (the no-crop configuration does it for one)")
    parser.add_argument("--bg", default="blur")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    if unknown := [n for n in names if n not in CONFIGS]:
        parser.error(f"unknown configs {unknown}")
    specs = [tuple(int(part) for part in spec.split("/")) for spec in args.rungs.split(",")] \
        if args.rungs else []
    sizes = [frame_size(s) for s in args.sizes.split(",")]
    base = load_settings()
    if args.no_crop:
        base = dataclasses.replace(base, live=dataclasses.replace(base.live, crop=False))
    engines = {name: dataclasses.replace(base, backend=name).validate()
               for name in (args.backend or base.backend).split(",")}
    clip = CLIPS[args.clip]
    layer = load_person_layer()
    count = round(args.seconds * args.fps)
    print(f"# {sys.platform}, {os.cpu_count()} logical CPUs, load average "
          f"{os.getloadavg()[0]:.1f} at start; clip {clip.name}, {args.seconds:g} s at "
          f"{args.fps} fps, --bg {args.bg}, backend {','.join(engines)}, "
          + (f"rungs {args.rungs}" if specs else f"{args.rounds} rounds interleaved"),
          flush=True)
    tables = {}
    with tempfile.TemporaryDirectory(prefix="rtmatte-live-bench-") as tmp:
        clips = {}
        for size in sizes:
            rendered = list(render_clip(clip, layer, count, size))
            path = Path(tmp) / f"{size[0]}x{size[1]}.mp4"
            decoded = write_clip(path, [f.rgb for f in rendered], args.fps)
            truth = [f.alpha for f in rendered]
            clips[size] = (path, decoded, truth)
        runs: dict[tuple, list[dict]] = {}
        for round_ in range(0 if specs else args.rounds):
            for size in sizes:
                for engine, settings in engines.items():
                    for name in names:
                        run = play(clips[size][0], settings, name, args.bg)
                        run["load"] = round(os.getloadavg()[0], 1)
                        runs.setdefault((size, engine, name), []).append(run)
                        print(f"  round {round_ + 1} {size[0]}x{size[1]} {engine} {name}: "
                              f"{run['fps_out']} fps, {run['rung_end']}, CPU "
                              f"{run['cpu_percent']} %, load {run['load']}", flush=True)
        for size in sizes:
            _, decoded, truth = clips[size]
            for engine, settings in engines.items():
                rows = offline(settings, decoded, truth, reference_ratio(size))
                if specs:
                    rows += rung_table(settings, decoded, truth, specs)
                else:
                    rows += [median_row(runs[(size, engine, name)], truth) for name in names]
                label = f"{size[0]}x{size[1]} {engine} ({rows[-1].get('backend', engine)})"
                tables[label] = rows
                _print_table(label, rows)
    print(f"# load average {os.getloadavg()[0]:.1f} at the end")
    if args.json:
        args.json.write_text(json.dumps(tables, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

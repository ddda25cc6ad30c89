"""How close a chunked run's mattes come to the unsplit run's, by seam method, in memory.

    python tools/seam_sim.py                       # 4 clips, 20 s each, about 15 minutes on 2 cores
    python tools/seam_sim.py --clips 2 --seconds 12 --json seams.json

The clips are SYNTHETIC MOTION made from real photos of people: the sample portrait
(rtmatte/samples/astronaut.jpg, its derived layer) and, when present, the Composition-1k people
of ``--people`` (photo and alpha; read here, never copied) composited over scikit-image photos,
with a camera that pans and zooms, a person who sways and leans, and sensor noise. A lead on
how RVM's recurrent state behaves at a seam, not a result on real footage.

The model and the post chain are the very objects a cluster worker runs (ONNX Runtime on the
CPU, ``--bg transparent``); frames never pass a codec, so the figures are the matte alone.
Methods, each per chunk boundary:

- ``warmup-N``: the chunk's worker runs N seconds of frames before the chunk unwritten (the old
  way, N = 2);
- ``handoff``: as the first warm-up, then the seam is redone from the state the previous chunk
  ended with, over the chunk's first ``--head`` seconds and then piece by piece (marks every
  ``--head`` seconds), until its state is within ``--within`` of the chunk's own at a mark
  (rtmatte.cluster.handoff's gap); the chunk's own frames are kept from there on, otherwise the
  whole chunk is redone from the real state (as rtmatte.cluster.chunks.matte_seam does). Each
  seam's gap at every mark, and the worst frame the chunk's own frames would give if kept from
  that mark, are reported, so other lines can be judged from one run.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
import zlib
from pathlib import Path

import cv2
import numpy as np

from rtmatte.cluster.chunks import MARKS
from rtmatte.compose.backgrounds import cover_fit
from rtmatte.evaluation.material import background_photo
from rtmatte.evaluation.variants import load_person_layer
from rtmatte.post.chain import build_post
from rtmatte.run.engine import open_matter
from rtmatte.settings import load_settings

PEOPLE = Path("/work/shared/eval-data/comp1k-people")
#: (person, background photo): backgrounds chosen near the people's own colours where possible
CASTS = [("portrait", "coffee"), ("boy-1518482_1920_12", "rocket"),
         ("dimpt_bf005cc_9", "chelsea"), ("dimpt_d379dfc_4", "grass")]


def person(name: str, settings) -> tuple[np.ndarray, np.ndarray]:
    """(straight colours float32 0-1, alpha float32 0-1) of one real person photo."""
    if name == "portrait":
        layer = load_person_layer()
        return layer.fgr, layer.alpha
    rgb = cv2.cvtColor(cv2.imread(str(PEOPLE / "image" / f"{name}.png")), cv2.COLOR_BGR2RGB)
    alpha = cv2.imread(str(PEOPLE / "alpha" / f"{name}.png"), cv2.IMREAD_GRAYSCALE)
    return rgb.astype(np.float32) / 255.0, alpha.astype(np.float32) / 255.0


class Clip:
    """Frame ``i`` of a person swaying and leaning before a panned, zoomed photo, with noise."""

    def __init__(self, who: str, where: str, size: tuple[int, int], fps: int, settings) -> None:
        self.name = f"{who}@{where}"
        self.size, self.fps = size, fps
        fgr, alpha = person(who, settings)
        width, height = size
        scale = 0.92 * height / alpha.shape[0]
        small = (max(1, round(alpha.shape[1] * scale)), max(1, round(alpha.shape[0] * scale)))
        self.alpha = cv2.resize(alpha, small, interpolation=cv2.INTER_AREA)
        self.premult = cv2.resize(fgr * alpha[..., None], small, interpolation=cv2.INTER_AREA)
        self.canvas = cover_fit(background_photo(where), round(height * 1.4),
                                round(width * 1.4)).astype(np.float32)
        self.seed = zlib.crc32(self.name.encode())

    def frame(self, index: int) -> np.ndarray:
        width, height = self.size
        t = index / self.fps
        ch, cw = self.canvas.shape[:2]
        zoom = 1.0 + 0.12 * (0.5 + 0.5 * math.sin(t / 7.0))
        pan_x = 0.12 * width * math.sin(t / 5.0) + 0.03 * width * math.sin(t * 1.3)
        pan_y = 0.05 * height * math.sin(t / 3.0)
        to_canvas = np.array([[1 / zoom, 0, cw / 2 + pan_x - width / (2 * zoom)],
                              [0, 1 / zoom, ch / 2 + pan_y - height / (2 * zoom)]])
        scene = cv2.warpAffine(self.canvas, to_canvas, (width, height),
                               flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_REFLECT)
        sway = 0.08 * width * math.sin(t * 0.9) + 0.02 * width * math.sin(t * 2.3)
        lean = 4.0 * math.sin(t * 0.7)  # degrees
        ph, pw = self.alpha.shape
        turn = cv2.getRotationMatrix2D((pw / 2, ph), lean, 1.0 + 0.03 * math.sin(t * 0.5))
        turn[0, 2] += width / 2 - pw / 2 + sway
        turn[1, 2] += height - ph + 0.04 * height + 0.01 * height * math.sin(t * 1.7)
        alpha = cv2.warpAffine(self.alpha, turn, (width, height), flags=cv2.INTER_LINEAR)
        colour = cv2.warpAffine(self.premult, turn, (width, height), flags=cv2.INTER_LINEAR)
        picture = colour * 255.0 + scene * (1.0 - alpha[..., None])
        rng = np.random.default_rng(self.seed + index)
        picture += rng.normal(0.0, 2.0, picture.shape).astype(np.float32)
        return np.clip(picture + 0.5, 0, 255).astype(np.uint8)


class Runner:
    """The worker's model and post chain, with its state to copy and restore."""

    def __init__(self, settings) -> None:
        self.matter = open_matter(settings)
        self.post = build_post(settings.post)
        self.frames = 0

    def reset(self) -> None:
        self.matter.reset()
        self.post.reset()

    def state(self):
        m = self.matter
        return copy.deepcopy((m._state, m._shape, m._thumb, self.post))

    def restore(self, state) -> None:
        m = self.matter
        m._state, m._shape, m._thumb, self.post = copy.deepcopy(state)

    def run(self, clip: Clip, start: int, stop: int) -> np.ndarray:
        """uint8 alphas of frames [start, stop), carrying on from the present state."""
        width, height = clip.size
        out = [np.zeros((0, height, width), np.uint8)]
        for index in range(start, stop):
            rgb = clip.frame(index)
            matte = self.post(rgb, self.matter(rgb))
            out.append(np.clip(matte.alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)[None])
            self.frames += 1
        return np.concatenate(out)


def error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-frame mean absolute alpha difference, 0-1."""
    return np.abs(a.astype(np.int16) - b).mean(axis=(1, 2)) / 255.0


def measure(clip: Clip, runner: Runner, frames: int, chunk: int, warmups: list[int],
            head: int, within: float) -> dict:
    starts = list(range(0, frames, chunk))
    if frames - starts[-1] < chunk // 4:
        starts.pop()
    bounds = list(zip(starts, [*starts[1:], frames], strict=True))
    runner.reset()
    runner.frames = 0
    begun = time.perf_counter()
    whole = runner.run(clip, 0, bounds[0][1])
    first_end = runner.state()  # the real state after the first chunk
    whole = np.concatenate([whole, runner.run(clip, bounds[0][1], frames)])
    figures: dict = {"clip": clip.name, "frames": frames, "chunks": len(bounds),
                     "unsplit_frames": runner.frames,
                     "unsplit_s": round(time.perf_counter() - begun, 1)}
    own: dict[int, tuple[np.ndarray, list, object]] = {}
    for warm in warmups:
        alphas, runner.frames = [whole[:bounds[0][1]]], 0
        for number, (start, stop) in enumerate(bounds[1:], 1):
            runner.reset()
            runner.run(clip, max(0, start - warm), start)
            if warm == warmups[0]:  # the states at the marks, as a worker keeps them
                parts, marks = [], []
                for mark in range(start, stop, head):
                    if mark > start and len(marks) < MARKS:
                        marks.append((mark, runner.state()))
                    parts.append(runner.run(clip, mark, min(stop, mark + head)))
                alphas.append(np.concatenate(parts))
                own[number] = (alphas[-1], marks, runner.state())
            else:
                alphas.append(runner.run(clip, start, stop))
        errors = error(np.concatenate(alphas), whole)
        figures[f"warmup-{warm / clip.fps:g}"] = summary(errors, bounds, runner.frames)
    # handoff, on top of the first warm-up's chunks: the head is redone from the state the
    # previous chunk ended with, then piece by piece until the two runs' states agree at a mark
    # (within --within); the chunk's own frames are kept from there (rtmatte.cluster.chunks)
    carried, alphas, runner.frames, redone = first_end, [whole[:bounds[0][1]]], 0, 0
    seams = []
    for number, (start, stop) in enumerate(bounds[1:], 1):
        mine, marks, end_state = own[number]
        runner.restore(carried)
        again = [runner.run(clip, start, min(stop, start + head))]
        seam: dict = {"gaps": [], "worst_if_kept": []}
        kept_at = None
        for mark, state in marks:
            gap = state_gap(runner.state(), state)
            kept = error(mine[mark - start:], whole[mark:stop])
            seam["gaps"].append(round(gap, 6))
            seam["worst_if_kept"].append(round(float(kept.max()), 5))
            if kept_at is None and gap <= within:
                kept_at = mark
            if kept_at is None:  # the simulation runs on to see every mark's figures
                again.append(runner.run(clip, mark, min(stop, mark + head)))
        seams.append(seam)
        if kept_at is not None:
            written = np.concatenate(again)[:kept_at - start]
            alphas.append(np.concatenate([written, mine[kept_at - start:]]))
            carried = end_state
        else:
            redone += 1
            done = np.concatenate(again)
            alphas.append(np.concatenate([done, runner.run(clip, start + len(done), stop)]))
            carried = runner.state()
    errors = error(np.concatenate(alphas), whole)
    figures["handoff"] = summary(errors, bounds, runner.frames)
    figures["handoff"].update(redone=redone, seams=seams)
    return figures


def state_gap(a, b) -> float:
    """How far apart two worker states are: the largest mean absolute difference over the
    model's recurrent tensors and the post chain's last alpha."""
    (state_a, _, _, post_a), (state_b, _, _, post_b) = a, b
    gaps = [float(np.abs(x - y).mean()) for x, y in zip(state_a, state_b, strict=True)]
    for step_a, step_b in zip(post_a.steps, post_b.steps, strict=True):
        last_a, last_b = getattr(step_a, "_alpha", None), getattr(step_b, "_alpha", None)
        if last_a is not None and last_b is not None:
            gaps.append(float(np.abs(last_a - last_b).mean()))
    return max(gaps)


def summary(errors: np.ndarray, bounds: list[tuple[int, int]], extra_frames: int) -> dict:
    after = [float(errors[s:e].max()) for s, e in bounds[1:]]
    return {"worst_frame": round(float(errors.max()), 5),
            "worst_frame_at": int(errors.argmax()),
            "worst_per_seam": [round(v, 5) for v in after],
            "mean": round(float(errors.mean()), 6),
            "extra_model_frames": extra_frames}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=len(CASTS))
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--chunk-seconds", type=float, default=6.5)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--ratio", type=float, default=0.5)
    parser.add_argument("--warmups", default="2,4")
    parser.add_argument("--head", type=float, default=2.0)
    parser.add_argument("--within", type=float, default=0.05)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    settings = load_settings(overrides={"backend": "onnx", "bg": "transparent",
                                        "downsample_ratio": args.ratio})
    runner = Runner(settings)
    fps = args.fps
    results = []
    for who, where in CASTS[:args.clips]:
        if who != "portrait" and not (PEOPLE / "image" / f"{who}.png").is_file():
            continue
        clip = Clip(who, where, (width, height), fps, settings)
        started = time.perf_counter()
        figures = measure(clip, runner, round(args.seconds * fps), round(args.chunk_seconds * fps),
                          [round(float(w) * fps) for w in args.warmups.split(",")],
                          round(args.head * fps), args.within)
        figures["seconds"] = round(time.perf_counter() - started, 1)
        print(json.dumps(figures), flush=True)
        results.append(figures)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

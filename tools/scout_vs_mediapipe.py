"""The live crop's scout against MediaPipe's selfie segmenter: which finds people better, at what
cost (issue 21 asked for whichever measures better; docs/live-crop.md has the figures).

The scout (:class:`rtmatte.matting.crop.Scout`) is the same RVM model at 128 px with its own
recurrent state; MediaPipe's legacy selfie segmenter ships its .tflite inside the ``mediapipe``
wheel (0.10.21 and earlier), which pins numpy<2, so it cannot share rtmatte's venv. The work is
split in three runs that share the frames through a folder:

    python tools/scout_vs_mediapipe.py render /tmp/scout-frames       # project venv
    python tools/scout_vs_mediapipe.py scout /tmp/scout-frames        # project venv
    python3 -m venv /tmp/mpvenv && /tmp/mpvenv/bin/pip install mediapipe==0.10.21
    /tmp/mpvenv/bin/python tools/scout_vs_mediapipe.py mediapipe /tmp/scout-frames
    python tools/scout_vs_mediapipe.py table /tmp/scout-frames        # either venv

``render`` saves every 4th frame (as the scout sees them while the model runs on every frame)
of crop_table.py's webcam clips, its empty room and two people side by side, 1280x720, with
the person's true box (the exact alpha above 0.5). ``scout`` and ``mediapipe`` each run their
finders interleaved look by look on the same frames (the order turning each look), each finder
on the whole frame as the live path gives it: the scout on ONNX Runtime and OpenVINO, each with
its default threads (one per core) and with 1; MediaPipe's general (256x256) and landscape
(256x144) models, the frame shrunk to the model's input, with its default XNNPACK threads (one)
and with 2. People are blobs of the mask above 0.5 of at least ``PERSON_SHARE`` of the picture,
as the scout finds them. Per finder: ms a look (wall, median and p95; CPU median), recall (looks
whose found box, the union of the blobs, covers >= 95 % of the true box), the box's IoU with the
truth, and on the empty room the looks with a box and the pairs of looks in a row with one (what
wakes the idle model). The load average is written beside.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np

#: a box of the frame in pixels: left, top, width, height
Box = tuple[int, int, int, int]
#: the true box is where the exact alpha is above this; the finders' masks are cut at it too
SURE = 0.5
#: a found box covering at least this share of the true box counts as found
COVERS = 0.95
#: the scout looks every this-many model runs; the model runs on every frame here
LOOK_EVERY = 4
#: empty rooms: crop_table.py's (a panned launch photo, whose rocket is a tall slim shape) and
#: the backgrounds of three of its clips, the camera moving as in that clip
EMPTIES = (("empty-room", "rocket", None), ("empty-coffee", "coffee", "lean-coffee"),
           ("empty-grass", "grass", "step-grass"), ("empty-chelsea", "chelsea", "nod-chelsea"))


class Finder:
    """A named person finder: the people in a frame as boxes, and a reset between clips."""

    def __init__(self, name: str, find: Callable[[np.ndarray], list[Box]],
                 reset: Callable[[], None]) -> None:
        self.name, self.find, self.reset = name, find, reset


def blobs(mask: np.ndarray, least_share: float, scale_x: float, scale_y: float) -> list[Box]:
    """Blobs of ``mask`` above :data:`SURE` of at least ``least_share`` of it, as boxes in a
    frame ``scale_x``/``scale_y`` times its size (as ``Scout`` reads its matte)."""
    solid = (mask > SURE).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(solid, connectivity=8)
    least = least_share * mask.size
    return [(math.floor(x * scale_x), math.floor(y * scale_y), math.ceil(w * scale_x),
             math.ceil(h * scale_y)) for x, y, w, h, area in stats[1:count] if area >= least]


def union(boxes: list[Box]) -> Box | None:
    if not boxes:
        return None
    left, top = min(b[0] for b in boxes), min(b[1] for b in boxes)
    right, bottom = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
    return left, top, right - left, bottom - top


def overlap(a: Box, b: Box) -> int:
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(0, width) * max(0, height)


def render(folder: Path, frames: int, size: tuple[int, int]) -> None:
    """Every :data:`LOOK_EVERY`-th frame of each clip as ``<clip>.npy`` and a manifest with
    the true boxes (project venv)."""
    from dataclasses import replace

    from crop_table import CLIPS, EMPTY

    from rtmatte.evaluation.material import ClipFrame, ClipSpec, render_clip
    from rtmatte.evaluation.variants import load_person_layer
    from rtmatte.matting.crop import PERSON_SHARE

    layer = load_person_layer()
    scene = ((0.0, -0.05, 0.0, 1.05), (1.0, 0.05, 0.02, 1.1))
    pair = (ClipSpec("pair-left", "grass", ((0.0, -0.17, 0.0, 0.55), (0.5, -0.14, 0.0, 0.55),
                                            (1.0, -0.17, 0.0, 0.55)), scene=scene),
            ClipSpec("pair-right", "grass", ((0.0, 0.17, 0.0, 0.55), (0.5, 0.15, 0.0, 0.57),
                                             (1.0, 0.17, 0.0, 0.55)), scene=scene))

    def looks(spec: ClipSpec) -> list[ClipFrame]:
        return list(render_clip(spec, layer, frames, size))[::LOOK_EVERY]

    def two_people() -> list[tuple[np.ndarray, np.ndarray]]:
        """The right one's person composited over the left one's frame (tests/test_live_crop.py's
        pair, at this size): the picture and its exact alpha."""
        out = []
        for back, front in zip(looks(pair[0]), looks(pair[1]), strict=True):
            over = front.alpha[..., None]
            rgb = front.fgr * 255.0 * over + back.rgb * (1.0 - over)
            alpha = back.alpha + front.alpha - back.alpha * front.alpha
            out.append((np.clip(rgb + 0.5, 0, 255).astype(np.uint8), alpha))
        return out

    clips = {name: [(f.rgb, f.alpha) for f in looks(spec)] for name, spec in CLIPS.items()}
    clips["two-people"] = two_people()
    for name, background, like in EMPTIES:
        empty = replace(EMPTY, name=name, background=background,
                        scene=CLIPS[like].scene if like else EMPTY.scene)
        clips[name] = [(f.rgb, f.alpha) for f in looks(empty)]
    folder.mkdir(parents=True, exist_ok=True)
    manifest: dict = {"size": list(size), "frames": frames, "look_every": LOOK_EVERY,
                      "person_share": PERSON_SHARE, "clips": []}
    for name, pairs in clips.items():
        np.save(folder / f"{name}.npy", np.stack([rgb for rgb, _ in pairs]))
        truth = []
        for _, alpha in pairs:
            rows = np.flatnonzero((alpha > SURE).any(axis=1))
            cols = np.flatnonzero((alpha > SURE).any(axis=0))
            truth.append(None if rows.size == 0 else
                         [int(cols[0]), int(rows[0]), int(cols[-1] + 1 - cols[0]),
                          int(rows[-1] + 1 - rows[0])])
        manifest["clips"].append({"name": name, "truth": truth})
    (folder / "manifest.json").write_text(json.dumps(manifest))
    print(f"{len(clips)} clips of {len(pairs)} looks in {folder}")


def scouts() -> list[Finder]:
    """The scout as the live path builds it, on each CPU engine (project venv)."""
    from rtmatte.matting.backends.onnx import OnnxBackend
    from rtmatte.matting.backends.openvino import OpenVinoBackend
    from rtmatte.matting.crop import Scout
    from rtmatte.matting.matter import Matter
    from rtmatte.matting.models.fetch import ensure_model

    model = ensure_model("rvm-mobilenetv3")
    finders = []
    for make, label in ((OnnxBackend, "onnxruntime"), (OpenVinoBackend, None)):
        for threads in (None, 1):
            backend = make(model, cpu_threads=threads)
            scout = Scout(Matter(backend, detect_cuts=False))
            name = f"scout {label or backend.name}, {threads or 'default'} thread(s)"
            finders.append(Finder(name, lambda rgb, s=scout: [(b.x, b.y, b.w, b.h)
                                                              for b in s(rgb)], scout.reset))
    return finders


def mediapipes(person_share: float) -> list[Finder]:
    """MediaPipe's selfie segmenter, both its models, its default XNNPACK threads and 2
    (MediaPipe's venv). Its graph keeps nothing between frames, so there is nothing to reset."""
    import mediapipe
    from mediapipe.calculators.tensor import inference_calculator_pb2
    from mediapipe.framework import calculator_pb2
    from mediapipe.python.solution_base import SolutionBase

    graph = Path(mediapipe.__file__).parent / "modules/selfie_segmentation"
    finders = []
    for selection, label, tensor in ((0, "general", (256, 256)), (1, "landscape", (256, 144))):
        for threads in (None, 2):
            config = calculator_pb2.CalculatorGraphConfig()
            config.ParseFromString((graph / "selfie_segmentation_cpu.binarypb").read_bytes())
            if threads:
                for node in config.node:
                    if node.calculator == "InferenceCalculator":
                        options = node.options.Extensions[
                            inference_calculator_pb2.InferenceCalculatorOptions.ext]
                        options.delegate.xnnpack.num_threads = threads
            solution = SolutionBase(graph_config=config, outputs=["segmentation_mask"],
                                    side_inputs={"model_selection": selection})

            def find(rgb: np.ndarray, solution: SolutionBase = solution,
                     tensor: tuple[int, int] = tensor) -> list[Box]:
                small = cv2.resize(rgb, tensor, interpolation=cv2.INTER_AREA)
                mask = solution.process({"image": small}).segmentation_mask
                return blobs(mask, person_share, rgb.shape[1] / tensor[0],
                             rgb.shape[0] / tensor[1])

            name = f"mediapipe {label} {tensor[0]}x{tensor[1]}, {threads or 'default'} thread(s)"
            finders.append(Finder(name, find, lambda: None))
    return finders


def measure(folder: Path, finders: list[Finder], out: str) -> None:
    """Each finder on every look, interleaved; one JSON line per finder and clip in ``out``."""
    manifest = json.loads((folder / "manifest.json").read_text())
    first = np.load(folder / f"{manifest['clips'][0]['name']}.npy", mmap_mode="r")
    for finder in finders:  # compile and allocate before anything is timed
        for rgb in first[:3]:
            finder.find(np.ascontiguousarray(rgb))
    load_before = os.getloadavg()[0]
    rows = []
    for clip in manifest["clips"]:
        looks = np.load(folder / f"{clip['name']}.npy")
        for finder in finders:
            finder.reset()
        found: dict[str, list] = {f.name: [] for f in finders}
        wall: dict[str, list] = {f.name: [] for f in finders}
        cpu: dict[str, list] = {f.name: [] for f in finders}
        for index, rgb in enumerate(looks):
            turn = index % len(finders)
            for finder in finders[turn:] + finders[:turn]:
                began, began_cpu = time.perf_counter(), time.process_time()
                boxes = finder.find(rgb)
                wall[finder.name].append(1000 * (time.perf_counter() - began))
                cpu[finder.name].append(1000 * (time.process_time() - began_cpu))
                found[finder.name].append(boxes)
        for finder in finders:
            rows.append({"finder": finder.name, "clip": clip["name"], "wall_ms": wall[finder.name],
                         "cpu_ms": cpu[finder.name], "found": found[finder.name],
                         "truth": clip["truth"]})
        print(f"{clip['name']}: {len(looks)} looks, load {os.getloadavg()[0]:.1f}", flush=True)
    load = [round(load_before, 1), round(os.getloadavg()[0], 1)]
    with open(folder / out, "w") as stream:
        for row in rows:
            stream.write(json.dumps({**row, "load": load}) + "\n")
    table(folder, [out])


def table(folder: Path, names: list[str]) -> None:
    """The measured rows as markdown: one line per finder, then each clip's figures."""
    rows = [json.loads(line) for name in names if (folder / name).exists()
            for line in (folder / name).read_text().splitlines()]
    finders = list(dict.fromkeys(r["finder"] for r in rows))
    clips = list(dict.fromkeys(r["clip"] for r in rows))
    print("| finder | ms a look, median | p95 | CPU ms, median | recall | IoU | stray | "
          "empty rooms: looks with a box | two in a row | load |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    cells: dict[tuple[str, str], str] = {}
    for finder in finders:
        mine = [r for r in rows if r["finder"] == finder]
        wall = np.concatenate([r["wall_ms"] for r in mine])
        cpu = np.concatenate([r["cpu_ms"] for r in mine])
        hits, ious, strays, empty, looked, woke = [], [], [], 0, 0, 0
        for row in mine:
            if all(true is None for true in row["truth"]):
                seen = [bool(boxes) for boxes in row["found"]]
                twice = sum(a and b for a, b in pairwise(seen))
                empty, looked, woke = empty + sum(seen), looked + len(seen), woke + twice
                cells[finder, row["clip"]] = f"{sum(seen)} ({twice})"
                continue
            scores = [score(boxes, true) for boxes, true in zip(row["found"], row["truth"],
                                                                 strict=True)]
            clip_hits, clip_ious, clip_strays = (list(v) for v in zip(*scores, strict=True))
            cells[finder, row["clip"]] = (f"{np.mean(clip_hits):.2f} / {np.mean(clip_ious):.2f}"
                                          f" / {sum(clip_strays)}")
            hits, ious, strays = hits + clip_hits, ious + clip_ious, strays + clip_strays
        print(f"| {finder} | {np.median(wall):.1f} | {np.percentile(wall, 95):.1f} | "
              f"{np.median(cpu):.1f} | {np.mean(hits):.2f} ({sum(hits)}/{len(hits)}) | "
              f"{np.mean(ious):.2f} | {sum(strays)}/{len(strays)} | {empty}/{looked} | "
              f"{woke} | {'-'.join(str(v) for v in mine[0]['load'])} |")
    print("\nper clip: recall / IoU / looks with a stray blob; empty rooms: looks with a box "
          "(pairs in a row)\n")
    print("| finder | " + " | ".join(clips) + " |")
    print("|---|" + "---|" * len(clips))
    for finder in finders:
        print(f"| {finder} | " + " | ".join(cells[finder, c] for c in clips) + " |")


def score(boxes: list[Box], true: Box | None) -> tuple[bool, float, bool]:
    """One look with a person: whether the found box (the union of ``boxes``) covers
    :data:`COVERS` of the true one, its IoU with it, whether a blob lies wholly outside it
    (in the live path a stray blob widens the crop for nothing)."""
    assert true is not None
    found = union(boxes)
    inside = overlap(found, true) if found else 0
    area = true[2] * true[3]
    iou = inside / (area + (found[2] * found[3] if found else 0) - inside)
    return inside >= COVERS * area, iou, any(overlap(box, true) == 0 for box in boxes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("render", "scout", "mediapipe", "table"))
    parser.add_argument("folder", type=Path)
    parser.add_argument("--frames", type=int, default=120, help="frames rendered a clip")
    parser.add_argument("--size", default="1280x720")
    args = parser.parse_args(argv)
    if args.step == "render":
        width, height = (int(v) for v in args.size.split("x"))
        render(args.folder, args.frames, (width, height))
    elif args.step == "scout":
        measure(args.folder, scouts(), "scout.jsonl")
    elif args.step == "mediapipe":
        share = json.loads((args.folder / "manifest.json").read_text())["person_share"]
        measure(args.folder, mediapipes(share), "mediapipe.jsonl")
    else:
        table(args.folder, ["scout.jsonl", "mediapipe.jsonl"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

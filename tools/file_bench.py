"""Whole processes on one clip: ``rtmatte IN -o OUT`` on each backend against RVM's naive loop.

    python tools/file_bench.py                                   # 704x576, ratio 0.5, 3 rounds
    python tools/file_bench.py --backends auto onnx openvino --rounds 5 --frames 150

What a user waits for, start to end: each run is a fresh Python process (imports, model load,
the calibration read from its cache, decode, matting, compositing, encode, the file closed).
The naive loop is RVM's documented ONNX Runtime loop (default session, one frame at a time,
``fgr * pha + bg * (1 - pha)`` in float32) as a script of its own that imports only what it
needs, writing H.264 with the same encoder settings as rtmatte (CRF 18, ``veryfast``). Both
composite onto the same picture at the same downsample ratio; the clip has no audio (the naive
loop would drop it). Rounds are interleaved (naive, then each backend, rotated per round) and
the median per process is reported, with the load average beside it, and the CPU time each
process used (all its threads), which a busy machine inflates far less than the wall time.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

from rtmatte.matting.models.fetch import ensure_model
from rtmatte.samples import make_clip, sunset_background

NAIVE = '''
import sys
import av, cv2, numpy as np, onnxruntime as ort

model, clip, out, picture, ratio = sys.argv[1:6]
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
inputs = [tensor.name for tensor in session.get_inputs()]
rec = [np.zeros((1, 1, 1, 1), np.float32)] * 4
downsample_ratio = np.array([float(ratio)], np.float32)
with av.open(clip) as source, av.open(out, "w") as target:
    video = source.streams.video[0]
    stream = bg = None
    for frame in source.decode(video):
        rgb = frame.to_ndarray(format="rgb24")
        if stream is None:
            stream = target.add_stream("libx264", rate=video.average_rate)
            stream.width, stream.height, stream.pix_fmt = rgb.shape[1], rgb.shape[0], "yuv420p"
            stream.options = {"crf": "18", "preset": "veryfast"}
            bg = cv2.cvtColor(cv2.imread(picture), cv2.COLOR_BGR2RGB)
            bg = cv2.resize(bg, (rgb.shape[1], rgb.shape[0])).astype(np.float32) / 255
        src = (rgb.astype(np.float32) / 255).transpose(2, 0, 1)[None]
        # the graph's inputs in its own order: the frame, the four states, the ratio
        fgr, pha, *rec = session.run([], dict(zip(inputs, [src, *rec, downsample_ratio])))
        fgr, pha = fgr[0].transpose(1, 2, 0), pha[0].transpose(1, 2, 0)
        com = fgr * pha + bg * (1 - pha)
        picture_out = av.VideoFrame.from_ndarray((com * 255).astype(np.uint8), format="rgb24")
        target.mux(stream.encode(picture_out))
    target.mux(stream.encode())
'''


def _size(text: str) -> tuple[int, int]:
    width, height = (int(part) for part in text.lower().split("x"))
    return width, height


def _timed(command: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, all its threads) of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - began
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=_size, default=(704, 576), metavar="WxH")
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--ratio", type=float, default=0.5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backends", nargs="+", default=["auto", "onnx", "openvino"])
    parser.add_argument("--flags", default="", help="more rtmatte flags for every backend, "
                                                    "e.g. '--preset quality'")
    args = parser.parse_args(argv)
    model = ensure_model("rvm-mobilenetv3")
    rtmatte = [shutil.which("rtmatte", path=str(Path(sys.executable).parent)) or "rtmatte"]
    with tempfile.TemporaryDirectory(prefix="rtmatte-file-bench-") as tmp:
        folder = Path(tmp)
        clip = make_clip(folder / "in.mp4", frames=args.frames, size=args.size, fps=25,
                         audio=False)
        picture = folder / "bg.png"
        cv2.imwrite(str(picture), cv2.cvtColor(sunset_background(*args.size), cv2.COLOR_RGB2BGR))
        naive_script = folder / "naive.py"
        naive_script.write_text(NAIVE)
        commands = {"naive": [sys.executable, str(naive_script), str(model), str(clip),
                              str(folder / "naive.mp4"), str(picture), str(args.ratio)]}
        for backend in args.backends:
            commands[backend] = [*rtmatte, str(clip), "-o", str(folder / f"{backend}.mp4"),
                                 "--bg", str(picture), "--downsample-ratio", str(args.ratio),
                                 "--backend", backend, "--overwrite", "--quiet",
                                 *args.flags.split()]
        _timed(commands[args.backends[0]])  # warms the disk cache and the calibration cache
        print(f"# {args.size[0]}x{args.size[1]}, {args.frames} frames, ratio {args.ratio:g}, "
              f"{os.cpu_count()} logical cores; load average at the start "
              f"{os.getloadavg()[0]:.2f}")
        seconds: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        names = list(commands)
        for turn in range(args.rounds):
            for name in names[turn % len(names):] + names[:turn % len(names)]:
                wall, used = _timed(commands[name])
                seconds[name].append(wall)
                cpu[name].append(used)
                print(f"#   round {turn + 1} {name}: {wall:.2f} s, CPU {used:.2f} s "
                      f"(load {os.getloadavg()[0]:.2f})", flush=True)
    naive = statistics.median(seconds["naive"])
    print("| process | median s | fps | × naive | CPU s (median) | runs (s) |\n"
          "|---|---:|---:|---:|---:|---|")
    for name, values in seconds.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.2f} | {args.frames / median:.1f} | {naive / median:.2f}× | "
              f"{statistics.median(cpu[name]):.2f} | {', '.join(f'{v:.2f}' for v in values)} |")
    print(f"# load average at the end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Model-alone fps of each backend and precision present, against RVM's published figures.

    python tools/gpu_bench.py                          # 1920x1080@0.25 and 3840x2160@0.125
    python tools/gpu_bench.py --backends cpu --frames 5 --json out.json
    python tools/gpu_bench.py --sizes 1280x720@0.375 --backends torch/cuda/fp16,tensorrt

On a CUDA GPU each variant is timed over 200 frames after 20 warm-up ones (CUDA events around the
network call on frames already on the device), and its whole ``infer()`` beside it. Without a GPU
it measures the CPU variants over 10 frames and says so. The measuring is in
:mod:`rtmatte.bench.modelbench`, the table in :mod:`rtmatte.bench.modelreport`; this is
their command line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import NoReturn

from rtmatte.argtypes import frame_size
from rtmatte.bench import modelbench, modelreport
from rtmatte.errors import UserError
from rtmatte.matting.matter import auto_downsample_ratio
from rtmatte.matting.models.fetch import ensure_model


class _Parser(argparse.ArgumentParser):
    """Bad arguments get one line and exit code 2, like the rest of rtmatte."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _cases(text: str) -> list[modelbench.Case]:
    """``WxH[@RATIO],...``; a size without a ratio gets rtmatte's automatic one."""
    cases = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        size, _, ratio_text = item.partition("@")
        width, height = frame_size(size)
        try:
            ratio = float(ratio_text) if ratio_text else auto_downsample_ratio(height, width)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"bad ratio in {item!r}") from exc
        if not 0.0 < ratio <= 1.0:
            raise argparse.ArgumentTypeError(f"ratio must be in (0, 1], got {item!r}")
        cases.append(modelbench.Case(width, height, ratio))
    if not cases:
        raise argparse.ArgumentTypeError("no sizes given")
    return cases


def _count(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from exc
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="gpu_bench.py", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=_cases, default=list(modelbench.DEFAULT_CASES),
                        help="comma-separated WIDTHxHEIGHT[@RATIO] (default: "
                             "1920x1080@0.25,3840x2160@0.125)")
    parser.add_argument("--frames", type=_count(1), default=None,
                        help=f"timed frames per variant and size (default: "
                             f"{modelbench.GPU_MIN_FRAMES} on GPU, 10 on CPU)")
    parser.add_argument("--warmup", type=_count(0), default=None,
                        help="untimed frames first (default: 20 on GPU, 2 on CPU)")
    names = ", ".join(v.name for v in modelbench.variants())
    parser.add_argument("--backends", default=None,
                        help=f"comma-separated: variants ({names}), backends (torch, onnx, "
                             "tensorrt) or devices (cpu, cuda); default: all")
    parser.add_argument("--cpu-threads", type=_count(1), default=None,
                        help="threads for the CPU variants (default: one per core)")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure here")
    args = parser.parse_args(argv)

    variants = list(modelbench.variants())
    if args.backends:
        selectors = [s.strip() for s in args.backends.split(",") if s.strip()]
        unknown = [s for s in selectors if not any(v.matches(s) for v in variants)]
        if unknown or not selectors:
            parser.error(f"--backends: unknown {', '.join(unknown) or 'empty list'}; "
                         f"choose from {names}, torch, onnx, tensorrt, cpu, cuda")
        variants = [v for v in variants if any(v.matches(s) for s in selectors)]
    if args.json and not args.json.parent.is_dir():
        parser.error(f"--json: folder {args.json.parent} does not exist")

    try:
        model = ensure_model("rvm-mobilenetv3", notify=print)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    env = modelbench.environment()
    print(modelreport.format_header(env))
    print(modelreport.format_columns(), flush=True)
    rows = modelbench.run(model, variants, args.sizes, frames=args.frames, warmup=args.warmup,
                          cpu_threads=args.cpu_threads,
                          report=lambda row: print(modelreport.format_row(row), flush=True))
    said = modelreport.notes(rows)
    for line in said:
        print(f"note: {line}")
    if args.json:
        data = {"environment": env, "model": str(model), "notes": said,
                "rows": [row.as_dict() for row in rows]}
        args.json.write_text(json.dumps(data, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 1 if any(row.failed for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())

"""Export rtmatte's PyTorch RVM network to ONNX with a fixed downsample ratio.

    python tools/export_onnx.py out.onnx --ratio 0.25 --size 1920x1080 --fp16

The logic lives in :func:`rtmatte.matting.export.export_onnx`; this is only its command line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rtmatte.argtypes import frame_size
from rtmatte.errors import UserError
from rtmatte.matting.export import DEFAULT_OPSET, export_onnx
from rtmatte.matting.fetch import ensure_model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="ONNX file to write")
    parser.add_argument("--model", type=Path, default=None,
                        help="weights: RVM ONNX release or .pth checkpoint (default: fetched "
                             "rvm-mobilenetv3)")
    parser.add_argument("--ratio", type=float, required=True,
                        help="downsample ratio baked into the graph, e.g. 0.25 for 1080p")
    parser.add_argument("--size", type=frame_size, default=None,
                        help="static frame size WIDTHxHEIGHT (default: any size)")
    parser.add_argument("--fp16", action="store_true", help="compute in float16 (for GPUs)")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    args = parser.parse_args(argv)
    try:
        model = args.model or ensure_model("rvm-mobilenetv3", notify=print)
        path = export_onnx(model, args.output, args.ratio, size=args.size, fp16=args.fp16,
                           opset=args.opset)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

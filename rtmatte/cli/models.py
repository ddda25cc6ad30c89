"""``rtmatte models``: the catalogue, fetching with sha256 checks, PyTorch weights, ONNX export."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from rtmatte.argtypes import frame_size, number
from rtmatte.cli.common import say


def run(argv: Sequence[str]) -> int:
    from rtmatte.matting.models.catalogue import load_catalogue
    from rtmatte.matting.models.fetch import cached_path, fetch_model, is_cached

    parser = argparse.ArgumentParser(prog="rtmatte models", description="the model catalogue")
    sub = parser.add_subparsers(dest="action", required=True, metavar="{list,fetch,convert,export}",
                                help="what to do (each has its own --help)")
    sub.add_parser("list", help="list known models and whether they are here")
    fetch = sub.add_parser("fetch", help="download and verify a model")
    fetch.add_argument("model", nargs="?", default=None,
                       help="a model id from `rtmatte models list` (default: the default model)")
    convert = sub.add_parser("convert", help="build (and cache) PyTorch weights from the ONNX "
                             "model, for --backend torch")
    convert.add_argument("--model", type=Path, help="RVM ONNX file (default: the fetched one)")
    export = sub.add_parser("export", help="export rtmatte's PyTorch network to ONNX with a "
                            "fixed ratio (and size, fp16): the forms TensorRT builds best")
    export.add_argument("output", type=Path, help="the ONNX file to write, e.g. rvm_1080p.onnx")
    export.add_argument("--ratio", type=number, required=True,
                        help="the downsample ratio baked into the graph, in (0, 1]; 0.25 for "
                             "1080p, 0.375 for 720p bring the long side to 480 pixels, as "
                             "--downsample-ratio auto does")
    export.add_argument("--size", type=frame_size, metavar="WxH", help="static frame size")
    export.add_argument("--fp16", action="store_true",
                        help="float16 weights and arithmetic (for a GPU; about half the size)")
    export.add_argument("--model", type=Path, help="weights (default: the fetched model)")
    for p in (parser, fetch, convert, export):
        p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.action in ("convert", "export"):
        return _torch_model_command(args)
    if args.action == "list":
        width = max(len(entry.id) for entry in load_catalogue())
        for entry in load_catalogue():
            state = "fetched" if is_cached(entry) else (
                "not fetched" if entry.verifiable else "no checksum: --model PATH only")
            mark = " (default)" if entry.default else ""
            print(f"{entry.id:{width}} {state:14} {entry.licence:8} {entry.description}{mark}")
            if is_cached(entry):
                print(f"{'':{width}} {cached_path(entry)}")
        return 0
    from rtmatte.matting.models.catalogue import default_model_id

    path = fetch_model(args.model or default_model_id(), notify=say)
    print(path)
    return 0


def _torch_model_command(args: argparse.Namespace) -> int:
    from rtmatte.errors import BackendUnavailable
    from rtmatte.matting.models.catalogue import default_model_id
    from rtmatte.matting.models.fetch import ensure_model

    try:
        from rtmatte.matting.models.convert import cached_weights
        from rtmatte.matting.models.export import export_onnx
    except ImportError as exc:
        raise BackendUnavailable("this needs PyTorch and onnx: pip install 'rtmatte[torch]'") \
            from exc
    source = args.model or ensure_model(default_model_id(), notify=say)
    if args.action == "convert":
        print(cached_weights(source))
        return 0
    print(export_onnx(source, args.output, args.ratio, size=args.size, fp16=args.fp16))
    return 0



"""The subcommands beside the main job: models, demo, bench, doctor."""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path

from rtmatte.argtypes import frame_size
from rtmatte.cli import (
    add_common_arguments,
    add_model_arguments,
    say,
    settings_from_args,
    write_stats,
)


def run(name: str, argv: Sequence[str]) -> int:
    return {"models": models, "demo": demo, "bench": bench, "doctor": doctor}[name](argv)


def models(argv: Sequence[str]) -> int:
    from rtmatte.matting.models.catalogue import load_catalogue
    from rtmatte.matting.models.fetch import cached_path, fetch_model, is_cached

    parser = argparse.ArgumentParser(prog="rtmatte models", description="the model catalogue")
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("list", help="list known models and whether they are here")
    fetch = sub.add_parser("fetch", help="download and verify a model")
    fetch.add_argument("model", nargs="?", default=None)
    convert = sub.add_parser("convert", help="build (and cache) PyTorch weights from the ONNX "
                             "model, for --backend torch")
    convert.add_argument("--model", type=Path, help="RVM ONNX file (default: the fetched one)")
    export = sub.add_parser("export", help="export rtmatte's PyTorch network to ONNX with a "
                            "fixed ratio (and size, fp16): the forms TensorRT builds best")
    export.add_argument("output", type=Path)
    export.add_argument("--ratio", type=float, required=True)
    export.add_argument("--size", type=frame_size, metavar="WxH", help="static frame size")
    export.add_argument("--fp16", action="store_true")
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


def demo(argv: Sequence[str]) -> int:
    """Make a sample clip (with audio) from the bundled portrait and replace its background."""
    import cv2

    from rtmatte import api
    from rtmatte.samples import make_clip, sunset_background

    parser = argparse.ArgumentParser(prog="rtmatte demo", description=demo.__doc__)
    parser.add_argument("-o", "--output", type=Path, help="default: ./rtmatte-demo.mp4")
    parser.add_argument("--bg", help="background (default: a generated sunset picture)")
    parser.add_argument("--frames", type=int, default=72)
    parser.add_argument("--stats", type=Path)
    add_model_arguments(parser)
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    target = args.output or _free_name(Path("rtmatte-demo.mp4"))
    with tempfile.TemporaryDirectory(prefix="rtmatte-demo-") as tmp:
        clip = make_clip(Path(tmp) / "sample.mp4", frames=args.frames, size=(640, 480), fps=24)
        if args.bg is None:
            picture = Path(tmp) / "sunset.jpg"
            cv2.imwrite(str(picture), cv2.cvtColor(sunset_background(), cv2.COLOR_RGB2BGR))
            args.bg = str(picture)
        settings = settings_from_args(_with_defaults(args))
        notify = None if args.quiet else say
        if notify:
            notify(f"made a {args.frames}-frame sample clip with audio; replacing its background")
        results = api.process(clip, target, settings=settings, notify=notify,
                              progress=None if not args.quiet else False)
    if args.stats:
        write_stats(args.stats, results)
    return 0


def _with_defaults(args: argparse.Namespace) -> argparse.Namespace:
    for name in ("crf", "alpha_output", "post", "overwrite"):
        if not hasattr(args, name):
            setattr(args, name, None)
    return args


def _free_name(path: Path) -> Path:
    """``path`` or the first ``stem-N.ext`` that does not exist, so the demo never overwrites."""
    candidate, number = path, 2
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
        number += 1
    return candidate


def bench(argv: Sequence[str]) -> int:
    from rtmatte.bench.pipeline import main as bench_main

    return bench_main(argv)


def doctor(argv: Sequence[str]) -> int:
    from rtmatte.diagnostics.doctor import main as doctor_main

    return doctor_main(argv)

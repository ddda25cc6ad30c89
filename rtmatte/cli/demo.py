"""``rtmatte demo``: the whole job on a clip made from the bundled portrait."""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path

from rtmatte.cli.common import say, settings_from_args, write_stats
from rtmatte.cli.flags import add_common_arguments, add_model_arguments, setting_flag
from rtmatte.sinks.atomic import Staging, check_target


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rtmatte demo", description=run.__doc__)
    parser.add_argument("-o", "--output", type=Path, help="default: ./rtmatte-demo.mp4")
    setting_flag(parser, "--bg", setting="bg",
                 help="background (default: a generated sunset picture)")
    parser.add_argument("--frames", type=int, default=72,
                        help="length of the sample clip in frames, at 24 fps (default 72)")
    parser.add_argument("--keep-clip", action="store_true",
                        help="also keep the sample input clip beside the result, as "
                             "NAME-input.mp4, to try your own flags on")
    setting_flag(parser, "--overwrite", setting="overwrite", action="store_true",
                 help="replace an existing output (and kept clip) of the name given")
    parser.add_argument("--stats", type=Path, metavar="FILE.json",
                        help="write run figures (frames, fps, per-stage timings) as JSON")
    add_model_arguments(parser)
    add_common_arguments(parser)
    return parser


def run(argv: Sequence[str]) -> int:
    """Make a sample clip (with audio) from the bundled portrait and replace its background."""
    import cv2

    from rtmatte import api
    from rtmatte.samples import make_clip, sunset_background

    args = build_parser().parse_args(argv)
    target = args.output or _free_name(Path("rtmatte-demo.mp4"))
    kept = target.with_name(f"{target.stem}-input.mp4") if args.keep_clip else None
    if kept is not None:
        check_target(kept, args.overwrite)  # refused before the run, not after it
    with tempfile.TemporaryDirectory(prefix="rtmatte-demo-") as tmp:
        # a kept clip is made in a staging folder beside it, so it lands whole or not at all
        staging = Staging(kept.parent) if kept is not None else None
        try:
            clip = make_clip(staging.file(kept.name) if staging else Path(tmp) / "sample.mp4",
                             frames=args.frames, size=(640, 480), fps=24)
            if args.bg is None:
                picture = Path(tmp) / "sunset.jpg"
                cv2.imwrite(str(picture), cv2.cvtColor(sunset_background(), cv2.COLOR_RGB2BGR))
                args.bg = str(picture)
            settings = settings_from_args(args)
            notify = None if args.quiet else say
            if notify:
                notify(f"made a {args.frames}-frame sample clip with audio; replacing its "
                       "background")
            results = api.process(clip, target, settings=settings, notify=notify,
                                  progress=None if not args.quiet else False)
            if staging is not None:
                staging.commit(kept.name, kept, args.overwrite)
            if kept is not None and notify:
                notify(f"kept the sample clip as {kept}: try your own flags on it, e.g. "
                    f"rtmatte {kept} --bg blur")
        finally:
            if staging is not None:
                staging.discard()
    if args.stats:
        write_stats(args.stats, results)
    return 0


def _free_name(path: Path) -> Path:
    """``path`` or the first ``stem-N.ext`` that does not exist, so the demo never overwrites."""
    candidate, number = path, 2
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
        number += 1
    return candidate



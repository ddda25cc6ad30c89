"""Measure matte quality: plain RVM and post-processing variants on clips with known alpha.

    python tools/eval.py                         # every clip, the default settings
    python tools/eval.py --post none             # the model's own matte
    python tools/eval.py --compare --json q.json # all documented variants side by side
    python tools/eval.py --clips coffee-pan --frames 12 --save-frames out/ --hard
    python tools/eval.py --suite keep --frames 48  # --keep on crowd clips
    python tools/eval.py --suite edges             # grow/shrink, despill, blur halo

Scores follow the RVM paper (MAD, MSE ×1e3; Grad, Conn ×1e-3; dtSSD ×1e2), plus flicker: mean
|Δalpha| ×1e3 between consecutive frames where the input did not change.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rtmatte.argtypes import frame_size
from rtmatte.cli.flags import add_post_arguments, add_settings_file_arguments, overrides
from rtmatte.evaluation.suites import edge_report, edge_variants, keep_report, save_edge_frames
from rtmatte.evaluation.variants import build_variants, run_evaluation


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eval.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", choices=("matte", "keep", "edges"), default="matte",
                        help="matte: the post-processing tables (default); keep: choosing whom "
                             "to keep on crowd clips; edges: grow/shrink, despill, blur halo")
    parser.add_argument("--clips", default="all",
                        help="comma-separated clip names, 'all' or 'ci' (default: all)")
    parser.add_argument("--frames", type=int, default=40, help="frames per clip (default 40)")
    parser.add_argument("--size", type=frame_size, default=(512, 288), metavar="WxH",
                        help="frame size (default 512x288, the paper's low-resolution size)")
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="write the scores here")
    parser.add_argument("--save-frames", type=Path, metavar="DIR",
                        help="write input | alpha | composite PNGs per variant and clip")
    parser.add_argument("--compare", action="store_true",
                        help="score every documented variant, not only the one the flags give")
    add_settings_file_arguments(parser)
    parser.add_argument("--no-shared", action="store_true",
                        help="skip ../shared/eval-data even when it exists")
    add_post_arguments(parser)
    return parser


def _notify(message: str) -> None:
    """Progress notes go to stderr, so stdout holds the report alone."""
    print(message, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.suite != "matte":
        return run_suite(args)
    variants = build_variants(args.preset, args.config, overrides(args).get("post", {}),
                              args.compare)
    report = run_evaluation(args, variants, notify=_notify)
    print(report.markdown)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report.result.as_dict(), indent=2) + "\n")
    return 0


def run_suite(args: argparse.Namespace) -> int:
    if args.suite == "keep":
        rows, markdown = keep_report(args.frames, args.size, args.preset, args.config, _notify)
        data = [r.row() for r in rows]
    else:
        data, markdown = edge_report(args.frames, args.size, args.preset, args.config)
        if args.save_frames:
            for clip in ("green-wall", "coffee-pan"):
                save_edge_frames(args.save_frames, args.frames, args.size, clip,
                                 args.frames // 2, {v.name: v.post for v in edge_variants()})
    print(markdown)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(data, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

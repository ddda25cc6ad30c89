"""The main job: ``rtmatte INPUT [-o OUTPUT] --bg ...`` for files, folders and live sources."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from rtmatte import __version__, api
from rtmatte.cli import cluster, live
from rtmatte.cli.common import (
    attach_signed_values,
    check_stats_folder,
    say,
    settings_from_args,
    write_stats,
)
from rtmatte.cli.flags import (
    add_common_arguments,
    add_live_arguments,
    add_model_arguments,
    add_output_arguments,
    add_post_arguments,
)

#: the usage line names the two forms rather than all ~60 flags, which the help lists below
USAGE = ("rtmatte INPUT [-o OUTPUT] [--bg BG] [flags]\n"
         "       rtmatte {demo,models,bench,doctor,serve} [--help]")

#: the help's first block: the subcommands, before the flags of the main job
COMMANDS = """\
Replace the background of videos, pictures and webcams, on this machine.

commands:
  rtmatte INPUT [flags]    a video, a picture, a folder of them, or a camera (the flags below)
  rtmatte demo             the whole job on a sample clip made from a bundled portrait
  rtmatte models           list the models, or fetch one (rtmatte models {list,fetch})
  rtmatte bench            measure how fast this machine runs the model and the pipeline
  rtmatte doctor           what works on this machine, and what to do about the rest
  rtmatte serve            the control panel and the HTTP API, on this machine only

each command has its own --help"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rtmatte", usage=USAGE, description=COMMANDS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", help="a video, an image, a folder of them, or a camera "
                        "(camera, camera:N, /dev/videoN)")
    parser.add_argument("-o", "--output", type=Path,
                        help="output file (or folder for a folder input); default NAME.rtmatte.EXT")
    parser.add_argument("--stats", type=Path, metavar="FILE.json",
                        help="write run figures (frames, fps, per-stage timings) as JSON")
    add_output_arguments(parser)
    add_model_arguments(parser)
    add_post_arguments(parser)
    add_live_arguments(parser)
    cluster.add_cluster_arguments(parser)
    add_common_arguments(parser)
    parser.add_argument("--version", action="version", version=f"rtmatte {__version__}")
    return parser


def run(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(attach_signed_values(argv))
    settings = settings_from_args(args)
    check_stats_folder(args.stats)
    live.refuse_live_only_flags(args)
    if cluster.is_cluster_run(args):
        return cluster.run(args, settings)
    if live.is_live_run(args):
        return live.run(args, settings)
    notify = None if args.quiet else say
    folder = Path(args.input).is_dir()
    try:
        results = api.process(args.input, args.output, settings=settings, notify=notify,
                              progress=None if not args.quiet else False)
    except api.BatchError as exc:
        if args.stats:
            write_stats(args.stats, exc.results, exc.failures, batch=True)
        raise
    if args.stats:
        write_stats(args.stats, results, batch=folder)
    return 0

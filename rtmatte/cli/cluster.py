"""``rtmatte INPUT ... --ray ADDRESS``: the same job over a Ray cluster's workers."""

from __future__ import annotations

import argparse
from pathlib import Path

from rtmatte.argtypes import positive_number
from rtmatte.cli.common import say, write_stats
from rtmatte.cluster.driver import ClusterOptions, process_on_cluster
from rtmatte.errors import SettingsError
from rtmatte.run.offline import BatchError
from rtmatte.settings import Settings
from rtmatte.sources.camera import parse_camera


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("cluster (pip install 'rtmatte[ray]'; docs/scale.md)")
    group.add_argument("--ray", metavar="ADDRESS|local|auto",
                       help="run on Ray workers: local (this machine), auto (the cluster `ray "
                            "start` joined here) or HEAD:PORT; inputs and outputs on a shared "
                            "filesystem")
    group.add_argument("--chunk-seconds", type=positive_number, metavar="N",
                       help="with --ray: split videos longer than N seconds at keyframes and "
                            "matte the pieces on several workers")
    group.add_argument("--force", action="store_true",
                       help="with --ray: redo files the output folder's manifest says are done")


def is_cluster_run(args: argparse.Namespace) -> bool:
    """Whether any cluster flag was given (those that need --ray are refused without it)."""
    return args.ray is not None or args.chunk_seconds is not None or args.force


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.ray is None:
        raise SettingsError("--chunk-seconds and --force work with --ray (--ray local runs on "
                            "this machine's cores)")
    if parse_camera(str(args.input)) is not None or getattr(args, "realtime", False):
        raise SettingsError("--ray processes files and folders, not live sources")
    options = ClusterOptions(address=args.ray, chunk_seconds=args.chunk_seconds,
                             force=args.force)
    notify = None if args.quiet else say
    try:
        results = process_on_cluster(args.input, args.output, settings=settings,
                                     options=options, notify=notify,
                                     progress=None if not args.quiet else False)
    except BatchError as exc:
        if args.stats:
            write_stats(args.stats, exc.results, exc.failures, batch=True)
        raise
    if args.stats:
        if results and not Path(args.input).is_dir():
            write_stats(args.stats, results)
        else:
            write_stats(args.stats, results, batch=True)
    return 0

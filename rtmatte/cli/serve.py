"""``rtmatte serve``: the local HTTP API and control panel (the body is rtmatte/server/). The
settings flags come from the one table in flags.py, as for every subcommand; the server's own
flags (address, token, limits) from rtmatte/server/command.py."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from rtmatte.cli.flags import (
    add_debug_argument,
    add_live_quality_arguments,
    add_model_arguments,
    add_post_arguments,
    add_settings_file_arguments,
    overrides,
    setting_flag,
)
from rtmatte.settings import load_settings


def run(argv: Sequence[str]) -> int:
    from rtmatte.server.command import DESCRIPTION, add_arguments
    from rtmatte.server.command import run as serve

    parser = argparse.ArgumentParser(prog="rtmatte serve", description=DESCRIPTION)
    add_arguments(parser)
    setting_flag(parser, "--bg", setting="bg",
                 help="default background for jobs and the panel (default: blur); "
                      "'transparent' for pictures with alpha")
    # the quality flags of `rtmatte camera`, for serve --live (and every job and picture)
    add_model_arguments(parser)
    add_post_arguments(parser)
    add_live_quality_arguments(parser.add_argument_group(
        "live quality", "the live run's pace and picture (serve --live and the panel)"))
    add_settings_file_arguments(parser)
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    return serve(args, load_settings(args.preset, args.config, overrides(args)))

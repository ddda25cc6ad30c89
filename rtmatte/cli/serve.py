"""``rtmatte serve``: the local HTTP API and control panel (the body is rtmatte/server/)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from rtmatte.cli.flags import add_debug_argument


def run(argv: Sequence[str]) -> int:
    from rtmatte.server.command import DESCRIPTION, add_arguments
    from rtmatte.server.command import run as serve

    parser = argparse.ArgumentParser(prog="rtmatte serve", description=DESCRIPTION)
    add_arguments(parser)
    add_debug_argument(parser)
    return serve(parser.parse_args(argv))

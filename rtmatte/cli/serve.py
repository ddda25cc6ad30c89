"""``rtmatte serve``: the local HTTP API and control panel (the body is rtmatte/server/)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def run(argv: Sequence[str]) -> int:
    from rtmatte.server.command import DESCRIPTION, add_arguments
    from rtmatte.server.command import run as serve

    parser = argparse.ArgumentParser(prog="rtmatte serve", description=DESCRIPTION)
    add_arguments(parser)
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    return serve(parser.parse_args(argv))

"""Command-line flags and dispatch for the live path (cameras, --realtime, --vcam, --preview)."""

from __future__ import annotations

import argparse
from typing import Any


def add_live_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("live")
    group.add_argument("--realtime", action="store_true",
                       help="play a file at its own rate through the live path (drop when late)")


def is_live_run(args: argparse.Namespace) -> bool:
    """True when the input is a camera or a live flag was given."""
    return bool(getattr(args, "realtime", False))


def run_live(args: argparse.Namespace, settings: Any) -> int:
    from rtmatte.errors import UserError

    raise UserError("the live path is not built yet")

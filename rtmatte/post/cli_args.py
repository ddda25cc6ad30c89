"""Command-line flags for post-processing, kept beside the steps they control."""

from __future__ import annotations

import argparse
from typing import Any


def add_post_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("matte post-processing")
    group.add_argument("--post", choices=["default", "none"],
                       help="'none' switches off every post-processing step")


def post_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The ``[post]`` settings the flags ask for (empty when none were given)."""
    overrides: dict[str, Any] = {}
    if getattr(args, "post", None) == "none":
        overrides["enabled"] = False
    return overrides

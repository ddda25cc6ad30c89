"""Argument types shared by the command line, the subcommands and tools/."""

from __future__ import annotations

import argparse


def frame_size(text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` (``1280x720``) as a (width, height) pair of positive integers."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT like 1280x720, got {text!r}") \
            from exc
    if width <= 0 or height <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return width, height

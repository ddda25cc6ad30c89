"""Argument types shared by the command line, the subcommands and tools/.

Every number a flag takes is read here, so a value like ``nan`` or ``inf`` (which ``float``
accepts, and which passes every ``<=`` and ``>`` check the wrong way) is refused in one place,
with the flag's name, before anything runs.
"""

from __future__ import annotations

import argparse
import math


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


def number(text: str) -> float:
    """A finite number (``0.5``, ``-2``, ``1e-3``); ``nan`` and ``inf`` are refused."""
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from exc
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_number(text: str) -> float:
    """A finite number above 0 (a rate, a length of time)."""
    value = number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value

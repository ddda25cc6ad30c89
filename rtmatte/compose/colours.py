"""Colour names and hex codes accepted by --bg."""

from __future__ import annotations

import re

from rtmatte.errors import BackgroundError

NAMED_COLOURS: dict[str, tuple[int, int, int]] = {
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "grey": (128, 128, 128),
    "gray": (128, 128, 128),
    "red": (220, 40, 40),
    "orange": (245, 140, 30),
    "yellow": (245, 220, 50),
    "green": (0, 177, 64),  # chroma-key green, what OBS's key filter expects by default
    "chroma-green": (0, 177, 64),
    "blue": (0, 71, 187),  # chroma-key blue
    "chroma-blue": (0, 71, 187),
    "navy": (20, 30, 80),
    "teal": (0, 128, 128),
    "purple": (110, 50, 150),
    "pink": (240, 150, 190),
    "beige": (225, 210, 180),
}

_HEX = re.compile(r"#(?:[0-9a-f]{3}|[0-9a-f]{6})")


def parse_colour(text: str) -> tuple[int, int, int] | None:
    """An RGB triple for '#rrggbb', '#rgb' or a known name; None when ``text`` is neither.

    Anything else that starts with '#' is a mistyped colour, not a file, so it is refused here:
    Python's ``int(digits, 16)`` would take '#0x1234', '#+12' or '#1_2' as colours.
    """
    value = text.strip().lower()
    if value in NAMED_COLOURS:
        return NAMED_COLOURS[value]
    if not value.startswith("#"):
        return None
    if not _HEX.fullmatch(value):
        raise BackgroundError(
            f"--bg {text.strip()}: not a colour; write one as #rrggbb or #rgb with hex digits "
            "0-9 and a-f (e.g. #00b140), or by name (green, black, ...); a file whose name "
            "starts with # as ./#name"
        )
    digits = value[1:]
    if len(digits) == 3:
        digits = "".join(ch * 2 for ch in digits)
    number = int(digits, 16)
    return (number >> 16) & 255, (number >> 8) & 255, number & 255

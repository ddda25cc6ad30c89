"""What every subcommand shares: how it speaks, how it builds settings, how it writes --stats."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rtmatte.cli.flags import overrides
from rtmatte.errors import UserError
from rtmatte.settings import Settings, load_settings
from rtmatte.sinks.atomic import check_name, write_bytes


def say(message: str) -> None:
    print(f"rtmatte: {message}", file=sys.stderr)


#: flags whose value may start with a minus sign and a digit but is not one number (``-1,-1``),
#: which argparse would otherwise take for an option of its own
_SIGNED_VALUE_FLAGS = ("--keep",)
_SIGNED_VALUE = re.compile(r"-\d[\d,\s-]*")


def attach_signed_values(argv: Sequence[str]) -> list[str]:
    """``--keep -1,-1`` as ``--keep=-1,-1``, so the value reaches its check (and its message)
    instead of argparse reading it as an unknown flag."""
    joined: list[str] = []
    values = iter(argv)
    for arg in values:
        if arg in _SIGNED_VALUE_FLAGS:
            value = next(values, None)
            if value is not None and _SIGNED_VALUE.fullmatch(value):
                joined.append(f"{arg}={value}")
                continue
            joined.append(arg)
            if value is not None:
                joined.append(value)
            continue
        joined.append(arg)
    return joined


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Preset, then the config file, then the flags given (through the one flag table)."""
    return load_settings(getattr(args, "preset", None), getattr(args, "config", None),
                         overrides(args))


def write_stats(path: Path, results: Sequence[Any], failures: Sequence[Any] = (),
                batch: bool = False) -> None:
    """One file's result as a JSON object; a folder's as {"files": [...], "failed": [...],
    totals}. Written whole or not at all (a full disk leaves no empty file)."""
    if not batch:
        payload = results[0].as_dict()
    else:
        payload = {"files": [r.as_dict() for r in results],
                   "failed": [f.as_dict() for f in failures],
                   "frames": sum(r.frames for r in results),
                   "seconds": round(sum(r.seconds for r in results), 4)}
    try:
        write_bytes(path, (json.dumps(payload, indent=2) + "\n").encode())
    except UserError as exc:
        raise UserError(f"--stats: {exc}") from exc


def check_stats_folder(path: Path | None) -> None:
    """Refuse a --stats path in a missing folder, or with a name too long for its file system,
    before the run, not after it."""
    if path is None:
        return
    check_name(path, hint="give --stats a shorter name")
    if not path.resolve().parent.is_dir():
        raise UserError(f"cannot write --stats {path}: its folder does not exist")

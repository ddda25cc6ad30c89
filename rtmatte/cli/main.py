"""The one entry point: pick the subcommand, run it, turn errors into a message and an exit code.

Exit codes: 0 done; 2 bad input, settings or environment (the message says what to change); 3 a
folder run where some files failed; 1 an unexpected failure (a bug: rerun with --debug for the
traceback); 130 interrupted; 143 terminated (docs/guarantees.md).
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from rtmatte.cli.common import say
from rtmatte.errors import RtmatteError, StreamError, UserError

#: subcommand -> module with ``run(argv) -> int``; imported only when asked for
SUBCOMMANDS = {
    "models": "rtmatte.cli.models",
    "demo": "rtmatte.cli.demo",
    "bench": "rtmatte.cli.bench",
    "doctor": "rtmatte.cli.doctor",
    "serve": "rtmatte.cli.serve",
}


#: what bare ``rtmatte`` prints: what it does, and the commands a first-time user wants first
INTRO = """\
rtmatte replaces the background of videos, pictures and webcams, on this machine.

  rtmatte demo                          try it on a sample clip (writes rtmatte-demo.mp4)
  rtmatte VIDEO --bg PICTURE            replace its background (writes VIDEO.rtmatte.EXT)
  rtmatte camera --bg blur --vcam       blur your webcam's background into a virtual camera
  rtmatte serve                         the control panel in your browser
  rtmatte doctor                        what works on this machine, and what to do about the rest

rtmatte --help for everything"""


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``docker stop``, systemd) arrived: unwind exactly as Ctrl-C does."""


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated


def dispatch(argv: list[str]) -> int:
    if not argv:  # a first try: a short intro, not the usage of every flag and an error
        print(INTRO)
        return 0
    if argv and argv[0] in SUBCOMMANDS:
        return importlib.import_module(SUBCOMMANDS[argv[0]]).run(argv[1:])
    from rtmatte.cli import process

    return process.run(argv)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if on_main_thread else None
    try:
        return dispatch(argv)
    except Terminated:
        say("terminated; no output was left half-written")
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        say("interrupted; no output was left half-written")
        return 130
    except BrokenPipeError:  # whoever read our output stopped (`rtmatte models list | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no 2nd error at exit
        return 128 + 13  # what a shell reports for a command ended by SIGPIPE
    except (UserError, StreamError) as exc:
        if debug:
            raise
        say(str(exc))
        return exc.exit_code
    except RtmatteError as exc:
        if debug:
            raise
        say(f"{exc} (rerun with --debug for details)")
        return 1
    except Exception as exc:
        if debug:
            raise
        say(f"unexpected error: {type(exc).__name__}: {exc} (rerun with --debug for the "
            "traceback, and please report it)")
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)

"""One video job in a child process: ``api.process`` as the command line runs it, audio kept.

A child process rather than a thread, because a job must be cancellable at any frame and
``api.process`` has no stop hook: ending the process stops it at once, and everything it
wrote is inside the job's own folder, which the server then deletes. It also keeps a job's
memory and any crash away from the server.

Protocol: the request is one JSON object on stdin (``source``, ``target``, ``bg``,
``settings`` as a mapping for :func:`~rtmatte.settings.load_settings`); the answer is JSON
lines on stdout: ``{"done", "total", "fps"}`` while it runs, then ``{"result": ...}`` or
``{"error": message}``. Anything else the child says goes to stderr, which the server keeps
in the job's folder.
"""

from __future__ import annotations

import json
import os
import re
import sys
import traceback
from typing import Any, TextIO

from rtmatte import api
from rtmatte.errors import RtmatteError
from rtmatte.settings import load_settings

# the progress line api.process draws on a terminal: "NAME [###---] 12/48 frames  9.5 fps ..."
_PROGRESS = re.compile(r"(\d+)(?:/(\d+))? frames\s+([0-9.]+) fps")


class _ProgressTap:
    """Stands in for stderr while the job runs: turns progress lines into protocol lines and
    passes any other text on. ``api.process`` reports frames done only through its terminal
    progress bar, so the bar is read here."""

    def __init__(self, channel: TextIO, passthrough: TextIO) -> None:
        self.channel = channel
        self.passthrough = passthrough

    def write(self, text: str) -> int:
        found = _PROGRESS.findall(text)
        if not found:
            return self.passthrough.write(text)
        done, total, fps = found[-1]
        _send(self.channel, {"done": int(done), "total": int(total) if total else None,
                             "fps": float(fps)})
        return len(text)

    def flush(self) -> None:
        self.passthrough.flush()


def _send(channel: TextIO, message: dict[str, Any]) -> None:
    channel.write(json.dumps(message) + "\n")
    channel.flush()


def main() -> int:
    channel = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever else writes to stdout cannot break the protocol
    request = json.loads(sys.stdin.read())
    settings = load_settings(overrides=request["settings"])
    sys.stderr = _ProgressTap(channel, sys.__stderr__)
    try:
        results = api.process(request["source"], request["target"], bg=request["bg"],
                              settings=settings, progress=True)
    except RtmatteError as exc:
        _send(channel, {"error": str(exc)})
        return 2
    except Exception as exc:
        traceback.print_exc(file=sys.__stderr__)
        _send(channel, {"error": f"the job failed unexpectedly ({type(exc).__name__}: {exc})"})
        return 1
    _send(channel, {"result": results[0].as_dict()})
    return 0


if __name__ == "__main__":
    sys.exit(main())

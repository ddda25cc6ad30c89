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
import sys
import time
import traceback
from typing import Any, TextIO

from rtmatte import api
from rtmatte.errors import RtmatteError
from rtmatte.settings import load_settings


def _send(channel: TextIO, message: dict[str, Any]) -> None:
    channel.write(json.dumps(message) + "\n")
    channel.flush()


def main() -> int:
    channel = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever else writes to stdout cannot break the protocol
    request = json.loads(sys.stdin.read())
    settings = load_settings(overrides=request["settings"])
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        seconds = time.perf_counter() - started
        _send(channel, {"done": done, "total": total or None,
                        "fps": round(done / seconds, 2) if seconds > 0 else 0.0})

    try:
        results = api.process(request["source"], request["target"], bg=request["bg"],
                              settings=settings, on_progress=progress)
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

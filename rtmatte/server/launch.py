"""``rtmatte serve`` (as ``python -m rtmatte.cli serve``) started as a child process, as a person
starts it, and waited for: what the tests and ``tools/serve_bench.py`` need of a real server, in
one place. (The command is named by its module, not imported: the server never imports the
command line.)

The server is found the way a person finds it: by the lines the command prints (the address
and, when it made the token, the links carrying it), then by asking ``/api/info`` with the
token until it answers (the models load before the first answer).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rtmatte.server.config import TOKEN_ENV

_SERVING = re.compile(r"serving on (http://\S+?/)(?:\?token=([\w-]+))?(?:\s|$)")
_DOCS = re.compile(r"documentation at (http\S+);")
_POLL_S = 0.2
_STOP_TIMEOUT_S = 30.0
#: straight to the server, whatever proxy the environment names
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Served:
    """A server the command started, as it said it."""

    process: subprocess.Popen[bytes]
    #: where its output (stdout and stderr) goes
    log: Path
    #: http://HOST:PORT/, the port the command chose
    address: str
    #: the token in use: the one given, or the one the command made and printed
    token: str
    #: the two links it printed: the panel's and the documentation's
    panel_link: str
    docs_link: str

    @property
    def port(self) -> int:
        return int(self.address.rstrip("/").rsplit(":", 1)[1])

    def said(self) -> str:
        return self.log.read_text()


@contextmanager
def serving(log: Path, *flags: str, token: str | None = None, timeout_s: float = 90.0,
            answering: bool = True) -> Iterator[Served]:
    """Start the server on a free port with ``flags`` (and ``token``: none makes the command
    make one) and yield it once it has printed its address and, with ``answering``, once
    ``/api/info`` answers 200; stopped (SIGTERM, as Ctrl-C's stop) on leaving. A server that
    exits or stays silent past ``timeout_s`` raises RuntimeError with what it said.
    ``$RTMATTE_TOKEN`` is not passed on, so the token is the given or the made one."""
    environment = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    given = ("--token", token) if token is not None else ()
    with log.open("w") as sink:
        process = subprocess.Popen([sys.executable, "-m", "rtmatte.cli", "serve", "--port",
                                    "0", *given, *flags],
                                   stdout=sink, stderr=subprocess.STDOUT, env=environment)
    try:
        yield _wait(process, log, token, timeout_s, answering)
    finally:
        process.terminate()
        process.wait(timeout=_STOP_TIMEOUT_S)


def _wait(process: subprocess.Popen[bytes], log: Path, token: str | None, timeout_s: float,
          answering: bool) -> Served:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}: "
                               f"{log.read_text()}")
        said = log.read_text()
        address, docs = _SERVING.search(said), _DOCS.search(said)
        if address and docs:
            made = address[2]  # the token in the printed link, when the command made it
            link = f"{address[1]}?token={made}" if made else address[1]
            served = Served(process, log, address[1], token or made or "", link, docs[1])
            if not answering or _answers(served):
                return served
        time.sleep(_POLL_S)
    raise RuntimeError(f"the server did not answer within {timeout_s:g} s: {log.read_text()}")


def _answers(served: Served) -> bool:
    request = urllib.request.Request(f"{served.address}api/info",
                                     headers={"Authorization": f"Bearer {served.token}"})
    try:
        with _DIRECT.open(request, timeout=5) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False

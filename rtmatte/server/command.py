"""The ``rtmatte serve`` subcommand's server flags, and starting uvicorn on a bound socket. The
flags that make the settings (``--bg``, ``--preset``, ``--config``) are the command line's own,
from its one table (rtmatte/cli/serve.py); :func:`run` is given the settings they made.

The socket is bound here, before the app starts, so a port in use is one clear line (not a
server log), ``--port 0`` picks a free port, and the address printed is the one that works.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import re
import secrets
import socket
import sys
from pathlib import Path

from rtmatte.argtypes import frame_size, positive_number
from rtmatte.errors import InputError, UserError
from rtmatte.server.auth import host_name, is_loopback
from rtmatte.server.config import DEFAULT_HOST, DEFAULT_PORT, TOKEN_ENV, ServerConfig
from rtmatte.settings import Settings

DESCRIPTION = ("A local HTTP API (POST /api/remove, /api/jobs), a control panel for the "
               "camera at http://127.0.0.1:7860/, and /overlay, the camera's person with real "
               "alpha for OBS's Browser Source. Every request needs the token.")
_GRACE_S = 3
_DNS_NAME = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?")
_CAMERA = re.compile(r"camera(:\d+)?|/dev/video\d+")
#: ``--live`` given alone: the --source file when there is one, else the default camera
_LIVE_DEFAULT = ""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The server's own flags: where it listens, who may reach it, and how much it takes on."""
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help="address to listen on (default 127.0.0.1: this machine only; "
                             "another one is reachable from the network, with a warning)")
    parser.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                        help="a name or address the server may be opened by besides localhost "
                             "and the address it is reached at, e.g. mybox.lan (repeatable); "
                             "other names are refused, which stops DNS rebinding")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
    parser.add_argument("--token", default=None,
                        help=f"the token every request needs (default: ${TOKEN_ENV}, else a "
                             "random one, printed with the address)")
    parser.add_argument("--source", type=Path, default=None, metavar="FILE",
                        help="a video the panel can use as its camera, played in real time "
                             "and looped")
    live = parser.add_argument_group(
        "live", "start the camera with the server, for the OBS overlay (/overlay) or the "
                "panel; the model, post-processing and --bg flags set its picture")
    live.add_argument("--live", nargs="?", const=_LIVE_DEFAULT, default=None, metavar="CAMERA",
                      help="start the live run when the server starts: on the --source file "
                           "when given, else on CAMERA (camera, camera:N or /dev/videoN; "
                           "default: the default camera)")
    live.add_argument("--size", type=frame_size, metavar="WxH",
                      help="--live: camera picture size to ask for")
    live.add_argument("--fps", type=positive_number, help="--live: camera frame rate to ask for")
    parser.add_argument("--vcam-device", default=None, metavar="DEVICE",
                        help="the virtual camera device for the panel (default: the first)")
    parser.add_argument("--max-upload-mb", type=positive_number, default=500.0, metavar="MB",
                        help="largest upload taken; larger ones get 413 (default 500)")
    parser.add_argument("--queue", type=int, default=8, metavar="N",
                        help="video jobs that may wait; one more gets 429 (default 8)")
    parser.add_argument("--job-workers", type=int, default=1, metavar="N",
                        help="video jobs run at once (default 1)")
    parser.add_argument("--keep-minutes", type=positive_number, default=60.0, metavar="M",
                        help="how long a finished job's result is kept (default 60)")
    parser.add_argument("--picture-workers", type=int, default=1, metavar="N",
                        help="pictures matted at once by /api/remove, one model each "
                             "(default 1)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Serve with the flags of :func:`add_arguments` until Ctrl-C (or SIGTERM)."""
    try:
        import uvicorn

        from rtmatte.server.app import create_app
    except ImportError as exc:
        raise UserError(f"rtmatte serve needs the serve extra ({exc.name} is missing): "
                        "pip install 'rtmatte[serve]'") from exc
    _check(args)
    given = args.token or os.environ.get(TOKEN_ENV)
    token = given or secrets.token_urlsafe(24)
    listener = bind(args.host, args.port)
    port = listener.getsockname()[1]
    config = ServerConfig(
        token=token, host=args.host, port=port, settings=settings,
        max_upload_mb=args.max_upload_mb, queue=args.queue, job_workers=args.job_workers,
        keep_minutes=args.keep_minutes, picture_workers=args.picture_workers,
        source=args.source, vcam_device=args.vcam_device, live_source=_live_source(args),
        live_size=args.size, live_fps=args.fps,
        allow_hosts=tuple(host_name(name) for name in args.allow_host),
    )
    if not is_loopback(args.host):
        _say(f"warning: listening on {args.host}: other machines on the network can reach this "
             "server; anyone who learns the token can use the API and the camera")
    address = f"http://{_url_host(args.host)}:{port}/"
    once = f"?token={token}" if given is None else ""
    _say(f"serving on {address}{once}" if given is None else
         f"serving on {address} (open it with ?token=YOUR_TOKEN once)")
    _say(f"API: Authorization: Bearer TOKEN; documentation at {address}docs{once}; "
         "Ctrl-C stops")
    overlay = f"{address}overlay{once or '?token=YOUR_TOKEN'}"  # OBS keeps the whole address
    _say(f"OBS Browser Source (the camera's person with alpha): {overlay}"
         + ("" if args.live is not None else " (start the camera in the panel, or serve --live)"))
    server = uvicorn.Server(uvicorn.Config(
        create_app(config), log_level="warning", access_log=False,  # the log would show tokens
        timeout_graceful_shutdown=_GRACE_S,  # open previews must not hold the stop up
    ))
    # Ctrl-C is the way a server is stopped; uvicorn re-raises it once it has stopped
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[listener])
    _say("stopped; every job's files and the panel's uploads were removed")
    return 0


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port``, or a UserError saying why not."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        listener = socket.socket(family, kind, proto)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose "
                        "another --port, or --port 0 for a free one") from exc
    listener.listen(128)
    return listener


def _check(args: argparse.Namespace) -> None:
    if args.source is not None and not args.source.is_file():
        raise InputError(f"--source {args.source}: no such file")
    if args.live is None and (args.size is not None or args.fps is not None):
        raise UserError("--size and --fps apply to the --live run only: add --live or leave "
                        "them out")
    if args.live and args.source is not None:
        raise UserError(f"--live {args.live} and --source: the live run plays one of them; "
                        "give --live alone to play the --source file")
    if args.live and not _CAMERA.fullmatch(args.live):
        raise UserError(f"--live {args.live}: give camera, camera:N or /dev/videoN (a file "
                        "goes to --source, with --live alone)")
    for name in ("queue", "job_workers", "picture_workers"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be 1 or more")
    if args.max_upload_mb <= 0 or args.keep_minutes <= 0:
        raise UserError("--max-upload-mb and --keep-minutes must be more than 0")
    for name in args.allow_host:
        if not _is_host_name(host_name(name)):
            raise UserError(f"--allow-host '{name}': give a host name or an address alone, "
                            "without scheme, port or wildcard (e.g. mybox.lan, 192.168.1.20)")


def _live_source(args: argparse.Namespace) -> str | None:
    """What the ``--live`` run starts on, as the panel names it ('file': the --source file)."""
    if args.live is None:
        return None
    if args.live == _LIVE_DEFAULT:
        return "file" if args.source is not None else "camera"
    return str(args.live)


def _is_host_name(name: str) -> bool:
    """A DNS name or an IP address; not a URL, not with a port, not a wildcard."""
    try:
        return not ipaddress.ip_address(name).is_unspecified
    except ValueError:
        return _DNS_NAME.fullmatch(name) is not None


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _say(message: str) -> None:
    print(f"rtmatte: {message}", file=sys.stderr, flush=True)

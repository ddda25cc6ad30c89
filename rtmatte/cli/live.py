"""The live path's command: a camera or ``--realtime`` file into -o, --vcam, --preview and
--alpha-output, as one :func:`rtmatte.api.open_live` run."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rtmatte import api
from rtmatte.cli.common import say, write_stats
from rtmatte.errors import SettingsError
from rtmatte.settings import Settings
from rtmatte.sinks.vcam import AUTO, PIPEWIRE, choose_backend
from rtmatte.sources.camera import parse_camera


def is_live_run(args: argparse.Namespace) -> bool:
    """True when the input is a camera or a live flag was given."""
    if any(getattr(args, flag, False) for flag in ("realtime", "vcam", "preview")):
        return True
    return parse_camera(str(getattr(args, "input", ""))) is not None


#: flags only a live run reads (argparse name -> flag); given to a file run they would change
#: nothing, which the user could only find out from the result
_LIVE_ONLY = {"delay": "--delay", "matte_every": "--matte-every", "int8": "--int8",
              "size": "--size", "fps": "--fps", "bg_watch": "--bg-watch",
              "on_demand": "--on-demand", "vcam_device": "--vcam-device",
              "vcam_backend": "--vcam-backend"}
#: live-only switches that turn something off: given, their value is False
_LIVE_ONLY_OFF = {"adapt": "--no-adapt", "crop": "--no-crop"}


def refuse_live_only_flags(args: argparse.Namespace) -> None:
    """A live-only flag on a file run is refused in one line rather than ignored (``--delay 0``
    and other values that change nothing pass)."""
    if is_live_run(args):
        return
    given = [flag for dest, flag in _LIVE_ONLY.items()
             if getattr(args, dest, None) not in (None, False, 0)]
    given += [flag for dest, flag in _LIVE_ONLY_OFF.items() if getattr(args, dest, None) is False]
    if given:
        raise SettingsError(f"{given[0]} applies to a live run only (a camera, or a file with "
                            f"--realtime): add --realtime or leave {given[0]} out")


def background_specs(text: str) -> list[str]:
    """``--bg`` for a live run may list several backgrounds to cycle through: ``a.jpg,blur``."""
    if Path(text).expanduser().exists() or "," not in text:
        return [text]
    return [part.strip() for part in text.split(",") if part.strip()]


def run(args: argparse.Namespace, settings: Settings) -> int:
    """The live command: flags checked, then one :func:`rtmatte.api.open_live` run."""
    notify: Callable[[str], None] | None = None if args.quiet else say
    if parse_camera(args.input) is not None and not (args.vcam or args.preview or args.output):
        raise SettingsError(f"{args.input}: say where the picture goes: --vcam, --preview or "
                            "-o FILE")
    if args.vcam and notify:
        tell_vcam_choice(args.vcam_backend, args.vcam_device, notify)
    vcam = api.VirtualCamera(device=args.vcam_device, backend=args.vcam_backend,
                             on_demand=args.on_demand) if args.vcam else False
    with api.open_live(args.input, bg=background_specs(settings.bg), settings=settings,
                       output=args.output, vcam=vcam, preview=args.preview, size=args.size,
                       fps=args.fps, watch=args.bg_watch, notify=notify) as live:
        if notify and not (args.vcam or args.preview or args.output):
            notify("no -o, --vcam or --preview: playing through the live path to measure it")
        with _stop_on_signals(live) as caught:
            result = live.run()
    if notify:
        latency = result.latency_ms()
        notify(f"{result.frames_out} frames out of {result.frames_in} ({result.fps:.1f} fps, "
               f"{result.frames_dropped} dropped), latency p50 {latency['p50']:.0f} ms, p95 "
               f"{latency['p95']:.0f} ms, {result.backend} at ratio {result.downsample_ratio}")
        for sink in live.sinks:
            written = getattr(sink, "written", None)
            if written is not None:
                notify(f"wrote {written}")
    if args.stats:
        write_stats(args.stats, [result])
    if not caught:
        return 0
    # the exit code still says the run was cut short, as for a file run (docs/guarantees.md)
    say(f"{'terminated' if caught[0] == signal.SIGTERM else 'interrupted'}; what was recorded "
        "so far was finalized")
    return 128 + caught[0]


def tell_vcam_choice(backend: str | None, device: str | None,
                     notify: Callable[[str], None]) -> None:
    """A PipeWire camera chosen by itself is said, with why: fewer apps read one than read a
    v4l2loopback device, so a user who expected Zoom to see it learns at once."""
    chosen, why = choose_backend(backend, device)
    if chosen == PIPEWIRE and backend in (None, AUTO):
        notify(f"--vcam uses PipeWire: {why} (OBS 30+ and browsers through the camera portal "
               "read it; apps that read V4L2 only, such as Zoom, need v4l2loopback: "
               "docs/live-setup.md)")


@contextmanager
def _stop_on_signals(runner: Any) -> Iterator[list[int]]:
    """Ctrl-C and SIGTERM (systemd, docker stop, kill) end the run the same way: the threads
    stop, every output is finalized, and the yielded list then holds the signal's number.

    The handler only asks the run to stop; raising from it instead (as a file run does) could
    land in the middle of finalizing the recording, which a live run cannot make again.
    """
    caught: list[int] = []

    def stop(signum: int, frame: Any) -> None:
        if not caught:
            caught.append(signum)
        runner.request_stop()

    if threading.current_thread() is not threading.main_thread():  # handlers live there only
        yield caught
        return
    kinds = [signal.SIGINT] if sys.platform == "win32" else [signal.SIGINT, signal.SIGTERM]
    # a signal the caller set to be ignored (nohup, a background job's Ctrl-C) stays ignored
    previous = {kind: signal.signal(kind, stop) for kind in kinds
                if signal.getsignal(kind) is not signal.SIG_IGN}
    try:
        yield caught
    finally:
        for kind, handler in previous.items():  # None: set outside Python, i.e. the default
            signal.signal(kind, signal.SIG_DFL if handler is None else handler)

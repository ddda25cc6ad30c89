"""The live path's command: a camera or ``--realtime`` file into -o, --vcam, --preview and
--alpha-output, as one :func:`rtmatte.api.open_live` run."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rtmatte import api
from rtmatte.cli.common import say, write_stats
from rtmatte.errors import SettingsError
from rtmatte.settings import Settings
from rtmatte.sources.camera import parse_camera


def is_live_run(args: argparse.Namespace) -> bool:
    """True when the input is a camera or a live flag was given."""
    if any(getattr(args, flag, False) for flag in ("realtime", "vcam", "preview")):
        return True
    return parse_camera(str(getattr(args, "input", ""))) is not None


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
    vcam = api.VirtualCamera(device=args.vcam_device, backend=args.vcam_backend,
                             on_demand=args.on_demand) if args.vcam else False
    with api.open_live(args.input, bg=background_specs(settings.bg), settings=settings,
                       output=args.output, vcam=vcam, preview=args.preview, size=args.size,
                       fps=args.fps, watch=args.bg_watch, notify=notify) as live:
        if notify and not (args.vcam or args.preview or args.output):
            notify("no -o, --vcam or --preview: playing through the live path to measure it")
        with _stop_on_sigterm(live):
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
    return 0


@contextmanager
def _stop_on_sigterm(runner: Any) -> Iterator[None]:
    """SIGTERM (systemd, docker stop, kill) ends the run like Ctrl-C: outputs are finalized."""
    if sys.platform == "win32":
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: runner.request_stop())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)

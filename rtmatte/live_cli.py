"""Command-line flags and dispatch for the live path (cameras, --realtime, --vcam, --preview)."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rtmatte.argtypes import frame_size
from rtmatte.errors import SettingsError
from rtmatte.io.camera import parse_camera


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def add_live_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "live", "input camera, camera:N or /dev/videoN runs live; so does a file with --realtime")
    group.add_argument("--realtime", action="store_true",
                       help="play a file at its own rate through the live path (drop when late)")
    group.add_argument("--vcam", action="store_true",
                       help="send the result to a virtual camera (Zoom, Teams, Meet, OBS)")
    group.add_argument("--vcam-device", metavar="DEV",
                       help="virtual camera device, e.g. /dev/video10 (default: the first free)")
    group.add_argument("--vcam-backend", metavar="NAME",
                       help="pyvirtualcam backend: v4l2loopback, obs or unitycapture")
    group.add_argument("--on-demand", action="store_true",
                       help="Linux: run the model only while an app reads the virtual camera")
    group.add_argument("--preview", action="store_true",
                       help="show a window (keys: q quit, b next background, space effect on/off)")
    group.add_argument("--size", type=frame_size, metavar="WxH",
                       help="camera picture size to ask for")
    group.add_argument("--fps", type=_positive, help="camera frame rate to ask for")
    group.add_argument("--bg-watch", type=Path, metavar="FILE",
                       help="a file holding a --bg value; write a new one to switch backgrounds")
    group.add_argument("--matte-every", type=int, metavar="N",
                       help="run the model on every Nth frame, carrying the matte in between "
                            "(default: every frame, every other one when the CPU is too slow)")
    group.add_argument("--int8", action="store_true",
                       help="use int8-quantized weights (made once and cached beside the model)")
    group.add_argument("--no-adapt", dest="adapt", action="store_false", default=None,
                       help="keep the model's working size fixed even when frames are dropped")


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


def run_live(args: argparse.Namespace, settings: Any) -> int:
    """The live command: flags checked, then one :func:`rtmatte.api.open_live` run."""
    from rtmatte import api
    from rtmatte.cli import say, write_stats

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


def live_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The ``[live]`` settings the flags ask for (empty when none were given)."""
    overrides: dict[str, Any] = {}
    if getattr(args, "int8", False):
        overrides["int8"] = True
    if getattr(args, "matte_every", None) is not None:
        overrides["matte_every"] = args.matte_every
    if getattr(args, "adapt", None) is False:
        overrides["adapt"] = False
    return overrides


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

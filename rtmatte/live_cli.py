"""Command-line flags and dispatch for the live path (cameras, --realtime, --vcam, --preview)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rtmatte.argtypes import frame_size
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
    group.add_argument("--no-adapt", dest="adapt", action="store_false",
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
    from rtmatte.cli import say, write_stats

    notify: Callable[[str], None] | None = None if args.quiet else say
    runner, outputs = build_runner(args, settings, notify)
    with _stop_on_sigterm(runner):
        result = runner.run()
    if notify:
        latency = result.latency_ms()
        notify(f"{result.frames_out} frames out of {result.frames_in} ({result.fps:.1f} fps, "
               f"{result.frames_dropped} dropped), latency p50 {latency['p50']:.0f} ms, p95 "
               f"{latency['p95']:.0f} ms, {result.backend} at ratio {result.downsample_ratio}")
        for output in outputs:
            written = getattr(output, "written", None)
            if written is not None:
                notify(f"wrote {written}")
    if args.stats:
        write_stats(args.stats, [result])
    return 0


def build_runner(args: argparse.Namespace, settings: Any,
                 notify: Callable[[str], None] | None) -> tuple[Any, list[Any]]:
    """Open everything in the order that fails fastest: flags, window, source, virtual camera,
    recording, and the model last (it is the slow part)."""
    from rtmatte.compose.backgrounds import TRANSPARENT
    from rtmatte.errors import SettingsError
    from rtmatte.live import Backgrounds, BackgroundWatch, LiveRunner, RecordingOutput

    specs = background_specs(settings.bg)
    transparent = any(spec.strip().lower() == TRANSPARENT for spec in specs)
    if transparent and (args.vcam or args.preview or len(specs) > 1):
        raise SettingsError("--bg transparent only works with -o FILE alone in a live run; for a "
                            "virtual camera use a colour such as --bg '#00b140' and key it out")
    if args.matte_every is not None and args.matte_every < 1:
        raise SettingsError("--matte-every must be 1 or more")
    camera = parse_camera(args.input) is not None
    if camera and not (args.vcam or args.preview or args.output):
        raise SettingsError(f"{args.input}: say where the picture goes: --vcam, --preview or "
                            "-o FILE")
    preview = None
    if args.preview:
        from rtmatte.io.preview import PreviewWindow

        preview = PreviewWindow()
    backgrounds = Backgrounds(specs, settings.post)
    reader = _open_reader(args, notify)
    outputs: list[Any] = []
    try:
        if notify:
            notify(reader.description)
            if not (args.vcam or args.preview or args.output):
                notify("no -o, --vcam or --preview: playing through the live path to measure it")
        fps = args.fps or reader.fps
        if args.vcam:
            from rtmatte.io.vcam import VirtualCameraSink

            vcam = VirtualCameraSink(reader.size[0], reader.size[1], fps,
                                     device=args.vcam_device, backend=args.vcam_backend,
                                     on_demand=args.on_demand)
            outputs.append(vcam)
            if notify:
                notify(f"virtual camera {vcam.device} ({vcam.backend}), {reader.size[0]}x"
                       f"{reader.size[1]} at {fps:g} fps")
                if args.on_demand and not vcam.on_demand:
                    notify("--on-demand needs a v4l2loopback device node (Linux); matting always")
        if args.output:
            outputs.append(RecordingOutput(args.output, reader.time_base, fps,
                                           overwrite=settings.overwrite, crf=settings.crf,
                                           transparent=transparent))
        matter = _open_live_matter(args, settings, 1.0 / reader.fps, notify)
    except BaseException:
        for output in outputs:
            output.close()  # a recording with no frames yet leaves no file
        reader.close()
        raise
    watch = BackgroundWatch(args.bg_watch) if args.bg_watch else None
    runner = LiveRunner(reader, matter, backgrounds, outputs, preview=preview, watch=watch,
                        notify=notify, input_name=args.input,
                        output_name=str(args.output or ("vcam" if args.vcam else "")))
    return runner, outputs


def _open_reader(args: argparse.Namespace, notify: Callable[[str], None] | None) -> Any:
    if parse_camera(args.input) is not None:
        from rtmatte.io.camera import CameraReader

        return CameraReader(args.input, size=args.size, fps=args.fps, notify=notify)
    from rtmatte.io.realtime import RealtimeFileReader

    return RealtimeFileReader(Path(args.input), notify=notify)


def live_cpu_threads() -> int:
    """ONNX Runtime threads for a live run: every core but one, which capture, compositing and
    output need. On the shared 2-core CI machine (load about 4, 640x480 at 30 fps) the model on
    both cores fought those stages: 23 fps out, against 29 with one thread (p95 latency 106 ->
    35 ms); on the idle machine both delivered 29.6 fps."""
    return max(1, (os.cpu_count() or 2) - 1)


def _open_live_matter(args: argparse.Namespace, settings: Any, budget_s: float,
                      notify: Callable[[str], None] | None) -> Any:
    from rtmatte.api import model_path
    from rtmatte.live_matter import LiveMatter
    from rtmatte.matting.backend import create_backend
    from rtmatte.matting.matter import Matter
    from rtmatte.post import build_post

    path = model_path(settings, notify)
    if args.int8:
        from rtmatte.matting.quantize import ensure_quantized

        path = ensure_quantized(path, notify=notify)
    backend = create_backend(path, settings.backend, settings.device,
                             cpu_threads=live_cpu_threads(), precision=settings.precision)
    matter = Matter(backend, downsample_ratio=settings.downsample_ratio)
    return LiveMatter(matter, build_post(settings.post), budget_s, adapt=args.adapt,
                      every=args.matte_every)


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

"""Command line: parse, call the API, turn errors into one message and an exit code.

Exit codes: 0 done; 2 bad input, settings or environment (the message says what to change);
1 an unexpected failure (a bug: rerun with --debug for the traceback); 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rtmatte import __version__
from rtmatte.errors import RtmatteError, StreamError, UserError
from rtmatte.live_cli import add_live_arguments, is_live_run, live_overrides, run_live
from rtmatte.matting.backends import BACKENDS, DEVICES, PRECISIONS
from rtmatte.post.cli_args import add_post_arguments, post_overrides

SUBCOMMANDS = ("models", "demo", "bench", "doctor")


def say(message: str) -> None:
    print(f"rtmatte: {message}", file=sys.stderr)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model", help="catalogue id (see `rtmatte models list`) or an ONNX file")
    group.add_argument("--backend", choices=BACKENDS,
                       help="inference backend (default: auto, the fastest present)")
    group.add_argument("--device", choices=DEVICES, help="default: auto")
    group.add_argument("--precision", choices=PRECISIONS,
                       help="of the torch and tensorrt backends (default: auto, fp16 on a GPU)")
    group.add_argument("--downsample-ratio", metavar="auto|R",
                       help="scale at which the network sees the frame (default: auto, long "
                            "side about 480 px)")


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", help="settings preset from configs/ (default: balanced)")
    parser.add_argument("--config", type=Path, help="a TOML file of settings")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or notes")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rtmatte",
        description="Replace the background of videos, pictures and webcams, on this machine.",
        epilog="more: rtmatte models {list,fetch} · rtmatte demo · rtmatte bench · rtmatte doctor",
    )
    parser.add_argument("input", help="a video, an image, a folder of them, or a camera "
                        "(camera, camera:N, /dev/videoN)")
    parser.add_argument("-o", "--output", type=Path,
                        help="output file (or folder for a folder input); default NAME.rtmatte.EXT")
    parser.add_argument("--bg", help="background: an image, a video (looped), a colour "
                        "(#00b140, green, …), 'blur', 'blur:STRENGTH' or 'transparent'")
    parser.add_argument("--alpha-output", metavar="PATTERN",
                        help="also write the matte as PNGs, e.g. alpha/%%05d.png")
    parser.add_argument("--crf", type=int, help="video quality, 0 (lossless) to 51; default 18")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument("--stats", type=Path, metavar="FILE.json",
                        help="write run figures (frames, fps, per-stage timings) as JSON")
    add_model_arguments(parser)
    add_post_arguments(parser)
    add_live_arguments(parser)
    add_common_arguments(parser)
    parser.add_argument("--version", action="version", version=f"rtmatte {__version__}")
    return parser


def settings_from_args(args: argparse.Namespace) -> Any:
    from rtmatte.settings import load_settings

    overrides: dict[str, Any] = {}
    for name in ("bg", "crf", "backend", "device", "precision", "alpha_output"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    if getattr(args, "overwrite", False):
        overrides["overwrite"] = True
    if args.downsample_ratio is not None:
        overrides["downsample_ratio"] = args.downsample_ratio
    if args.model:
        if args.model.lower().endswith(".onnx") or Path(args.model).is_file():
            overrides["model_path"] = args.model
        else:
            overrides["model"] = args.model
    post = post_overrides(args)
    if post:
        overrides["post"] = post
    live = live_overrides(args)
    if live:
        overrides["live"] = live
    return load_settings(args.preset, args.config, overrides)


def run_main_job(args: argparse.Namespace) -> int:
    from rtmatte import api

    settings = settings_from_args(args)
    if args.stats and not args.stats.resolve().parent.is_dir():
        raise UserError(f"cannot write --stats {args.stats}: its folder does not exist")
    if is_live_run(args):
        return run_live(args, settings)
    notify = None if args.quiet else say
    folder = Path(args.input).is_dir()
    try:
        results = api.process(args.input, args.output, settings=settings, notify=notify,
                              progress=None if not args.quiet else False)
    except api.BatchError as exc:
        if args.stats:
            write_stats(args.stats, exc.results, exc.failures, batch=True)
        raise
    if args.stats:
        write_stats(args.stats, results, batch=folder)
    return 0


def write_stats(path: Path, results: Sequence[Any], failures: Sequence[Any] = (),
                batch: bool = False) -> None:
    """One file's result as a JSON object; a folder's as {"files": [...], "failed": [...],
    totals}. Written whole or not at all (a full disk leaves no empty file)."""
    from rtmatte.io.atomic import write_bytes

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


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``docker stop``, systemd) arrived: unwind exactly as Ctrl-C does."""


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if on_main_thread else None
    try:
        if argv and argv[0] in SUBCOMMANDS:
            from rtmatte import commands

            return commands.run(argv[0], argv[1:])
        args = build_parser().parse_args(argv)
        return run_main_job(args)
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


if __name__ == "__main__":
    sys.exit(main())

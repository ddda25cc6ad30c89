"""``rtmatte bench``: its flags (the model and post flags from the one table in flags.py) and the
printed figures; the measuring lives with the benchmarks (rtmatte/bench/pipeline.py)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rtmatte.argtypes import frame_size
from rtmatte.bench import livecropreport, pipeline
from rtmatte.bench.livecrop import INTERNAL, CropBench
from rtmatte.cli.flags import (
    add_debug_argument,
    add_model_arguments,
    add_post_switch,
    overrides,
)
from rtmatte.settings import load_settings

#: the model-alone and rtmatte-pipeline figures run ONNX Runtime on the CPU unless told
#: otherwise: they then compare with the naive loop (RVM's documented CPU loop) on one engine
DEFAULT_BACKEND = "onnx"


#: what the four figures are, in words a reader can follow without the benchmark's source
DESCRIPTION = f"""\
Measure where the time goes, side by side in one run on the same generated clip:
  decode+encode   PyAV reading and writing the video alone (the fastest any pipeline can go)
  model alone     the matting model on frames already in memory
  naive loop      one thread: decode, model, composite, encode (RVM's documented CPU loop)
  rtmatte         rtmatte's threaded pipeline, the one `rtmatte VIDEO` runs
  live crop       the live path's model on a webcam-framed clip of its own with exact alpha,
                  with the person crop and on the whole frame at the same working pixels
                  ({INTERNAL} px on the long side, whatever --downsample-ratio says): its cost (ms
                  per frame, scout runs included) and its benefit (MAD, dtSSD)
Compare the ratios printed, not fps across runs: machines are noisy. The model-alone and
rtmatte figures use --backend (ONNX Runtime on the CPU unless told); the naive loop always
runs on the CPU."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rtmatte bench", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=frame_size, default=(1280, 720), metavar="WxH",
                        help="clip size (default 1280x720)")
    parser.add_argument("--frames", type=int, default=48,
                        help="frames in the generated clip (default 48)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="times each figure is taken, interleaved; the median is shown")
    add_model_arguments(parser, said_defaults={
        "backend": f"{DEFAULT_BACKEND}; for the model-alone and pipeline figures",
        "device": "cpu for the onnx backend, auto for the others"})
    add_post_switch(parser)
    parser.add_argument("--skip-live-crop", action="store_true",
                        help=f"leave out the live crop part (the model at {INTERNAL} px, every "
                             "frame, crop against whole frame; about a fifth of the bench's "
                             "time at 1280x720)")
    parser.add_argument("--json", type=Path, metavar="FILE.json",
                        help="also write the figures to this file")
    add_debug_argument(parser)
    return parser


def run(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.backend is None:
        args.backend = DEFAULT_BACKEND
    if args.device is None:
        args.device = "cpu" if args.backend == "onnx" else "auto"
    crop = None if args.skip_live_crop else CropBench(
        load_settings(overrides=overrides(args)), args.size, args.frames)
    beside = [crop.round] if crop is not None and crop.off is None else []
    report = pipeline.run_bench(args.size, args.frames, overrides(args), rounds=args.rounds,
                                beside=beside)
    print_report(report)
    report["live_crop"] = None
    if crop is not None:
        figures = crop.result()
        report["live_crop"] = figures.as_dict()
        print("\n".join(livecropreport.lines(figures)))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def print_report(report: dict[str, Any]) -> None:
    print(f"clip {report['size']}, {report['frames']} frames, ratio {report['downsample_ratio']}, "
          f"{report['backend']}, median of {report['rounds']} interleaved rounds")
    if report["cpu_engine_choice"]:
        print(f"  --backend auto chose {report['cpu_engine_choice']}")
    for name, label in [("transcode", "(a) PyAV decode+encode"), ("model", "(b) model alone"),
                        ("naive", "(c) naive loop"), ("rtmatte", "(d) rtmatte pipeline")]:
        print(f"  {label:26} {report['fps'][name]:7.2f} fps")
    print(f"  rtmatte / naive  = {report['ratios']['rtmatte_vs_naive']:.2f}x  (target >= 1.3)")
    print(f"  rtmatte / model  = {report['ratios']['rtmatte_vs_model']:.2f}x  (target >= 0.85)")
    print(f"  rtmatte / decode+encode = {report['ratios']['rtmatte_vs_transcode']:.2f}x  "
          "(1.0: limited by video decode/encode, not by the model)")
    print("  rtmatte stages (ms/frame): " + ", ".join(
        f"{k} {v:.1f}" for k, v in report["rtmatte_stages_ms"].items()))
    profile = report["model_profile"]
    print(f"  model time at full resolution (refiner, upsampling): "
          f"{100 * profile['full_resolution_share']:.0f}%, low-resolution network: "
          f"{100 * profile['low_resolution_share']:.0f}%")

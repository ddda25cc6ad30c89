"""CPU inference engines side by side: ONNX Runtime float32, OpenVINO in its default precision for
this CPU (bfloat16 where the CPU has it) and in float32; speed and matte difference.

    python tools/engine_bench.py                              # 3 sizes, 2 and 1 threads
    python tools/engine_bench.py --threads 2 --cases 640x480@0.5 --rounds 8

Per case: the median of ``rounds`` interleaved rounds (2 frames each, state carried) after the
first ``--check-frames`` frames of a clip, whose mattes are compared with ONNX Runtime float32's;
``vs ORT`` is ONNX Runtime's median over the row's; ``|Δα| mean`` the mean absolute alpha
difference over those frames, ``worst fr.`` that of the frame that differs most.
"""

from __future__ import annotations

import argparse
import sys

from rtmatte.bench import engines
from rtmatte.bench.modelbench import environment
from rtmatte.matting.backends.calibrate import cpu_identity, package_version
from rtmatte.matting.models.fetch import ensure_model


def _case(text: str) -> tuple[int, int, float]:
    try:
        size, ratio = text.split("@")
        width, height = (int(part) for part in size.lower().split("x"))
        return width, height, float(ratio)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: write WxH@RATIO, e.g. 640x480@0.5") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=_case, nargs="+",
                        default=list(engines.DEFAULT_CASES), metavar="WxH@RATIO")
    parser.add_argument("--threads", type=int, nargs="+", default=list(engines.DEFAULT_THREADS))
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--check-frames", type=int, default=12)
    args = parser.parse_args(argv)
    model = ensure_model("rvm-mobilenetv3")
    env = environment()
    flags = [flag for flag in cpu_identity()["flags"] if "512" in flag or "amx" in flag
             or "vnni" in flag]
    print(f"# CPU: {env['cpu']}, {env['logical_cpus']} logical cores; engine flags: "
          f"{' '.join(flags) or 'no AVX-512/AMX/VNNI'}")
    print(f"# Python {env['python']}; onnxruntime {env['onnxruntime']}; openvino "
          f"{package_version('openvino')}")
    print(f"# load average at the start: {engines.load_average()}")
    print(engines.header())
    chosen = engines.engines()
    engines.run(model, chosen, args.cases, args.threads, args.rounds, args.check_frames,
                report=lambda row: print(engines.format_row(row), flush=True))
    print(f"# load average at the end: {engines.load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""CPU inference engines side by side: speed and matte difference from ONNX Runtime float32.

Each engine runs rtmatte's backend as a user's run would (frame in, matte out, the recurrent
state carried), on frames of the sample portrait, through the calibration's own measurement
(:func:`rtmatte.matting.backends.calibrate.measure`): its mattes are compared with ONNX Runtime
float32's on the same frames, then all engines are timed in interleaved rounds and the median
kept, so load from elsewhere on a shared machine falls on every engine alike. The ratios in one
run are the figures to compare; absolute milliseconds move with the machine's load.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from rtmatte.matting.backends import REGISTRY, Backend, Request
from rtmatte.matting.backends.calibrate import REFERENCE, Contender, Result, measure

DEFAULT_CASES = ((640, 480, 0.5), (960, 540, 0.5), (1280, 720, 0.375))
DEFAULT_THREADS = (2, 1)


@dataclass(frozen=True)
class Engine:
    """One row per case: a backend in one precision."""

    label: str
    backend: str
    precision: str

    def build(self, model_path: Path, threads: int) -> Backend:
        return REGISTRY[self.backend].create(Request(model_path, "cpu", self.precision, threads))


def engines() -> list[Engine]:
    """ONNX Runtime float32 first (the reference), then every other backend present on the CPU
    in each precision it has there (OpenVINO: its default for this CPU, and float32)."""
    found = [Engine(REFERENCE, REFERENCE, "fp32")]
    for entry in sorted(REGISTRY.values(), key=lambda entry: entry.auto_rank):
        if entry.name == REFERENCE or not entry.cpu_calibrated or not entry.present("cpu"):
            continue
        found += [Engine(f"{entry.name}/{precision}", entry.name, precision)
                  for precision in entry.cpu_precisions]
    return found


@dataclass(frozen=True)
class Row:
    threads: int
    case: tuple[int, int, float]
    result: Result
    #: the reference's median over this one's: above 1 is faster than ONNX Runtime float32
    speedup: float | None


def run(model_path: Path, chosen: Sequence[Engine], cases: Sequence[tuple[int, int, float]],
        threads: Sequence[int], rounds: int, check_frames: int = 12,
        report: Callable[[Row], None] | None = None) -> list[Row]:
    """``check_frames``: the first frames of a clip whose mattes are compared (more than the
    calibration's 6: a recurrent model's first frames differ most, the state then settles)."""
    rows = []
    for count in threads:
        contenders = [Contender(engine.label, partial(engine.build, model_path, count))
                      for engine in chosen]
        for case in cases:
            results, _ = measure(contenders, case, rounds, check_frames)
            reference = next(result for result in results if result.name == REFERENCE)
            for result in results:
                speedup = (reference.median_ms / result.median_ms
                           if result.median_ms and reference.median_ms else None)
                rows.append(Row(count, case, result, speedup))
                if report:
                    report(rows[-1])
    return rows


def format_row(row: Row) -> str:
    width, height, ratio = row.case
    result = row.result
    if result.failed:
        figures = f"failed: {result.failed}"
    else:
        figures = (f"{result.median_ms:8.1f} ms  {row.speedup:5.2f}x  "
                   f"{result.alpha_mean:9.1e}  {result.alpha_error:9.1e}")
    return (f"{row.threads:>7}  {f'{width}x{height}':>9}  {ratio:>5g}  {result.name:<16}  "
            f"{result.engine:<32}  {figures}")


def header() -> str:
    return (f"{'threads':>7}  {'size':>9}  {'ratio':>5}  {'engine':<16}  {'backend name':<32}  "
            f"{'median':>11}  {'vs ORT':>6}  {'|Δα| mean':>9}  {'worst fr.':>9}")


def load_average() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"

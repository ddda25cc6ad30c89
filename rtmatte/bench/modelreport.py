"""The model bench's figures as a person reads them: the header that says which machine and which
anchor, one table row per variant and size, and the caveats to read before trusting the table.
Measuring is :mod:`rtmatte.bench.modelbench`; this module only turns its rows into text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rtmatte.bench.modelbench import ANCHOR_FPS, GPU_MIN_FRAMES, TARGET_FACTOR, Row


def notes(rows: Sequence[Row]) -> list[str]:
    """The caveats a reader needs before trusting the table."""
    measured = [row for row in rows if row.case is not None]
    said = []
    if not any(row.on_gpu for row in measured):
        said.append(f"no CUDA GPU here: CPU figures only. On a GPU the figures are CUDA events "
                    f"after warm-up, median of >= {GPU_MIN_FRAMES} frames.")
    short = sorted({row.frames for row in measured if row.on_gpu and row.frames < GPU_MIN_FRAMES})
    if short:
        said.append(f"GPU rows use {', '.join(map(str, short))} frames, fewer than the "
                    f"{GPU_MIN_FRAMES} a steady median needs.")
    whole_only = sorted({row.variant.split("/")[0] for row in measured if row.model is None})
    if whole_only:
        said.append(f"{', '.join(whole_only)} rows: whole infer() only; the backend compiles its "
                    "model per frame size, so no bare-model figure or anchor ratio is taken.")
    if any(row.clock == "wall+sync" for row in measured):
        said.append("wall+sync: ONNX Runtime runs on its own CUDA stream, so its model time is "
                    "the host clock around a run on device-bound inputs and outputs, synchronised.")
    return said


def format_header(env: dict[str, Any]) -> str:
    gpu = "; ".join(env["gpu"]) if env["gpu"] else "none found"
    torch = (f"torch {env['torch']} (CUDA {env['cuda'] or 'none'}, cuDNN {env['cudnn'] or 'none'})"
             if env["torch"] else "torch not installed")
    return "\n".join([
        f"# GPU (name, driver): {gpu}",
        f"# CPU: {env['cpu']}, {env['logical_cpus']} logical cores; Python {env['python']}",
        f"# {torch}; onnxruntime {env['onnxruntime']} ({', '.join(env['onnxruntime_providers'])})"
        f"; TensorRT {env['tensorrt'] or 'not installed'}",
        f"# anchor: RVM MobileNetV3 on an RTX 3090 in FP16, {ANCHOR_FPS[1920, 1080]:g} fps at "
        f"1920x1080, {ANCHOR_FPS[3840, 2160]:g} fps at 3840x2160; target on a data-centre GPU: "
        f">= {TARGET_FACTOR:g}x",
    ])


_COLUMNS = (("variant", 18), ("size", 10), ("ratio", 6), ("frames", 6), ("clock", 11),
            ("model ms (p10-p90)", 24), ("model fps", 9), ("x anchor", 8), ("3x", 4),
            ("infer() ms", 10), ("infer() fps", 11))


def format_row(row: Row) -> str:
    if row.case is None:
        why = f"skipped: {row.skipped}" if row.skipped else f"failed: {row.failed}"
        return f"{row.variant:<{_COLUMNS[0][1]}}  {why}"
    model, infer, vs = row.model, row.infer, row.vs_anchor
    target = "-" if vs is None or not row.on_gpu else ("yes" if vs >= TARGET_FACTOR else "no")
    cells = [row.variant, row.case.label, f"{row.case.ratio:g}", str(row.frames), row.clock,
             "-" if model is None else
             f"{model.median_ms:.2f} ({model.p10_ms:.2f}-{model.p90_ms:.2f})",
             "-" if model is None else f"{model.fps:.2f}", "-" if vs is None else f"{vs:.3g}x",
             target,
             "-" if infer is None else f"{infer.median_ms:.2f}",
             "-" if infer is None else f"{infer.fps:.2f}"]
    return _line(cells)


def format_columns() -> str:
    return _line([title for title, _ in _COLUMNS])


def _line(cells: Sequence[str]) -> str:
    return "  ".join(f"{c:<{w}}" for c, (_, w) in zip(cells, _COLUMNS, strict=True)).rstrip()

"""The inference backend for live runs: ONNX Runtime on the CPU with one core left free.

On a 2-core machine the default session (one intra-op thread per core, spin-waiting between
operators) competes with capture, compositing and output for both cores, and loses badly when
other programs run too. Measured on the shared 2-core CI machine, 640x480 at 30 fps with the
adaptive size: at load about 4, 23 fps out with the default session and 29 with one thread and
no spinning (p95 latency 106 -> 35 ms); on the idle machine both delivered 29.6 fps, the default
session with a slightly larger working size. Steady output under contention wins.
"""

from __future__ import annotations

import os
from pathlib import Path

import onnxruntime as ort

from rtmatte.matting.backend import Backend, create_backend
from rtmatte.matting.onnx_backend import OnnxBackend

_CPU = "CPUExecutionProvider"


def live_threads() -> int:
    """Intra-op threads for a live session: every core but one, which the other stages need."""
    return max(1, (os.cpu_count() or 2) - 1)


def create_live_backend(model_path: Path, backend: str = "auto", device: str = "auto") -> Backend:
    """:func:`create_backend`, with a CPU ONNX Runtime session rebuilt for live use.

    OnnxBackend takes no session options, so its session is replaced here after its own
    checks passed; GPU providers are left as they are.
    """
    chosen = create_backend(model_path, backend, device)
    if isinstance(chosen, OnnxBackend) and chosen.name.endswith(_CPU):
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = live_threads()
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        chosen._session = ort.InferenceSession(str(model_path), options, providers=[_CPU])
    return chosen

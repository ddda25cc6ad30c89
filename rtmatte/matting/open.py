"""Where the model comes from: the verified model file the settings name, and the threads a live
run gives it. The engine (:mod:`rtmatte.run.engine`) builds the Matter from these."""

from __future__ import annotations

import os
from pathlib import Path

from rtmatte.errors import UserError
from rtmatte.matting.models.fetch import ensure_model
from rtmatte.settings import Settings
from rtmatte.types import Notify


def model_path(settings: Settings, notify: Notify | None = None) -> Path:
    """The verified model file the settings name: ``model_path`` as given, else the catalogue's."""
    if settings.model_path is not None:
        path = Path(settings.model_path)
        if not path.is_file():
            raise UserError(f"--model {path}: no such file")
        return path
    return ensure_model(settings.model, notify=notify)


def live_cpu_threads() -> int:
    """ONNX Runtime threads for a live run: every core but one, which capture, compositing and
    output need (measured: docs/benchmarks.md, "Live path")."""
    return max(1, (os.cpu_count() or 2) - 1)
